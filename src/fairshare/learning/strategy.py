"""The coordinator's strategy: FedAvg's sampling and messaging, with aggregation handed to a hook.

Flower's FedAvg averages replies itself. fairshare must first check and value every member's update, and
pay for exactly the aggregate it deploys, so ``HookedFedAvg.aggregate_train`` collects the replies untouched
into ``RoundUpdates`` and lets the hook (valuation + recording, supplied by the caller) return the next
global model. Shape or NaN checks are the hook's job too: a bad update must flag one member, not stop the round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from fairshare.learning.model import Params

__all__ = ["HookedFedAvg", "MemberUpdate", "RoundHook", "RoundUpdates", "fedavg"]


@dataclass(frozen=True)
class MemberUpdate:
    """One member's reply in one round: its full new parameters (not a delta) and its reported row count."""

    member: str
    params: Params
    num_examples: int
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RoundUpdates:
    round: int
    global_params: Params
    updates: tuple[MemberUpdate, ...]
    failures: tuple[str, ...] = ()
    """Members (or node ids) whose reply was an error: they sent nothing this round."""


RoundHook = Callable[[RoundUpdates], Params]


def fedavg(global_params: Params, updates: Iterable[MemberUpdate]) -> Params:
    """Zero-fill FedAvg: ``w + sum_i (n_i / N) * (w_i - w)``; with every member present this is the plain average."""
    updates = list(updates)
    total = sum(u.num_examples for u in updates)
    if total <= 0:
        return [p.copy() for p in global_params]
    return [g + sum((u.num_examples / total) * (u.params[k] - g) for u in updates) for k, g in enumerate(global_params)]


def _member_of(reply: Message, names: dict[int, str]) -> str:
    """The member a reply is from: the runtime's node id mapping first, else the name the node reported.

    In-process, the runner owns the node-id mapping. On Flower's deployment runtime the node id is the
    authenticated SuperNode identity; the mapping is filled from the node registry the coordinator keeps.
    """
    node = reply.metadata.src_node_id
    if node in names:
        return names[node]
    if "member" in reply.content:
        return str(reply.content["member"]["name"])
    return f"node-{node}"


class HookedFedAvg(FedAvg):
    """FedAvg whose aggregation is a ``RoundHook``; every member trains every round."""

    def __init__(self, hook: RoundHook, node_names: dict[int, str] | None = None, min_nodes: int = 1) -> None:
        super().__init__(
            fraction_train=1.0,
            fraction_evaluate=0.0,
            min_train_nodes=min_nodes,
            min_available_nodes=min_nodes,
            train_metrics_aggr_fn=lambda _records, _key: MetricRecord({}),
        )
        self.hook = hook
        self.node_names = node_names or {}
        self._global: Params = []

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._global = arrays.to_numpy_ndarrays()
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        updates, failures = [], []
        for reply in replies:
            member = _member_of(reply, self.node_names)
            if reply.has_error():
                failures.append(f"{member}: {reply.error.reason}")
                continue
            content: RecordDict = reply.content
            metrics = {k: float(v) for k, v in content["metrics"].items() if isinstance(v, int | float)}
            updates.append(
                MemberUpdate(
                    member=member,
                    params=[np.asarray(a) for a in content["arrays"].to_numpy_ndarrays()],
                    num_examples=int(metrics.get("num-examples", 0)),
                    metrics=metrics,
                )
            )
        updates.sort(key=lambda u: u.member)
        new_params = self.hook(RoundUpdates(server_round, self._global, tuple(updates), tuple(failures)))
        return ArrayRecord(new_params), MetricRecord({"members": len(updates)})
