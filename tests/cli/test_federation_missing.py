"""A federation never trains silently with part of the consortium; a missing node is named on the operator's terminal.

The last test drives the real deployment runtime (scripts/federation-loopback.sh, about a minute) with one of
the three member nodes left down.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from flwr.app import Context, RecordDict

from fairshare.consortium.federation import FederationFiles, _main, expected_nodes
from fairshare.consortium.session import open_run
from fairshare.errors import LearningError
from fairshare.serving.server import free_port
from tests.cli.test_end_to_end import REPO, fairshare


@pytest.fixture(scope="module")
def run_home(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("fed")
    fairshare("init", "--members", "3", home=home)
    return home


def _context(home, rounds: int = 1) -> Context:
    config = {"home": str(home), "consortium": "", "rounds": rounds}
    return Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config=config)


def test_without_a_node_registry_the_server_app_refuses_before_any_round(run_home) -> None:
    run = open_run(run_home)
    try:
        assert not FederationFiles.of(run).nodes.exists()
        with pytest.raises(LearningError, match="nodes.json is missing or empty"):
            expected_nodes(run)
        rounds_before = len(run.ledger.rounds())
    finally:
        run.chain.close()
    with pytest.raises(LearningError, match="no member's node is registered"):
        _main(None, _context(run_home))  # the ServerApp as Flower calls it; it stops before using the grid
    run = open_run(run_home)
    try:
        assert len(run.ledger.rounds()) == rounds_before == 0
    finally:
        run.chain.close()


def test_a_registry_without_an_admitted_member_refuses_by_name(run_home) -> None:
    run = open_run(run_home)
    try:
        names = [m.name for m in run.record.members]
        files = FederationFiles.of(run)
        files.root.mkdir(parents=True, exist_ok=True)
        files.nodes.write_text(json.dumps({"101": names[0], "102": names[1]}))
        with pytest.raises(LearningError, match=f"admitted members without a registered node: {names[2]};"):
            expected_nodes(run)
        files.nodes.write_text(json.dumps({"101": names[0], "102": names[1], "103": names[2]}))
        assert expected_nodes(run) == {101: names[0], 102: names[1], 103: names[2]}
    finally:
        files.nodes.unlink(missing_ok=True)
        run.chain.close()


def test_a_node_that_stays_down_is_named_on_the_operators_terminal(tmp_path) -> None:
    env = {
        **os.environ,
        "FAIRSHARE_SUPERLINK_PORT": str(free_port()),
        "FAIRSHARE_SKIP_NODE": "riverside-general",
        "FAIRSHARE_NODE_TIMEOUT": "25",
        "COLUMNS": "200",
    }
    result = subprocess.run(
        ["bash", "scripts/federation-loopback.sh", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    terminal = result.stdout + result.stderr
    assert result.returncode != 0, terminal[-4000:]
    assert "round 1: waiting for the nodes of riverside-general" in terminal, terminal[-4000:]
    assert "the nodes of riverside-general did not connect within 25 s" in terminal, terminal[-4000:]
    run = open_run(tmp_path / "coordinator" / "home")
    try:
        assert run.ledger.rounds() == []  # no round went ahead with two of three members
    finally:
        run.chain.close()
