"""Training rounds that pay: every round's updates are checked, valued, aggregated and recorded on chain.

The Flower strategy hands each round's signed, admitted member updates to ``RoundRecorder``; it values them on
the coordinator's validation split and aggregates with the aggregator that was valued (so what is paid for is
what is deployed). Once the round's model is released (with differential privacy: after the noise), ``record``
saves it and records the round (model hash, method, parameters, seed, scores, flags, rejected updates and
each member's privacy budget) and mints the round's shares. A model artifact is written before its round is
recorded, so every hash on chain has its file on disk.

Who decides the scores: without ``[[validators]]`` the coordinator is the single scorer (its credited values are
the scores). With validators, the coordinator hands each round's updates to them (``validators``), opens a ballot
on the ScoreCommittee with the round's context, every validator commits then reveals its own vector, and the
round's scores are their weighted medians; the coordinator only proposes those medians, which anyone can
recompute on chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from flwr.serverapp import Grid

from fairshare.config import check_runtime
from fairshare.consortium.payouts import record_epoch
from fairshare.consortium.session import Run
from fairshare.consortium.setup import model_spec
from fairshare.consortium.validators import (
    RoundHandoff,
    handoff_path,
    load_validators,
    read_handoff,
    score_vector,
    write_handoff,
)
from fairshare.consortium.view import RoundReport, View
from fairshare.errors import LearningError
from fairshare.learning.data import load_partition
from fairshare.learning.factory import build_model
from fairshare.learning.model import Model, Params, params_hash
from fairshare.learning.privacy import PrivacyBudget, PrivacySettings, member_noise_multipliers
from fairshare.learning.runner import FederationSpec, MemberSpec, rounds_of, run_federation
from fairshare.learning.serverapp import RoundResult
from fairshare.learning.simulation import run_on_simulation_engine
from fairshare.learning.strategy import RoundUpdates, UpdateIdentity
from fairshare.ledger.committee import CommitteeClient, RoundContext
from fairshare.valuation import (
    RoundValuation,
    Settlement,
    ValuationConfig,
    ValuationPolicy,
    effective_sizes,
    value_round,
)
from fairshare.valuation.median import committee_medians, outliers
from fairshare.valuation.replication import opaque_keys

__all__ = ["SCORE_SCALE", "RoundRecorder", "load_model", "save_model", "train_run"]

SCORE_SCALE = 10**9
"""On-chain scores are the valuation values (utility units) times this, as signed integers."""


def save_model(path: Path, params: Params) -> None:
    """The parameters as ``p0, p1, ...`` in order, whatever the model (dtype and shape kept: the hash holds)."""
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **{f"p{k}": p for k, p in enumerate(params)})
    tmp.replace(path)


def load_model(path: Path) -> Params:
    """Reads ``p0, p1, ...`` (and ``W, b``, the logistic regression's artifacts before models were pluggable)."""
    with np.load(path, allow_pickle=False) as data:
        if "W" in data.files:
            return [data["W"], data["b"]]
        return [data[f"p{k}"] for k in range(len(data.files))]


def model_for(run: Run) -> Model:
    """The consortium's model (``[model]``), sized by the coordinator's validation data."""
    validation = load_partition(run.paths.coordinator_dir / "validation.npz")
    return build_model(model_spec(run.config, validation.X.shape[1], validation.n_classes))


def privacy_settings(run: Run) -> PrivacySettings | None:
    settings = run.config.privacy
    if settings.clipping == "off":
        return None
    return PrivacySettings(settings.clipping, settings.noise_multiplier, settings.clipping_norm, settings.delta)


def update_identity(run: Run) -> UpdateIdentity:
    """Updates are signed for this consortium (chain id + TrainingLog address) by each member's account."""
    return UpdateIdentity(
        domain=f"{run.deployment.chain_id}:{run.deployment.training_log.lower()}",
        accounts={m.name: m.address for m in run.record.members},
    )


@dataclass
class _Valued:
    valuation: RoundValuation
    credited: dict[str, float]
    vested: tuple[str, ...]
    sizes: dict[str, float]
    rejected: dict[str, str]
    recorder: str
    """Who records the round: "roots" (EntitlementRoots), "committee" (the validators) or "single scorer"."""
    handoff: Path | None = None


class RoundRecorder:
    """The round hook (value and aggregate) and, once the round's model is released, its record on chain."""

    def __init__(self, run: Run, model: Model, progress: Callable[[str, int, int], None] | None = None) -> None:
        self.run = run
        self.progress = progress
        self.model = model
        self.validation = load_partition(run.paths.coordinator_dir / "validation.npz")
        settings = run.config.valuation
        policy = run.governance.policy() if run.deployment.governor else None
        rules = ValuationPolicy(settings.drop_flagged, settings.noise_rule)
        if policy is not None and policy.valuation_params:
            rules = ValuationPolicy.from_text(policy.valuation_params)
        self.config = ValuationConfig(
            method=policy.valuation_method if policy else settings.method,
            utility=settings.utility,
            seed=settings.seed,
            drop_flagged=rules.drop_flagged,
            noise_rule=rules.noise_rule,
            aggregator=settings.aggregator,
        )
        self.privacy = privacy_settings(run)
        self.budget = PrivacyBudget(self.privacy.delta if self.privacy else 1e-5)
        self.addresses = {m.name: m.address for m in run.record.members}
        self.fingerprints = {
            name: np.load(run.paths.data_dir / f"{name}.fingerprints.npy", allow_pickle=False)
            for name in self.addresses
        }
        self.valued: dict[int, _Valued] = {}
        self.validators = load_validators(run) if run.record.validators else []
        self.committee = (
            CommitteeClient(run.chain, run.deployment, run.ledger.index) if run.deployment.committee else None
        )
        if self.committee is not None and not run.record.validators:
            raise LearningError("this run's contracts take scores from validators, but run.json lists none")
        self.remote = [v.address for v in run.record.validators if v.remote]
        self.past: dict[str, float] = {}
        self.settlement = Settlement()
        by_address = {a.lower(): n for n, a in self.addresses.items()}
        for record in sorted(run.ledger.rounds(), key=lambda r: r.round_id):
            recorded = self._full_record(record.round_id) if record.epoch else json.loads(record.params)
            values = {name: float(value) for name, value in recorded.get("values", {}).items()}
            for name, value in values.items():
                self.past[name] = self.past.get(name, 0.0) + value
            credited = {
                by_address[a.lower()]: s / SCORE_SCALE for a, s in zip(record.members, record.scores, strict=True)
            }
            self.settlement.restore(values, recorded.get("flags", {}), credited)
            self.budget.compose(recorded.get("privacy", {}).get("noise_multipliers", {}))

    def _record_file(self, round_id: int) -> Path:
        return self.run.paths.model_file(round_id).with_suffix(".record.json")

    def _full_record(self, round_id: int) -> dict[str, object]:
        """A round recorded by roots keeps its full record (values of every member) beside its model; the chain
        holds its SHA-256."""
        path = self._record_file(round_id)
        return json.loads(path.read_text()) if path.exists() else {}

    def __call__(self, updates: RoundUpdates) -> Params:
        if self.progress is not None:
            self.progress("valuation", 0, len(updates.updates))
        member_params = {u.member: u.params for u in updates.updates}
        num_examples = {u.member: u.num_examples for u in updates.updates}
        unknown = sorted(set(member_params) - set(self.addresses))
        if unknown:
            raise LearningError(f"round {updates.round}: updates from unknown members {unknown}")
        sizes = effective_sizes({m: self.fingerprints[m] for m in member_params}, num_examples)

        def sizes_of(members: Collection[str]) -> dict[str, float]:
            return effective_sizes({m: self.fingerprints[m] for m in members}, num_examples)

        valuation, new_params = value_round(
            self.model,
            updates.round,
            updates.global_params,
            member_params,
            num_examples,
            self.validation.X,
            self.validation.y,
            self.config,
            effective_sizes=sizes_of,
            past_values=self.past,
        )
        for member, value in valuation.values.items():
            self.past[member] = self.past.get(member, 0.0) + value
        settled = self.settlement.settle(valuation.values, valuation.flags)
        rejected = dict(failure.split(": ", 1) for failure in updates.failures)
        recorder = self._recorder()
        handoff = None
        if recorder == "committee":
            handoff = handoff_path(self.run.paths.root / "rounds", updates.round)
            write_handoff(
                handoff,
                RoundHandoff(
                    updates.round,
                    updates.global_params,
                    member_params,
                    num_examples,
                    opaque_keys({m: self.fingerprints[m] for m in sorted(member_params)}),
                    self.config,
                    {m: self.addresses[m] for m in member_params},
                    self.model.spec,
                    self._paid(updates.round),
                ),
            )
        self.valued[updates.round] = _Valued(
            valuation, settled.credited, settled.vested, sizes, rejected, recorder, handoff
        )
        if self.progress is not None:
            self.progress("valuation", len(updates.updates), len(updates.updates))
        return new_params

    def _recorder(self) -> str:
        """Decided once per round: payouts by roots (governance's choice) override the committee."""
        if self.run.roots_mode():
            return "roots"
        return "committee" if self.committee is not None else "single scorer"

    def _paid(self, round_id: int) -> dict[str, int]:
        """Each member's scores recorded on chain before ``round_id``, summed (what the validators deduct)."""
        by_address = {a.lower(): n for n, a in self.addresses.items()}
        paid = dict.fromkeys(self.addresses, 0)
        for record in self.run.ledger.rounds():
            if record.round_id < round_id:
                for address, score in zip(record.members, record.scores, strict=True):
                    paid[by_address[address.lower()]] += max(int(score), 0)
        return paid

    def record(self, result: RoundResult) -> RoundReport:
        """Save and record the model this round released, with what was measured and paid for it."""
        valued = self.valued.pop(result.round)
        valuation = valued.valuation
        privacy: dict[str, object] = {}
        epsilon: dict[str, float] = {}
        if self.privacy is not None:
            multipliers = member_noise_multipliers(self.privacy, valuation.weights, len(self.addresses))
            self.budget.compose(multipliers)
            epsilon = self.budget.epsilons()
            privacy = {
                "clipping": self.privacy.clipping,
                "noise_multiplier": self.privacy.noise_multiplier,
                "clipping_norm": self.privacy.clipping_norm,
                "delta": self.privacy.delta,
                "noise_multipliers": multipliers,
                "epsilon": epsilon,
            }
        digest = params_hash(result.params)
        save_model(self.run.paths.model_file(result.round), result.params)
        members = sorted(valuation.values)
        scorer = "committee" if valued.recorder == "committee" else "single scorer"
        params_text = json.dumps(
            {
                "values": valuation.values,
                "params": valuation.params,
                "utility": self.config.utility,
                "aggregator": self.config.aggregator,
                "flags": valuation.flags,
                "weights": valuation.weights,
                "effective_sizes": valued.sizes,
                "rejected": valued.rejected,
                "vested": sorted(valued.vested),
                "privacy": privacy,
                "scorer": scorer,
            },
            sort_keys=True,
            default=str,
        )
        if len(params_text.encode()) > 2048 and valued.recorder == "committee":
            raise LearningError(f"round {result.round}: the round's parameters exceed the log's 2048 bytes")
        validators: dict[str, str] = {}
        scores = [round(valued.credited[m] * SCORE_SCALE) for m in members]
        if valued.recorder == "roots":
            path = self._record_file(result.round)
            path.write_text(params_text)
            _, tx = record_epoch(
                self.run,
                round_id=result.round,
                model_hash=digest,
                method=valuation.method,
                params={
                    "record_sha256": hashlib.sha256(params_text.encode()).hexdigest(),
                    "params": valuation.params,
                    "utility": self.config.utility,
                    "aggregator": self.config.aggregator,
                },
                seed=valuation.seed,
                scores={self.addresses[m]: s for m, s in zip(members, scores, strict=True)},
                progress=self.progress,
            )
        elif valued.recorder == "single scorer":
            tx = self.run.ledger.record_round(
                self.run.chain.operator,
                round_id=result.round,
                model_hash=digest,
                method=valuation.method,
                params=params_text,
                seed=valuation.seed,
                members=[self.addresses[m] for m in members],
                scores=scores,
            )
        else:
            tx, validators = self._record_by_committee(result.round, digest, valuation, params_text, valued)
        recorded = self.run.ledger.round(result.round)
        by_address = {a: n for n, a in self.addresses.items()}
        shares = {by_address[a]: s for a, s in zip(recorded.members, recorded.shares, strict=True)}
        scores = {by_address[a]: s / SCORE_SCALE for a, s in zip(recorded.members, recorded.scores, strict=True)}
        return RoundReport(
            round=result.round,
            accuracy=result.accuracy,
            loss=result.loss,
            model_hash=digest.hex(),
            method=valuation.method,
            values=dict(valuation.values),
            shares=shares,
            flags=dict(valuation.flags),
            evaluations=valuation.evaluations,
            valuation_seconds=valuation.seconds,
            tx_hash=str(tx),
            rejected=valued.rejected,
            epsilon=epsilon,
            scorer=scorer,
            scores=scores,
            validators=validators,
        )

    def _record_by_committee(
        self, round_id: int, digest: bytes, valuation: RoundValuation, params_text: str, valued: _Valued
    ) -> tuple[str, dict[str, str]]:
        """Hand the round to every validator, run its ballot, and say how each validator took part."""
        assert self.committee is not None and valued.handoff is not None
        handoff = read_handoff(valued.handoff)  # exactly what a validator on another machine reads
        order = handoff.order()
        context = RoundContext(round_id, digest, valuation.method, params_text, valuation.seed, tuple(order))
        folder = valued.handoff.parent
        vectors = {v.address: score_vector(v, handoff, folder, SCORE_SCALE) for v in self.validators}
        accounts = {v.address: v.account for v in self.validators}
        outcome = self.committee.run_ballot(
            self.run.chain.operator,
            context,
            vectors,
            accounts,
            lambda reveals, weights: committee_medians(context.members, reveals, weights),
            remote=tuple(self.remote),
            wait_seconds=self.run.config.committee.wait_seconds,
        )
        by_address = {a.lower(): n for n, a in handoff.addresses.items()}
        far = outliers(
            outcome.reveals, outcome.medians, paid=[handoff.paid.get(by_address[a.lower()], 0) for a in order]
        )
        names = {v.address: v.name for v in self.run.record.validators}
        status = {names[v]: "revealed" for v in outcome.revealed}
        status.update({names[v]: "missing reveal" for v in outcome.missing})
        status.update({names[v]: f"outlier: {d:.2f} of the medians' L1 norm away" for v, d in far.items()})
        return self.run.ledger.round(round_id).tx_hash, status


def train_run(
    run: Run,
    view: View,
    rounds: int | None = None,
    grid: Grid | None = None,
    node_names: dict[int, str] | None = None,
    runtime: str | None = None,
) -> list[RoundReport]:
    """Train and record rounds, resuming after the last round recorded on chain.

    On the runtime the consortium file names (``runtime`` overrides it): in-process by default, or Flower's
    Simulation Engine; with ``grid`` (Flower's deployment runtime) over the members' SuperNodes, whose node ids
    ``node_names`` maps to members.

    Without ``rounds`` it trains up to the consortium file's round count (nothing if already there); with
    ``rounds`` it trains that many more. A crash mid-round loses only that round: its artifact may exist
    without a chain record, and it is simply trained and recorded again.
    """
    model = model_for(run)
    recorder = RoundRecorder(run, model, progress=view.progress)
    settings = run.config.training
    runtime = check_runtime(runtime or settings.runtime)
    done = max((r.round_id for r in run.ledger.rounds()), default=0)
    total = rounds if rounds is not None else settings.rounds - done
    if total <= 0:
        view.stage("Training", f"all {done} rounds are already recorded on chain; use --rounds N to train more")
        return []
    members = run.admitted_members()
    admitted = {m.name for m in members}
    removed = [m.name for m in run.record.members if m.name not in admitted]
    if removed:
        view.stage(
            "Members removed by governance",
            f"{', '.join(removed)}: not trained, valued or paid from round {done + 1} on (what they earned before "
            "stays theirs to withdraw or claim)",
        )
    if len(members) < 2:
        raise LearningError(
            f"only {len(members)} of this run's members {'is' if len(members) == 1 else 'are'} admitted on chain "
            "now; a federation needs at least two (governance can admit members: fairshare propose admit)"
        )
    remote = [m.name for m in members if not run.holds_key(m.name)]
    if grid is None and remote:
        raise LearningError(
            f"{', '.join(remote)} keep their account keys on their own machines, so only their own nodes can sign "
            "their updates: train over the federation (fairshare train --federation NAME, docs/federation.md)"
        )
    initial = load_model(run.paths.model_file(done)) if done else None
    behaviours = {m.name: m.behaviour for m in run.config.members}
    spec = FederationSpec(
        model=model,
        members=[
            MemberSpec(
                name=m.name,
                data_path=run.paths.data_dir / f"{m.name}.npz",
                behaviour=behaviours[m.name],
                key_path=run.keystore.path(run.key_name(m.name)) if run.holds_key(m.name) else None,
            )
            for m in members
        ],
        rounds=total,
        local_epochs=settings.local_epochs,
        learning_rate=settings.learning_rate,
        batch_size=settings.batch_size,
        seed=settings.seed,
        test=load_partition(run.paths.coordinator_dir / "test.npz"),
        initial=initial,
        first_round=done + 1,
        identity=update_identity(run),
        privacy=recorder.privacy,
        node_timeout=run.config.federation.node_timeout_seconds,
    )
    reports: list[RoundReport] = []

    def on_round(result: RoundResult) -> None:
        report = recorder.record(result)
        reports.append(report)
        view.round_finished(report)

    view.training_started(total, [m.name for m in members])
    if grid is None and runtime == "simulation":
        run_on_simulation_engine(spec, recorder, on_round=on_round, progress=view.progress)
    elif grid is None:
        run_federation(spec, recorder, on_round=on_round, progress=view.progress)
    else:
        rounds_of(spec, recorder, on_round, node_names or {})(grid)
    view.training_finished()
    return reports
