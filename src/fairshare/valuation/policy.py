"""The valuation policy members govern: what happens to flagged and to noisy members' updates.

It lives on chain in the Governor's ``valuation_params`` (compact JSON, set at deployment from the
consortium file and changed only by a ``valuation`` proposal, whose description carries the new policy),
so the coordinator reads it the way it reads the valuation method, and every round records it.

- ``drop_flagged``: a member flagged harmful (or excluded, below) is left out of the aggregate and the round
  is valued again without it. Off, its update stays in the model (it is still paid nothing).
- ``noise_rule``: ``"pay"`` keeps a member whose update the round's model would be better without (its
  leave-one-out value ``v(N) - v(N - i)`` is negative: typically a member with many wrong labels, which still
  helps smaller coalitions) and settles its Shapley value like anyone's — the consortium buys its average
  contribution to every coalition. ``"exclude"`` flags such a member *excluded* for the round: it is paid
  nothing for it and, with ``drop_flagged``, left out of the model — the consortium buys only what improves
  the model it ships, at the price of n more coalition evaluations a round and of excluding an honest
  member whenever the validation split happens to disagree with it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from fairshare.errors import ValuationError

__all__ = ["NOISE_RULES", "ValuationPolicy"]

NOISE_RULES = ("pay", "exclude")


@dataclass(frozen=True)
class ValuationPolicy:
    drop_flagged: bool = True
    noise_rule: str = "pay"

    def __post_init__(self) -> None:
        if not isinstance(self.drop_flagged, bool):
            raise ValuationError(f"valuation policy: drop_flagged must be true or false; got {self.drop_flagged!r}")
        if self.noise_rule not in NOISE_RULES:
            raise ValuationError(
                f"valuation policy: noise_rule must be one of {', '.join(NOISE_RULES)}; got {self.noise_rule!r}"
            )

    def to_text(self) -> str:
        """Compact JSON, as the Governor stores it (at most 256 bytes)."""
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_text(cls, text: str) -> ValuationPolicy:
        """The policy stored on chain; refuses text that is not a policy, naming what is wrong."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValuationError(f"valuation policy on chain is not JSON: {text[:80]!r}") from exc
        if not isinstance(raw, dict):
            raise ValuationError(f"valuation policy on chain is not a JSON object: {text[:80]!r}")
        unknown = sorted(set(raw) - {"drop_flagged", "noise_rule"})
        if unknown:
            raise ValuationError(
                f"valuation policy on chain has unknown keys {unknown}; expected drop_flagged, noise_rule"
            )
        return cls(**raw)
