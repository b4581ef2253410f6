"""The coordinator's strategy: FedAvg's sampling and messaging, with aggregation handed to a hook.

Flower's FedAvg averages replies itself. fairshare must first check and value every member's update, and
pay for exactly the aggregate it deploys, so ``HookedFedAvg.aggregate_train`` collects the replies untouched
into ``RoundUpdates`` and lets the hook (valuation + recording, supplied by the caller) return the next
global model. Shape or NaN checks are the hook's job too: a bad update must flag one member, not stop the round.

``SignedUpdates`` wraps the whole chain (Flower's DP wrapper, if any, then ``HookedFedAvg``) and is the only
door in: it drops every reply that is an error, comes from an unknown node, or is not signed by its member's
account for this round and model (see ``signing``), and hands the reasons to the hook as the round's failures.
It must be outermost because server-side DP clipping rewrites the parameters the signature covers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, Strategy

from fairshare.errors import LearningError
from fairshare.learning.model import Params
from fairshare.learning.signing import SIGNATURE, UpdateRejected, verify_claim

__all__ = ["HookedFedAvg", "MemberUpdate", "RoundHook", "RoundUpdates", "SignedUpdates", "UpdateIdentity", "fedavg"]

log = logging.getLogger(__name__)


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
    """Why a member's reply was not used (an error, or a rejected signature): "member: reason"."""


@dataclass(frozen=True)
class UpdateIdentity:
    """What the coordinator checks every update against: the consortium and each member's paid account."""

    domain: str
    accounts: dict[str, str]


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

    def __init__(
        self,
        hook: RoundHook,
        node_names: dict[int, str] | None = None,
        min_nodes: int = 1,
        node_timeout: float = 600.0,
    ) -> None:
        super().__init__(
            fraction_train=1.0,
            fraction_evaluate=0.0,
            min_train_nodes=min_nodes,
            min_available_nodes=min_nodes,
            train_metrics_aggr_fn=lambda _records, _key: MetricRecord({}),
        )
        self.hook = hook
        self.node_names = node_names or {}
        self.dropped: list[str] = []
        """Failures found before this strategy saw the replies (filled by ``SignedUpdates``)."""
        self.node_timeout = node_timeout
        self._global: Params = []

    def _wait_for_members(self, server_round: int, grid: Grid) -> None:
        """Flower would wait for nodes forever; a member whose node is down should stop the run, by name."""
        deadline = time.monotonic() + self.node_timeout
        next_note = time.monotonic() + 10
        while missing := set(self.node_names) - set(grid.get_node_ids()):
            names = ", ".join(sorted(self.node_names[n] for n in missing))
            if time.monotonic() > deadline:
                raise LearningError(
                    f"round {server_round}: the nodes of {names} did not connect within {self.node_timeout:.0f} s; "
                    "start them (fairshare node start) or raise [federation] node_timeout_seconds"
                )
            if time.monotonic() > next_note:
                log.warning("round %d: waiting for the nodes of %s", server_round, names)
                next_note = time.monotonic() + 10
            time.sleep(0.5)

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._global = arrays.to_numpy_ndarrays()
        if self.node_names:
            self._wait_for_members(server_round, grid)
        messages = list(super().configure_train(server_round, arrays, config, grid))
        if not self.node_names:
            return messages
        # Only members' nodes get the model: a node registered behind the coordinator's back gets nothing.
        outsiders = sorted({m.metadata.dst_node_id for m in messages} - set(self.node_names))
        if outsiders:
            log.warning("round %d: not sending the model to unregistered nodes %s", server_round, outsiders)
        return [m for m in messages if m.metadata.dst_node_id in self.node_names]

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        updates, failures = [], list(self.dropped)
        self.dropped = []
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


class SignedUpdates(Strategy):
    """Admits only replies signed by their member's account for this round and model; delegates the rest."""

    def __init__(self, inner: Strategy, hooked: HookedFedAvg, identity: UpdateIdentity) -> None:
        self.inner = inner
        self.hooked = hooked
        self.identity = identity
        self._round = 0
        self._global: Params = []

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._global = arrays.to_numpy_ndarrays()
        self._round = server_round + int(config.get("round-offset", 0))
        config["domain"] = self.identity.domain
        return self.inner.configure_train(server_round, arrays, config, grid)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        admitted, dropped, seen = [], [], set()
        for reply in replies:
            member = _member_of(reply, self.hooked.node_names)
            if reply.has_error():
                dropped.append(f"{member}: {reply.error.reason}")
                continue
            try:
                self._check(reply, member, seen)
            except UpdateRejected as exc:
                log.warning("round %d: rejected update: %s", self._round, exc)
                dropped.append(f"{member}: rejected: {str(exc).removeprefix(member + ': ')}")
                continue
            seen.add(member)
            admitted.append(reply)
        self.hooked.dropped = dropped
        return self.inner.aggregate_train(server_round, admitted)

    def _check(self, reply: Message, member: str, seen: set[str]) -> None:
        node = reply.metadata.src_node_id
        claimed = str(reply.content["member"]["name"]) if "member" in reply.content else member
        if claimed != member:
            raise UpdateRejected(f"{member}: node {node} is registered to {member} but says it is {claimed}")
        account = self.identity.accounts.get(member)
        if account is None:
            raise UpdateRejected(f"{member}: node {node} is not a member of this consortium")
        if member in seen:
            raise UpdateRejected(f"{member}: a second update in round {self._round} (replay)")
        content = reply.content
        verify_claim(
            content.get(SIGNATURE),  # type: ignore[arg-type]
            member=member,
            account=account,
            domain=self.identity.domain,
            round_id=self._round,
            global_params=self._global,
            params=content["arrays"].to_numpy_ndarrays(),
            num_examples=int(content["metrics"]["num-examples"]),
        )

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return self.inner.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return self.inner.aggregate_evaluate(server_round, replies)

    def summary(self) -> None:
        self.inner.summary()
