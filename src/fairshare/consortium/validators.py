"""Validators: each values a round's updates on its own validation data; their medians become the scores on chain.

The hand-off. After screening, the coordinator writes the round's updates to ``<run>/rounds/round-<r>.npz``: the
global model, each member's signed update as it was received, the reported row counts, the effective sizes and
the valuation policy (method, utility, aggregator, seed, past values) as JSON. A validator reads only that file
and its own validation split, so the same file can be copied to a validator on another machine (the in-process
validators read it back from disk exactly as a remote one would). Each validator runs the round's method with the
round's seed on its own rows, credits flagged members as the coordinator does (a flagged member's positive value
is withheld), and commits, then reveals, its vector through the ScoreCommittee (``fairshare.ledger.committee``).

Demo behaviours: an "inflate" validator reports its target's score 10x, a "deflate" one reports it as 0 (the
adversaries the median is there to stop).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from eth_account.signers.local import LocalAccount

from fairshare.consortium.session import Run
from fairshare.errors import LearningError, ValuationError
from fairshare.learning.data import Dataset, load_partition
from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.model import Params
from fairshare.valuation import RoundValuation, ValuationConfig, value_round

__all__ = [
    "RoundHandoff",
    "Validator",
    "credited_values",
    "load_validators",
    "read_handoff",
    "score_vector",
    "write_handoff",
]


def credited_values(valuation: RoundValuation) -> dict[str, float]:
    """What each member is credited for the round: its value, except that a flagged member's positive value is
    withheld (a negative one stays on record)."""
    return {m: min(v, 0.0) if m in valuation.flags else v for m, v in valuation.values.items()}


@dataclass(frozen=True)
class RoundHandoff:
    """Everything a validator needs to value a round, and nothing of the coordinator's validation data."""

    round: int
    global_params: Params
    updates: dict[str, Params]
    num_examples: dict[str, int]
    sizes: dict[str, float]
    config: ValuationConfig
    past: dict[str, float]
    addresses: dict[str, str]
    """Member name -> account: the order of a score vector is the members' accounts in ascending order."""
    l2: float
    """The model's L2 penalty (the model is rebuilt from it and the validation data's shape)."""

    def order(self) -> list[str]:
        """The member accounts of this round in the ballot's order (ascending address)."""
        return sorted((self.addresses[m] for m in self.updates), key=lambda a: int(a, 16))


def write_handoff(path: Path, handoff: RoundHandoff) -> None:
    arrays: dict[str, np.ndarray] = {f"global/{k}": p for k, p in enumerate(handoff.global_params)}
    members = sorted(handoff.updates)
    for i, member in enumerate(members):
        arrays.update({f"member{i}/{k}": p for k, p in enumerate(handoff.updates[member])})
    meta = {
        "round": handoff.round,
        "members": members,
        "layers": len(handoff.global_params),
        "num_examples": handoff.num_examples,
        "sizes": handoff.sizes,
        "past": handoff.past,
        "addresses": handoff.addresses,
        "l2": handoff.l2,
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
    except (OSError, KeyError, ValueError) as exc:
        raise LearningError(f"{path} is not a round hand-off file (meta + global/* + member*/*): {exc}") from exc
    return RoundHandoff(
        round=int(meta["round"]),
        global_params=global_params,
        updates=updates,
        num_examples={k: int(v) for k, v in meta["num_examples"].items()},
        sizes={k: float(v) for k, v in meta["sizes"].items()},
        config=ValuationConfig(**meta["policy"]),
        past={k: float(v) for k, v in meta["past"].items()},
        addresses={k: str(v) for k, v in meta["addresses"].items()},
        l2=float(meta["l2"]),
    )


@dataclass(frozen=True)
class Validator:
    name: str
    account: LocalAccount
    weight: int
    validation: Dataset
    behaviour: str = "honest"
    target: str | None = None

    @property
    def address(self) -> str:
        return self.account.address

    def values(self, model: LogisticRegression, handoff: RoundHandoff) -> dict[str, float]:
        """This validator's credited value of every member in the hand-off, measured on its own rows."""
        try:
            valuation, _ = value_round(
                model,
                handoff.round,
                handoff.global_params,
                handoff.updates,
                handoff.num_examples,
                self.validation.X,
                self.validation.y,
                handoff.config,
                effective_sizes=handoff.sizes,
                past_values=handoff.past,
            )
        except ValuationError as exc:
            raise ValuationError(f"validator {self.name}: {exc}") from exc
        values = credited_values(valuation)
        if self.target in values:
            if self.behaviour == "inflate":
                values[self.target] = 10 * values[self.target]
            elif self.behaviour == "deflate":
                values[self.target] = 0.0
        return values


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
                settings.behaviour if settings else "honest",
                settings.target if settings else None,
            )
        )
    return out


def score_vector(validator: Validator, model: LogisticRegression, handoff: RoundHandoff, scale: int) -> list[int]:
    """The validator's integer scores (values x ``scale``) in the ballot's member order."""
    by_address = {a.lower(): n for n, a in handoff.addresses.items()}
    values = validator.values(model, handoff)
    return [round(values[by_address[a.lower()]] * scale) for a in handoff.order()]
