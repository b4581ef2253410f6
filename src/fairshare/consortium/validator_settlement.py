"""A validator's own settlement across rounds: its values and flags, round by round, kept in a small JSON file.

Each validator's vector comes from its *settled credit* (``fairshare.valuation.Settlement``), not its raw value:
a member's value vests only once the validator's own series of rounds shows it helps, so a lucky first round or
a disguised free-rider is not paid by the committee any more than by a single scorer. The settlement is a pure
function of the sequence of (values, flags) the validator measured, so the file stores only those and every
credit is re-derived by replaying them in round order: anyone holding the file and the chain can check that
each revealed vector is the replay's cumulative credit (times the score scale) less what the member's earlier
scores summed to (``validators.score_vector``).

Rules the callers rely on:

- a round is stored under its id; valuing round ``r`` again (the round was re-trained after a crash or a ballot
  that did not settle) replaces it and forgets any stored round after it, so nothing is counted twice;
- ``past`` is the sum of the validator's own values over the stored rounds before ``r``: what its screening
  uses to tell persistent harm (a validator never uses the coordinator's values);
- the file names the committee it belongs to; one kept for another consortium is refused, not mixed in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fairshare.errors import LearningError
from fairshare.valuation import Settlement

__all__ = ["ObservedRound", "SettlementLog"]


@dataclass(frozen=True)
class ObservedRound:
    """What a validator measured in one round on its own rows."""

    round: int
    values: dict[str, float]
    flags: dict[str, str]


class SettlementLog:
    """The rounds a validator has valued (``<its data>.settlement.json``), and the settlement they replay to."""

    def __init__(self, path: Path, committee: str) -> None:
        self.path = path
        self.committee = committee.lower()
        self.rounds: dict[int, ObservedRound] = self._read()

    def _read(self) -> dict[int, ObservedRound]:
        if not self.path.exists():
            return {}
        fix = "; move it aside to start this validator's settlement afresh from the hand-off files"
        try:
            raw = json.loads(self.path.read_text())
            committee = str(raw["committee"]).lower()
            rounds = {
                int(r["round"]): ObservedRound(
                    int(r["round"]),
                    {str(m): float(v) for m, v in r["values"].items()},
                    {str(m): str(f) for m, f in r["flags"].items()},
                )
                for r in raw["rounds"]
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LearningError(f"{self.path} is not a validator's settlement log ({exc}){fix}") from exc
        if committee != self.committee:
            raise LearningError(
                f"{self.path} is the settlement log of committee {committee}, not {self.committee}: give this "
                "validator its own file for this consortium"
            )
        for observed in rounds.values():
            if not all(math.isfinite(v) for v in observed.values.values()):
                raise LearningError(f"{self.path}: round {observed.round} has a non-finite value{fix}")
        return rounds

    def _write(self) -> None:
        body = {
            "committee": self.committee,
            "rounds": [
                {"round": r.round, "values": r.values, "flags": r.flags}
                for r in sorted(self.rounds.values(), key=lambda r: r.round)
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(body, sort_keys=True, indent=1))
        tmp.replace(self.path)

    def earlier(self, round_id: int) -> list[ObservedRound]:
        return sorted((r for r in self.rounds.values() if r.round < round_id), key=lambda r: r.round)

    def past(self, round_id: int) -> dict[str, float]:
        """Each member's values summed over the stored rounds before ``round_id``."""
        totals: dict[str, float] = {}
        for observed in self.earlier(round_id):
            for member, value in observed.values.items():
                totals[member] = totals.get(member, 0.0) + value
        return totals

    def settlement_before(self, round_id: int) -> Settlement:
        """The settlement as it stood after every stored round before ``round_id``."""
        settlement = Settlement()
        for observed in self.earlier(round_id):
            settlement.settle(observed.values, observed.flags)
        return settlement

    def record(self, round_id: int, values: Mapping[str, float], flags: Mapping[str, str]) -> None:
        """Store a round's measurement (replacing it and forgetting later rounds), without settling it."""
        self.rounds = {r: o for r, o in self.rounds.items() if r < round_id}
        self.rounds[round_id] = ObservedRound(round_id, dict(values), dict(flags))
        self._write()

    def earned(self, round_id: int, values: Mapping[str, float], flags: Mapping[str, str]) -> dict[str, float]:
        """Store round ``round_id``'s measurement and return each of its members' cumulative credit after it
        (what the validator holds the member has earned in total: the sum of its settled credits)."""
        settlement = self.settlement_before(round_id)
        settlement.settle(values, flags)
        self.record(round_id, values, flags)
        return {m: settlement.series[m].credited for m in values}
