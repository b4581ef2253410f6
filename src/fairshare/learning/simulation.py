"""Training on Flower's Simulation Engine (Ray backend): the same ServerApp and ClientApp, virtual member nodes.

Flower starts one virtual SuperNode per member; each knows only its ``partition-id`` (0..N-1). The ClientApp's
``member_of_partition`` mod turns that id into the member's node settings (name, data path, key path,
behaviour) from a members file this runner writes and names in ``FAIRSHARE_SIMULATION_MEMBERS``; Ray's workers
inherit the variable from this process. The ServerApp runs in a thread of this process, so the round hook (valuation,
recording on chain) runs here as with the in-process runner.

Which member a reply is from is the name the node reports, and with signed updates that claim is checked
against the member's account signature, as on the deployment runtime.

On one 2-core machine Ray costs far more per message than the in-process Grid (benchmarks/runtimes.py); it
pays off with many cores, a Ray cluster, or heavy local training. Needs the optional extra
``pip install 'fairshare[simulation]'``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flwr.app import Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.run import Run

from fairshare.errors import LearningError
from fairshare.learning import clientapp
from fairshare.learning.runner import (
    FederationSpec,
    TrainingResult,
    check_members,
    node_settings,
    quiet_flower,
    rounds_of,
)
from fairshare.learning.serverapp import RoundResult, make_server_app
from fairshare.learning.strategy import RoundHook

__all__ = ["MEMBERS_ENV", "ProgressGrid", "run_on_simulation_engine"]

MEMBERS_ENV = "FAIRSHARE_SIMULATION_MEMBERS"


class ProgressGrid(Grid):
    """Another runtime's Grid, reporting each reply as it arrives (Flower's ``send_and_receive`` only returns
    when all are in, so a 1,000-member round would show nothing for a minute)."""

    def __init__(self, grid: Grid, progress: Callable[[str, int, int], None], poll_seconds: float = 0.2) -> None:
        self._grid = grid
        self._progress = progress
        self._poll = poll_seconds

    @property
    def run(self) -> Run:
        return self._grid.run

    def set_run(self, run: Run) -> None:
        self._grid.set_run(run)

    def create_message(
        self, content: RecordDict, message_type: str, dst_node_id: int, group_id: str, ttl: float | None = None
    ) -> Message:
        return self._grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        return self._grid.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._grid.pull_messages(message_ids)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        messages = list(messages)
        phase = messages[0].metadata.message_type if messages else ""
        waiting = set(self.push_messages(messages))
        replies: list[Message] = []
        deadline = None if timeout is None else time.monotonic() + timeout
        reported = -1
        while waiting and (deadline is None or time.monotonic() < deadline):
            for reply in self.pull_messages(list(waiting)):
                waiting.discard(reply.metadata.reply_to_message_id)
                replies.append(reply)
            if len(replies) != reported:
                reported = len(replies)
                self._progress(phase, reported, len(messages))
            if waiting:
                time.sleep(self._poll)
        return replies


def run_on_simulation_engine(
    spec: FederationSpec,
    hook: RoundHook,
    on_round: Callable[[RoundResult], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    node_cpus: float = 1.0,
) -> TrainingResult:
    """Run ``spec.rounds`` rounds with one virtual node per member on Flower's Simulation Engine.

    ``node_cpus`` is what each member's ClientApp reserves from Ray: 1 runs as many members at once as there
    are cores."""
    if importlib.util.find_spec("ray") is None:
        raise LearningError(
            "the Simulation Engine needs Flower's Ray backend: pip install 'fairshare[simulation]' "
            "(or train with runtime 'in-process', the default)"
        )
    from flwr.simulation import run_simulation

    check_members(spec)
    results: list[RoundResult] = []
    failure: list[BaseException] = []

    def record(result: RoundResult) -> None:
        results.append(result)
        if on_round is not None:
            on_round(result)

    rounds = rounds_of(spec, hook, record, node_names=None, expected_members=len(spec.members))

    def main(grid: Grid) -> None:
        try:
            rounds(grid if progress is None else ProgressGrid(grid, progress))
        except BaseException as exc:  # Flower's server thread only logs it: keep it to raise it here
            failure.append(exc)
            raise

    with tempfile.TemporaryDirectory(prefix="fairshare-simulation-") as folder:
        manifest = Path(folder) / "members.json"
        manifest.write_text(json.dumps([node_settings(m) for m in spec.members]))
        with _environment({MEMBERS_ENV: str(manifest), **_RAY_QUIET}), quiet_flower():
            run_simulation(
                server_app=make_server_app(main),
                client_app=clientapp.app,
                num_supernodes=len(spec.members),
                backend_config={
                    "client_resources": {"num_cpus": node_cpus, "num_gpus": 0.0},
                    # a member's failure comes back as its reply; the actors' own logs would only repeat it
                    "init_args": {"num_cpus": os.cpu_count() or 1, "log_to_driver": False},
                },
            )
    if failure:
        raise failure[0]
    if len(results) != spec.rounds:
        raise LearningError(
            f"the Simulation Engine stopped after {len(results)} of {spec.rounds} rounds; "
            "rerun with FLWR_LOG_LEVEL=DEBUG to see Flower's and Ray's logs"
        )
    return TrainingResult(results[-1].params, results)


_RAY_QUIET = {"RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0"}  # Ray warns of a future default that changes nothing here


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Ray's worker processes inherit this process's environment when the engine starts them."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
