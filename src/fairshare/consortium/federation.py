"""The consortium on Flower's deployment runtime: a coordinator, one SuperNode per member, many machines.

The coordinator (``fairshare coordinator start``) keeps a CA and the SuperLink's certificate under the run's
``federation/`` folder, starts the SuperLink with TLS and SuperNode authentication, and registers the node
key of every member that governance has admitted (``is_member`` on the Governor). The node ids Flower
returns are written to ``federation/nodes.json``: that file is how a reply's ``src_node_id`` becomes a member,
whose account must then have signed the update (see ``fairshare.learning.signing``).

``fairshare train --federation NAME`` runs ``flwr run`` against that SuperLink. Flower starts the ServerApp
below in its own process on the coordinator's machine; it opens the same run and trains exactly as the
in-process runner does (valuation, recording, payment), but over the members' nodes.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from fairshare.config import NodeConfig
from fairshare.consortium.session import Run, open_run
from fairshare.consortium.training import train_run
from fairshare.consortium.view import RoundReport, SilentView, View
from fairshare.errors import FairshareError, LearningError
from fairshare.learning.deployment import (
    flower_env,
    generate_certificates,
    register_node,
    run_app,
    superlink_command,
    supernode_command,
    wait_for_port,
    write_app,
    write_connection,
)

__all__ = [
    "FederationFiles",
    "expected_nodes",
    "register_members",
    "server_app",
    "start_node",
    "start_superlink",
    "train_over_federation",
]


@dataclass(frozen=True)
class FederationFiles:
    root: Path

    @classmethod
    def of(cls, run: Run) -> FederationFiles:
        return cls(run.paths.root / "federation")

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def flwr_home(self) -> Path:
        return self.root / "flwr"

    @property
    def nodes(self) -> Path:
        return self.root / "nodes.json"

    @property
    def app(self) -> Path:
        return self.root / "app"

    @property
    def log(self) -> Path:
        return self.root / "superlink.log"


def read_nodes(files: FederationFiles) -> dict[int, str]:
    if not files.nodes.exists():
        return {}
    return {int(node): member for node, member in json.loads(files.nodes.read_text()).items()}


def expected_nodes(run: Run) -> dict[int, str]:
    """Node id -> member for every member admitted on chain, or a ``LearningError`` naming who is missing.

    Without the registry a round would go ahead with whichever nodes happen to connect (Flower waits for one),
    so one of three members could train and be paid alone; a member admitted by governance without a
    registered node would likewise be left out silently. Both refuse, by name, before any round starts.
    """
    files = FederationFiles.of(run)
    nodes = read_nodes(files)
    if not nodes:
        raise LearningError(
            f"{files.nodes} is missing or empty: no member's node is registered, so a round would train with "
            "whichever nodes connect; run `fairshare coordinator start` (it registers the admitted members' "
            "node keys) before training over the federation"
        )
    admitted = [m.name for m in run.admitted_members()]
    missing = sorted(set(admitted) - set(nodes.values()))
    if missing:
        raise LearningError(
            f"admitted members without a registered node: {', '.join(missing)}; list their node public keys in "
            f"[federation] node_keys and restart `fairshare coordinator start` (registered: "
            f"{', '.join(sorted(set(nodes.values())))}); refusing to train without them"
        )
    return nodes


def start_superlink(run: Run, view: View) -> subprocess.Popen[bytes]:
    """Start the SuperLink (TLS, SuperNode authentication) and wait until it answers; the caller owns it."""
    files = FederationFiles.of(run)
    settings = run.config.federation
    certs = generate_certificates(files.certs, settings.hostnames)
    write_connection(files.flwr_home, run.paths.consortium, settings.address, certs.ca)
    files.root.mkdir(parents=True, exist_ok=True)
    with files.log.open("ab") as log:  # the SuperLink keeps its own copy of the descriptor
        process = subprocess.Popen(
            superlink_command(settings.address, certs, files.root / "superlink.db"),
            env=flower_env(files.flwr_home),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(settings.address, timeout=60, process=process)
    except LearningError as exc:
        process.kill()
        raise LearningError(f"{exc}; see {files.log}") from exc
    view.stage(
        "Coordinator",
        f"SuperLink on {settings.address} (TLS, node authentication); members need {certs.ca}",
    )
    return process


def register_members(run: Run, view: View) -> dict[int, str]:
    """Register the node key of every admitted member that has one; returns node id -> member."""
    files = FederationFiles.of(run)
    keys = run.config.federation.node_keys
    if not keys:
        raise LearningError(
            '[federation] node_keys is empty: list each member\'s node public key (member = "path.pub")'
        )
    nodes = read_nodes(files)
    registered = set(nodes.values())
    addresses = {m.name: m.address for m in run.record.members}
    for member, key in sorted(keys.items()):
        if member in registered:
            continue
        if not run.governance.is_member(addresses[member]):
            view.stage("Not registered", f"{member} is not an admitted member on chain")
            continue
        node_id = register_node(files.flwr_home, run.paths.consortium, key)
        nodes[node_id] = member
        view.stage("Node registered", f"{member}: node {node_id} ({key})")
    files.nodes.write_text(json.dumps({str(k): v for k, v in sorted(nodes.items())}, indent=2))
    return nodes


def train_over_federation(run: Run, view: View, connection: str, rounds: int | None) -> list[int]:
    """``flwr run`` the consortium's app on the SuperLink; returns the rounds recorded on chain meanwhile."""
    files = FederationFiles.of(run)
    expected_nodes(run)  # refuse here, on the operator's terminal, before Flower starts anything
    before = {r.round_id for r in run.ledger.rounds()}
    home, consortium = run.paths.home.resolve(), run.paths.consortium
    run.chain.close()  # the ServerApp process opens the embedded chain itself
    write_app(files.app)
    code = run_app(
        files.flwr_home,
        files.app,
        connection,
        {"home": str(home), "consortium": consortium, "rounds": rounds or 0},
    )
    after = open_run(home, consortium)
    try:
        recorded = sorted({r.round_id for r in after.ledger.rounds()} - before)
    finally:
        after.chain.close()
    if code != 0 or not recorded:
        raise LearningError(f"flwr run exited {code} and recorded rounds {recorded}; see {files.log}")
    return recorded


