"""The default runner: the real ServerApp and ClientApp, with messages delivered in-process.

``InProcessGrid`` implements Flower's public ``Grid`` interface by calling the ClientApp directly for each
message, with one ``Context`` per member node (its ``node_config`` carries ``member``, ``data-path`` and
``behaviour``, exactly what a SuperNode is started with). No Ray, no sockets: 5 members x 8 rounds take
about a second. It touches Flower internals to stamp message identities (``TaskIdentity``, message ids),
which is why flwr is pinned and this runner is tested.

On Flower's deployment runtime the same apps run unchanged, one SuperNode per member::

    fairshare coordinator start        # flower-superlink with TLS and SuperNode authentication
    fairshare node start --config member.toml    # flower-supernode, on each member's machine
    fairshare train --federation NAME  # flwr run

(see ``fairshare.learning.deployment`` and docs/federation.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from uuid import uuid4

from flwr.app import Context, Message, RecordDict
from flwr.app.error import Error
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from fairshare.errors import LearningError
from fairshare.learning import clientapp
from fairshare.learning.data import Dataset
from fairshare.learning.model import Model, Params
from fairshare.learning.privacy import PrivacySettings
from fairshare.learning.serverapp import RoundResult, TrainingSettings, make_server_app, run_rounds
from fairshare.learning.strategy import RoundHook, UpdateIdentity

__all__ = [
    "FederationSpec",
    "InProcessGrid",
    "MemberSpec",
    "TrainingResult",
    "check_members",
    "node_settings",
    "quiet_flower",
    "rounds_of",
    "run_federation",
]

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")


@dataclass(frozen=True)
class MemberSpec:
    name: str
    data_path: Path
    behaviour: str = "honest"
    key_path: Path | None = None
    """The member's account key (keystore file); its node signs every update with it."""


@dataclass(frozen=True)
class FederationSpec:
    model: Model
    members: Sequence[MemberSpec]
    rounds: int
    local_epochs: int
    learning_rate: float
    batch_size: int
    seed: int
    test: Dataset
    initial: Params | None = None
    first_round: int = 1
    identity: UpdateIdentity | None = None
    """When set, only updates signed by each member's account for the round are used."""
    privacy: PrivacySettings | None = None
    node_timeout: float = 600.0
    """How long a round waits for every member's node (only matters on the deployment runtime)."""


@dataclass(frozen=True)
class TrainingResult:
    params: Params
    rounds: list[RoundResult] = field(default_factory=list)


class InProcessGrid(Grid):
    """Delivers each message to the member's ClientApp in this process and keeps the replies until pulled."""

    def __init__(
        self,
        app: ClientApp,
        contexts: dict[int, Context],
        run_id: int,
        on_reply: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self._app = app
        self._on_reply = on_reply
        self._contexts = contexts
        self._run = Run.create_empty(run_id)
        self._replies: dict[str, Message] = {}

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        messages = list(messages)
        for done, message in enumerate(messages, start=1):
            message_id = str(uuid4())
            message.metadata.__dict__["_message_id"] = message_id
            context = self._contexts.get(message.metadata.dst_node_id)
            if context is None:
                raise LearningError(f"no member node with id {message.metadata.dst_node_id}")
            try:
                reply = self._app(message, context)
            except Exception as exc:  # a member's failure is its reply, as on the real runtime
                error = Error(ErrorCode.CLIENT_APP_RAISED_EXCEPTION, f"{type(exc).__name__}: {exc}")
                reply = Message(error, reply_to=message)
            reply.metadata.__dict__["_message_id"] = str(uuid4())
            self._replies[message_id] = reply
            ids.append(message_id)
            if self._on_reply is not None:
                self._on_reply(message.metadata.message_type, done, len(messages))
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in message_ids if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self.pull_messages(self.push_messages(messages))


def rounds_of(
    spec: FederationSpec,
    hook: RoundHook,
    on_round: Callable[[RoundResult], None],
    node_names: dict[int, str] | None,
    expected_members: int | None = None,
) -> Callable[[Grid], None]:
    """``spec``'s rounds, to run on any Grid: this runner's in-process one, the Simulation Engine's or Flower's
    deployment runtime's. Without ``node_names`` (the Simulation Engine numbers its nodes itself) a round waits
    for ``expected_members`` nodes and takes each reply's member from the node's own report."""
    return partial(
        run_rounds,
        model=spec.model,
        initial=spec.initial if spec.initial is not None else spec.model.init_params(spec.seed),
        settings=TrainingSettings(spec.rounds, spec.local_epochs, spec.learning_rate, spec.batch_size, spec.seed),
        test=spec.test,
        hook=hook,
        on_round=on_round,
        node_names=node_names,
        expected_members=expected_members,
        first_round=spec.first_round,
        identity=spec.identity,
        privacy=spec.privacy,
        node_timeout=spec.node_timeout,
    )


@contextmanager
def quiet_flower() -> Iterator[None]:
    """Flower logs every round at INFO and warns about skipped client evaluation; fairshare's view shows rounds."""
    flwr_log = logging.getLogger("flwr")
    level = flwr_log.level
    flwr_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        flwr_log.setLevel(level)


def node_settings(member: MemberSpec) -> dict[str, str]:
    """What a member's node is started with (``--node-config`` on a SuperNode)."""
    return {
        "member": member.name,
        "data-path": str(member.data_path),
        "behaviour": member.behaviour,
        "key-path": str(member.key_path or ""),
    }


def check_members(spec: FederationSpec) -> None:
    """Refuse, naming the member, what would otherwise fail inside a node mid-round."""
    if not spec.members:
        raise LearningError("a federation needs at least one member")
    for member in spec.members:
        if not Path(member.data_path).exists():
            raise LearningError(f"member {member.name!r}: data file {member.data_path} does not exist")
        if member.behaviour not in clientapp.BEHAVIOURS:
            raise LearningError(
                f"member {member.name!r}: unknown behaviour {member.behaviour!r}; "
                f"expected one of {', '.join(clientapp.BEHAVIOURS)}"
            )


def run_federation(
    spec: FederationSpec,
    hook: RoundHook,
    on_round: Callable[[RoundResult], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> TrainingResult:
    """Run ``spec.rounds`` rounds; the hook turns each round's member updates into the next global model.

    ``progress(phase, done, total)`` hears of every member's reply ("train", "evaluate")."""
    check_members(spec)
    run_id = 1
    contexts = {
        node_id: Context(
            run_id=run_id,
            node_id=node_id,
            node_config=node_settings(m),
            state=RecordDict(),
            run_config={},
        )
        for node_id, m in enumerate(spec.members, start=1001)
    }
    names = {node_id: str(ctx.node_config["member"]) for node_id, ctx in contexts.items()}
    results: list[RoundResult] = []

    def record(result: RoundResult) -> None:
        results.append(result)
        if on_round is not None:
            on_round(result)

    server = make_server_app(rounds_of(spec, hook, record, names))
    TaskIdentity.run_id = run_id
    TaskIdentity.node_id = SUPERLINK_NODE_ID
    TaskIdentity.task_id = 1
    grid = InProcessGrid(clientapp.app, contexts, run_id, on_reply=progress)
    with quiet_flower():
        server(grid, Context(run_id, SUPERLINK_NODE_ID, node_config={}, state=RecordDict(), run_config={}))
    final = results[-1].params if results else (spec.initial or spec.model.init_params(spec.seed))
    return TrainingResult(final, results)
