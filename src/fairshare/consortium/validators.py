"""Validators: each values a round's updates on its own validation data; their medians become the scores on chain.

The hand-off. After screening, the coordinator writes the round's updates to ``<run>/rounds/round-<r>.npz``: the
global model, each member's signed update as it was received, the reported row counts, each member's record keys
(its fingerprints with every key replaced by an index: ``replication.opaque_keys``), the model's description
(``ModelSpec``: a logistic regression or the consortium's torch network), what each member was paid so far and
the valuation policy (method, utility, aggregator, seed) as JSON. A validator reads only that file and its own
validation split, so the same file can be copied to a validator on another machine (the in-process validators
read it back from disk exactly as a remote one would). Each validator builds the model from the spec, runs the
round's method with the round's seed on its own rows, with effective sizes recomputed from the keys for exactly
the members each pass keeps (as the coordinator does), and screens with its own past values.

What it posts is its own *settled credit* (``validator_settlement``): its values vest only once its own rounds
show a member helps, a flagged member's positive value is withheld for good. The vector is what the validator
holds each member has earned in total so far less what the chain has already paid it (``paid`` in the hand-off:
the member's recorded scores, summed), so the medians pay each member the median of the validators' cumulative
credits even when validators vest it in different rounds (``score_vector``). Its measurements are kept round by
round in a small JSON log beside its data (in-process: ``<run>/validators/<name>.settlement.json``), so a resumed
run or a restarted validator node carries on where it was; a round missing from the log whose hand-off file is
still in the folder is valued first (catch-up), so the log of a validator that missed rounds, or of a run from
before the logs, is rebuilt from the hand-offs.

Demo behaviours: an "inflate" validator reports its target as earning 10x the larger of its credit and its value
this round (so it lies before the target vests too), a "deflate" one reports it as 0 (the adversaries the median is
there to stop).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount

from fairshare.consortium.session import Run
from fairshare.consortium.validator_settlement import SettlementLog
from fairshare.errors import LearningError, ValuationError
from fairshare.learning.data import Dataset, load_partition
from fairshare.learning.factory import build_model
from fairshare.learning.model import Model, ModelSpec, Params
from fairshare.valuation import RoundValuation, ValuationConfig, effective_sizes, value_round

__all__ = [
    "RoundHandoff",
    "Validator",
    "handoff_path",
    "load_validators",
    "read_handoff",
    "score_vector",
    "still_owed",
    "write_handoff",
]


def handoff_path(folder: Path, round_id: int) -> Path:
    return folder / f"round-{round_id}.npz"


@dataclass(frozen=True)
class RoundHandoff:
    """Everything a validator needs to value a round, and nothing of the coordinator's validation data."""

    round: int
    global_params: Params
    updates: dict[str, Params]
    num_examples: dict[str, int]
    record_keys: dict[str, np.ndarray]
    """Each member's opaque record keys (``(m, K, 8)`` uint8): effective sizes for any set of members."""
    config: ValuationConfig
    addresses: dict[str, str]
    """Member name -> account: the order of a score vector is the members' accounts in ascending order."""
    spec: ModelSpec
    """The consortium's model, built by the validator exactly as the coordinator and the members build it."""
    paid: dict[str, int]
    """Each member's scores recorded on chain before this round, summed (score units): what it was paid so far."""

    def order(self) -> list[str]:
        """The member accounts of this round in the ballot's order (ascending address)."""
        return sorted((self.addresses[m] for m in self.updates), key=lambda a: int(a, 16))

    def sizes(self, members: Collection[str]) -> dict[str, float]:
        """Effective sizes among ``members``, as the coordinator computes them for the same members."""
        return effective_sizes({m: self.record_keys[m] for m in members}, self.num_examples)