class _PrintView(SilentView):
    """What the ServerApp shows in the run's log (``flwr run --stream`` relays it to the operator)."""

    def round_finished(self, report: RoundReport) -> None:
        line = f"round {report.round}: accuracy {report.accuracy:.3f}, paid shares {report.shares}"
        for member, why in sorted(report.rejected.items()):
            line += f"; {member} {why}"
        if report.epsilon:
            line += f"; epsilon { ({m: round(e, 3) for m, e in report.epsilon.items()}) }"
        if report.validators:
            line += "; scores: validators' medians (" + ", ".join(f"{v} {how}" for v, how in report.validators.items())
            line += ")"
        else:
            line += "; scores: single scorer"
        print(line, flush=True)


@contextmanager
def _warnings_to_operator() -> Iterator[None]:
    """fairshare's warnings (``round 1: waiting for the nodes of ...``) on the ServerApp's stdout.

    The package logger has only a NullHandler (a library does not configure logging), so in the ServerApp's
    process they went nowhere. Flower relays this process's stdout to ``flwr run --stream``: the operator's
    terminal.
    """
    handler = logging.StreamHandler(sys.stdout)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s fairshare: %(message)s"))
    package = logging.getLogger("fairshare")
    package.addHandler(handler)
    try:
        yield
    finally:
        package.removeHandler(handler)


server_app = ServerApp()


@server_app.main()
def _main(grid: Grid, context: Context) -> None:
    config = context.run_config
    home = Path(str(config["home"]))
    with _warnings_to_operator():
        run = open_run(home, str(config["consortium"]) or None)
        try:
            nodes = expected_nodes(run)
            rounds = int(config["rounds"]) or None
            train_run(run, _PrintView(), rounds=rounds, grid=grid, node_names=nodes)
        except FairshareError as exc:
            print(f"error: {exc}", flush=True)
            raise
        finally:
            run.chain.close()


def start_node(node: NodeConfig) -> subprocess.Popen[bytes]:
    """This member's SuperNode, in the foreground's care; raw data stays here, only signed updates leave."""
    for what, path in (
        ("root_certificates", node.root_certificates),
        ("node_key", node.node_key),
        ("account_key", node.account_key),
        ("data", node.data),
    ):
        if not path.exists():
            raise LearningError(f"{what} = {path} does not exist; fix the node file")
    node_config = {
        "member": node.member,
        "data-path": str(node.data),
        "key-path": str(node.account_key),
        "behaviour": node.behaviour,
        "model-factory": node.model_factory,
    }
    command = supernode_command(node.superlink, node.root_certificates, node.node_key, node_config, node.port)
    return subprocess.Popen(command, env=flower_env(node.data.parent / ".flwr"))
