"""Flower's Simulation Engine runs fairshare's own ServerApp and ClientApp: the same rounds as in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flwr.app import Context, RecordDict

from fairshare.errors import LearningError
from fairshare.learning import simulation
from fairshare.learning.clientapp import member_of_partition
from fairshare.learning.logistic import LogisticRegression
from fairshare.learning.model import params_hash
from fairshare.learning.runner import FederationSpec, run_federation
from fairshare.learning.strategy import RoundUpdates, fedavg

MODEL = LogisticRegression(30, 2)


def spec(members, test, rounds=2) -> FederationSpec:
    return FederationSpec(MODEL, members, rounds, 2, 0.1, 32, 0, test)


def test_the_engine_trains_the_same_models_as_the_in_process_runtime(federation) -> None:
    pytest.importorskip("ray", reason="the Simulation Engine needs the simulation extra (make test installs it)")
    members, test = federation
    heard: dict[str, list[tuple[str, int, int]]] = {"in-process": [], "simulation": []}
    seen: dict[str, list[RoundUpdates]] = {"in-process": [], "simulation": []}

    def hook_for(runtime: str):
        def hook(updates: RoundUpdates):
            seen[runtime].append(updates)
            return fedavg(updates.global_params, updates.updates)

        return hook

    local = run_federation(
        spec(members, test), hook_for("in-process"), progress=lambda *p: heard["in-process"].append(p)
    )
    engine = simulation.run_on_simulation_engine(
        spec(members, test), hook_for("simulation"), progress=lambda *p: heard["simulation"].append(p)
    )
    assert [params_hash(r.params) for r in engine.rounds] == [params_hash(r.params) for r in local.rounds]
    assert [r.accuracy for r in engine.rounds] == [r.accuracy for r in local.rounds]
    for ours, theirs in zip(seen["simulation"], seen["in-process"], strict=True):
        # every member, named by its own node (the engine numbers nodes itself), free-rider included
        assert sorted(u.member for u in ours.updates) == [u.member for u in theirs.updates]
        by_name = {u.member: u for u in ours.updates}
        assert all(params_hash(by_name[u.member].params) == params_hash(u.params) for u in theirs.updates)
    # progress: every round's training phase reached all five members
    trained = [p for p in heard["simulation"] if p[0] == "train"]
    assert trained.count(("train", 5, 5)) == 2 and all(total == 5 for _, _, total in trained)


def test_an_error_in_the_coordinators_hook_stops_the_engine_with_that_error(federation) -> None:
    """Flower's server thread only logs an exception; fairshare's must reach the caller (and the CLI) intact."""
    pytest.importorskip("ray", reason="the Simulation Engine needs the simulation extra (make test installs it)")
    members, test = federation

    def hook(updates: RoundUpdates):
        raise LearningError(f"round {updates.round}: the chain refused the record")

    with pytest.raises(LearningError, match="round 1: the chain refused the record"):
        simulation.run_on_simulation_engine(spec(members, test, rounds=1), hook)


def test_without_the_extra_the_engine_says_how_to_install_it(federation, monkeypatch: pytest.MonkeyPatch) -> None:
    members, test = federation
    real = simulation.importlib.util.find_spec
    monkeypatch.setattr(simulation.importlib.util, "find_spec", lambda name: None if name == "ray" else real(name))
    with pytest.raises(LearningError, match=r"pip install 'fairshare\[simulation\]'"):
        simulation.run_on_simulation_engine(spec(members, test), lambda u: u.global_params)


def _simulated_node(partition: int) -> Context:
    config = {"partition-id": partition, "num-partitions": 2}
    return Context(run_id=1, node_id=7, node_config=config, state=RecordDict(), run_config={})


def test_a_simulated_node_becomes_its_partitions_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "members.json"
    members = [
        {"member": f"m{k}", "data-path": f"/data/m{k}.npz", "behaviour": "honest", "key-path": ""} for k in (0, 1)
    ]
    manifest.write_text(json.dumps(members))
    monkeypatch.setenv(simulation.MEMBERS_ENV, str(manifest))
    context = _simulated_node(1)
    assert member_of_partition(None, context, lambda _msg, ctx: ctx.node_config["member"]) == "m1"
    assert context.node_config["data-path"] == "/data/m1.npz"
    with pytest.raises(LearningError, match="partition 2 has no member: the members file .* lists 2"):
        member_of_partition(None, _simulated_node(2), lambda _msg, ctx: None)
    # a real SuperNode's own settings are never replaced
    real = Context(
        run_id=1, node_id=8, node_config={"member": "own", "partition-id": 0}, state=RecordDict(), run_config={}
    )
    assert member_of_partition(None, real, lambda _msg, ctx: ctx.node_config["member"]) == "own"


def test_a_simulated_node_without_a_members_file_says_how_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(simulation.MEMBERS_ENV, raising=False)
    with pytest.raises(LearningError, match="FAIRSHARE_SIMULATION_MEMBERS"):
        member_of_partition(None, _simulated_node(0), lambda _msg, ctx: None)