def write_handoff(path: Path, handoff: RoundHandoff) -> None:
    arrays: dict[str, np.ndarray] = {f"global/{k}": p for k, p in enumerate(handoff.global_params)}
    members = sorted(handoff.updates)
    for i, member in enumerate(members):
        arrays.update({f"member{i}/{k}": p for k, p in enumerate(handoff.updates[member])})
        arrays[f"keys{i}"] = handoff.record_keys[member]
    meta = {
        "round": handoff.round,
        "members": members,
        "layers": len(handoff.global_params),
        "num_examples": handoff.num_examples,
        "addresses": handoff.addresses,
        "model": handoff.spec.to_json(),
        "paid": handoff.paid,
        "policy": asdict(handoff.config),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    tmp.replace(path)


def read_handoff(path: Path) -> RoundHandoff:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            layers = int(meta["layers"])
            global_params = [data[f"global/{k}"] for k in range(layers)]
            updates = {m: [data[f"member{i}/{k}"] for k in range(layers)] for i, m in enumerate(meta["members"])}
            keys = {m: data[f"keys{i}"] for i, m in enumerate(meta["members"])}
        return RoundHandoff(
            round=int(meta["round"]),
            global_params=global_params,
            updates=updates,
            num_examples={k: int(v) for k, v in meta["num_examples"].items()},
            record_keys=keys,
            config=ValuationConfig(**meta["policy"]),
            addresses={k: str(v) for k, v in meta["addresses"].items()},
            spec=ModelSpec.from_json(meta["model"]),
            paid={k: int(v) for k, v in meta["paid"].items()},
        )
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise LearningError(
            f"{path} is not a round hand-off file (meta + global/* + member*/* + keys*): {exc}; "
            "ask the coordinator for this round's file again"
        ) from exc


@dataclass(frozen=True)
class Validator:
    name: str
    account: LocalAccount
    weight: int
    validation: Dataset
    settlement: SettlementLog
    behaviour: str = "honest"
    target: str | None = None

    @property
    def address(self) -> str:
        return self.account.address

    def model_for(self, spec: ModelSpec) -> Model:
        """The round's model, built from its spec; the validator's rows must have its feature count."""
        if self.validation.X.shape[1] != spec.n_features or self.validation.n_classes > spec.n_classes:
            raise LearningError(
                f"validator {self.name}: its rows have {self.validation.X.shape[1]} features and "
                f"{self.validation.n_classes} classes, the round's model takes {spec.n_features} and "
                f"{spec.n_classes}; validate on rows of the consortium's data"
            )
        return build_model(spec)

    def measure(self, handoff: RoundHandoff) -> RoundValuation:
        """The round valued on this validator's own rows (screened with its own past values)."""
        try:
            valuation, _ = value_round(
                self.model_for(handoff.spec),
                handoff.round,
                handoff.global_params,
                handoff.updates,
                handoff.num_examples,
                self.validation.X,
                self.validation.y,
                handoff.config,
                effective_sizes=handoff.sizes,
                past_values=self.settlement.past(handoff.round),
            )
        except ValuationError as exc:
            raise ValuationError(f"validator {self.name}: {exc}") from exc
        return valuation

    def catch_up(self, folder: Path, round_id: int) -> list[int]:
        """Value the rounds before ``round_id`` missing from the log whose hand-off is still in ``folder``."""
        missing = []
        for path in folder.glob("round-*.npz"):
            number = path.stem.removeprefix("round-")
            if number.isdigit() and int(number) < round_id and int(number) not in self.settlement.rounds:
                missing.append(int(number))
        for k in sorted(missing):
            valuation = self.measure(read_handoff(handoff_path(folder, k)))
            self.settlement.record(k, valuation.values, valuation.flags)
        return sorted(missing)

    def earned(self, handoff: RoundHandoff, folder: Path) -> dict[str, float]:
        """What this validator holds each member has earned over the rounds so far, this one included: its
        cumulative settled credit (``folder``: where hand-offs arrive, for catch-up)."""
        self.catch_up(folder, handoff.round)
        valuation = self.measure(handoff)
        earned = self.settlement.earned(handoff.round, valuation.values, valuation.flags)
        if self.target in earned:
            if self.behaviour == "inflate":
                earned[self.target] = 10 * max(earned[self.target], valuation.values[self.target], 0.0)
            elif self.behaviour == "deflate":
                earned[self.target] = 0.0
        return earned


def load_validators(run: Run) -> list[Validator]:
    """The run's validators whose keys are on this machine, with their splits (the others run on their own)."""
    behaviours = {v.name: v for v in run.config.validators}
    out = []
    for v in run.record.validators:
        if v.remote:
            continue  # it signs on its own machine: the coordinator waits for its commit and reveal
        if v.kind == "coordinator":
            account = run.chain.operator
        elif v.kind == "member":
            account = run.member_key(v.name)
        else:
            account = run.keystore.load(f"{run.paths.consortium}-{run.paths.index}-validator-{v.name}")
        if account.address != v.address:
            raise LearningError(f"validator {v.name}'s key is {account.address}, not its admitted {v.address}")
        settings = behaviours.get(v.name)
        out.append(
            Validator(
                v.name,
                account,
                v.weight,
                load_partition(run.paths.validators_dir / f"{v.name}.npz"),
                SettlementLog(run.paths.validators_dir / f"{v.name}.settlement.json", str(run.deployment.committee)),
                settings.behaviour if settings else "honest",
                settings.target if settings else None,
            )
        )
    return out


def score_vector(validator: Validator, handoff: RoundHandoff, folder: Path, scale: int) -> list[int]:
    """The validator's integer scores in the ballot's member order: what it holds each member has earned so far
    (x ``scale``) less what the chain has already paid it, never below 0.

    Posting the difference, not the round's own credit, makes the round's weighted median
    ``max(0, median(earned) - paid)`` (the median commutes with subtracting the same number and clipping at 0),
    so a member's total pay is the median of the validators' cumulative credits whichever round each validator
    vests it in; per-round credits would lose a vested lump whenever fewer than half the weight vest it in the
    same round."""
    by_address = {a.lower(): n for n, a in handoff.addresses.items()}
    earned = validator.earned(handoff, folder)
    members = [by_address[a.lower()] for a in handoff.order()]
    return still_owed([round(earned[m] * scale) for m in members], [handoff.paid.get(m, 0) for m in members])


def still_owed(earned: Sequence[int], paid: Sequence[int]) -> list[int]:
    """Per member, what a validator holds it has earned in total less what it was paid, never below 0."""
    return [max(0, e - p) for e, p in zip(earned, paid, strict=True)]
