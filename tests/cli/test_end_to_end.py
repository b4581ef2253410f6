"""The real CLI, end to end, on the embedded chain at a small size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def fairshare(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAIRSHARE_HOME": str(home), "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "fairshare", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"fairshare {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("home")
    out = home / "out"
    result = fairshare("demo", "--rounds", "3", "--out", str(out), home=home)
    assert "audit OK" in result.stdout
    return home, json.loads((out / "summary.json").read_text())


def test_demo_pays_members_exactly_and_the_free_rider_nothing(demo) -> None:
    _, summary = demo
    members = {m["name"]: m for m in summary["members"]}
    revenue = summary["revenue"]
    assert revenue > 0
    assert sum(m["payout"] for m in members.values()) + summary["remainder"] == revenue
    assert members["idle-health"]["payout"] <= revenue // 100
    assert all(m["withdrawn"] == m["payout"] for m in members.values())
    assert 0 <= summary["remainder"] <= len(members)
    assert summary["audit"]["ok"] and len(summary["rounds"]) == 3
    assert all(len(r["model_hash"]) == 64 for r in summary["rounds"])
    assert summary["chain"]["contracts"]["revenue_shares"].startswith("0x")
    vault = summary["vault"]  # customers paid on chain; the members' revenue came out of the vault
    assert vault["deposited"] == vault["settled"] == revenue and vault["refunded"] == vault["balance"] == 0


def test_audit_and_status_read_the_same_run_from_another_process(demo) -> None:
    home, _ = demo
    report = json.loads(fairshare("audit", "--json", home=home).stdout)
    assert report["ok"] and {c["name"] for c in report["checks"]} >= {"money conserved", "model artifacts match chain"}
    status = fairshare("status", home=home).stdout
    assert "idle-health" in status and "treasury" in status


def test_a_second_demo_on_the_same_chain_leaves_the_first_intact(demo) -> None:
    home, first = demo
    fairshare("demo", "--rounds", "2", "--members", "3", home=home)
    report = json.loads(fairshare("audit", "--json", home=home).stdout)
    assert report["ok"]
    first_run = Path(first["run"])
    assert len(list((first_run / "models").glob("round-*.npz"))) == 3


def test_the_simulation_engine_runs_the_same_loop_to_the_same_models(demo, tmp_path: Path) -> None:
    """`--runtime simulation`: members' ClientApps on Flower's Simulation Engine (Ray), signed, valued, recorded."""
    pytest.importorskip("ray", reason="the Simulation Engine needs the simulation extra (make test installs it)")
    _, in_process = demo
    out = tmp_path / "out"
    result = fairshare("demo", "--rounds", "3", "--runtime", "simulation", "--out", str(out), home=tmp_path / "home")
    assert "audit OK" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert [r["model_hash"] for r in summary["rounds"]] == [r["model_hash"] for r in in_process["rounds"]]
    assert [m["payout"] for m in summary["members"]] == [m["payout"] for m in in_process["members"]]


def test_an_unknown_runtime_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    result = fairshare("demo", "--runtime", "ray-cluster", home=tmp_path / "home", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "unknown training runtime 'ray-cluster'; expected one of in-process, simulation" in result.stderr
    assert not (tmp_path / "home").exists()


def test_a_tampered_model_artifact_fails_the_audit(tmp_path: Path) -> None:
    fairshare("demo", "--rounds", "2", "--members", "3", home=tmp_path)
    run = next((tmp_path / "runs" / "healthcare").glob("*"))
    artifact = run / "models" / "round-2.npz"
    import numpy as np

    with np.load(artifact) as data:
        np.savez(artifact, p0=data["p0"] * 1.01, p1=data["p1"])
    result = fairshare("audit", home=tmp_path, check=False)
    assert result.returncode == 2
    assert "different model for rounds [2]" in result.stdout


def test_finance_example_runs(tmp_path: Path) -> None:
    result = fairshare("demo", "--config", "examples/finance.toml", "--rounds", "2", home=tmp_path)
    assert "audit OK" in result.stdout and "lazy-fintech" in result.stdout


def test_anvil_and_the_embedded_chain_pay_the_same(demo, anvil_url: str, anvil_key: str, tmp_path: Path) -> None:
    _, embedded = demo
    out = tmp_path / "out"
    fairshare("demo", "--rounds", "3", "--chain", anvil_url, "--out", str(out), home=tmp_path)
    on_anvil = json.loads((out / "summary.json").read_text())
    assert on_anvil["chain"]["chain_id"] == 31337 and on_anvil["audit"]["ok"]
    payouts = lambda s: {m["name"]: m["payout"] for m in s["members"]}  # noqa: E731
    assert payouts(on_anvil) == payouts(embedded)


def test_private_demo_with_a_forger_pays_the_forger_nothing_and_reports_epsilon(tmp_path: Path) -> None:
    """DP on (server-side clipping), one member signs with a key that is not its account."""
    config = (REPO / "examples" / "healthcare.toml").read_text()
    config = config.replace('behaviour = "free_rider"', 'behaviour = "forger"')
    config += '\n[privacy]\nclipping = "server"\nnoise_multiplier = 0.5\nclipping_norm = 2.0\n'
    path = tmp_path / "private.toml"
    path.write_text(config)
    out = tmp_path / "out"
    result = fairshare("demo", "--config", str(path), "--rounds", "3", "--out", str(out), home=tmp_path)
    assert "update refused" in result.stdout and "privacy spent" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    forger = next(m for m in summary["members"] if m["behaviour"] == "forger")
    assert forger["payout"] == 0 and forger["shares"] == 0
    for record in summary["rounds"]:
        assert record["rejected"][forger["name"]].startswith("rejected: signature does not match")
    epsilon = summary["privacy"]["epsilon"]
    honest = [m["name"] for m in summary["members"] if m["behaviour"] == "honest"]
    assert all(epsilon[m] > 0 for m in honest) and epsilon.get(forger["name"], 0.0) == 0.0
    report = json.loads(fairshare("audit", "--json", home=tmp_path).stdout)
    assert report["ok"]


def test_a_resumed_private_run_keeps_composing_each_members_budget(tmp_path: Path) -> None:
    config = (REPO / "examples" / "healthcare.toml").read_text()
    config += '\n[privacy]\nclipping = "client"\nnoise_multiplier = 1.0\nclipping_norm = 1.0\n'
    path = tmp_path / "private.toml"
    path.write_text(config)
    fairshare("init", "--config", str(path), "--members", "3", home=tmp_path)
    fairshare("train", "--rounds", "2", home=tmp_path)
    fairshare("train", "--rounds", "1", home=tmp_path)  # a new process: the budget comes back from the chain
    from fairshare.consortium.session import open_run

    run = open_run(tmp_path)
    try:
        records = [json.loads(r.params)["privacy"] for r in run.ledger.rounds()]
    finally:
        run.chain.close()
    assert [r["clipping"] for r in records] == ["client"] * 3
    for member, eps in records[2]["epsilon"].items():
        assert eps > records[1]["epsilon"][member] > records[0]["epsilon"][member] > 0


def test_a_demo_paid_out_by_merkle_roots_ends_with_audit_ok(tmp_path: Path) -> None:
    """Roots for a small consortium (the setting; beyond 128 members it is automatic): rounds published as epochs,
    revenue in a revenue epoch, every member's claim relayed, the audit recomputing every root and claim."""
    config = tmp_path / "roots.toml"
    text = (REPO / "examples" / "healthcare.toml").read_text()
    config.write_text(text.replace("[revenue]\n", '[revenue]\npayout = "roots"\n', 1))
    out = tmp_path / "out"
    result = fairshare("demo", "--config", str(config), "--rounds", "4", "--out", str(out), home=tmp_path / "home")
    assert "Governance: pay out by Merkle roots" in result.stdout and "audit OK" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    checks = {c["name"]: c for c in summary["audit"]["checks"]}
    assert checks["entitlement roots recompute"]["ok"] and checks["claims match the roots"]["ok"]
    assert checks["round records on disk match chain"]["ok"]
    # 4 rounds (value vests from round 3 on, so nothing is owed before it), 2 revenue epochs
    assert "6 epochs recomputed" in checks["entitlement roots recompute"]["detail"]
    members = {m["name"]: m for m in summary["members"]}
    assert sum(m["payout"] for m in members.values()) + summary["remainder"] == summary["revenue"] > 0
    assert all(m["withdrawn"] == m["payout"] for m in members.values())
    assert 0 <= summary["remainder"] <= len(members) * 3
    assert members["idle-health"]["payout"] <= summary["revenue"] // 100
    # the customers' deposits paid the members (settled through the vault into EntitlementRoots): before, the
    # operator paid from its own funds and the deposits stayed in the vault, refundable
    vault = summary["vault"]
    assert vault["deposited"] == vault["settled"] == summary["revenue"] and vault["refunded"] == vault["balance"] == 0
    money = checks["vault: money leaves only by settlement or refund"]
    assert money["ok"] and f"0 into RevenueShares, {summary['revenue']} into EntitlementRoots" in money["detail"]
    cut = sum(s["treasury_cut"] for s in summary["settlements"])  # members' claims: what customers paid less the cut
    claimed = sum(m["withdrawn"] for name, m in members.items() if name != "treasury")
    assert members["treasury"]["withdrawn"] == cut > 0 and claimed + summary["remainder"] == summary["revenue"] - cut
    record = next((tmp_path / "home" / "runs").glob("*/*/models/round-1.record.json"))
    record.write_text(record.read_text().replace('"values"', '"values" ', 1))  # one byte more, same meaning
    tampered = fairshare("audit", "--json", home=tmp_path / "home", check=False)
    failed = {c["name"] for c in json.loads(tampered.stdout)["checks"] if not c["ok"]}
    assert tampered.returncode == 2 and failed == {"round records on disk match chain"}


def test_a_roots_run_with_validators_records_rounds_too_large_for_the_committees_log(tmp_path: Path) -> None:
    """Payouts by roots override the validators' committee, whose round log holds 2048 bytes of parameters: 25
    members' record is larger, and must go to the roots (beside the model, its hash on chain) without a hand-off."""
    config = tmp_path / "roots.toml"
    text = (REPO / "examples" / "healthcare.toml").read_text()
    config.write_text(text.replace("[revenue]\n", '[revenue]\npayout = "roots"\n', 1))
    home = tmp_path / "home"
    result = fairshare("demo", "--config", str(config), "--members", "25", "--rounds", "1", home=home)
    assert "audit OK" in result.stdout
    from fairshare.consortium.session import open_run

    run = open_run(home)
    try:
        (record,) = run.ledger.rounds()
        assert len(record.members) == 25 and json.loads(run.paths.model_file(1).with_suffix(".record.json").read_text())
        assert not (run.paths.root / "rounds").exists()  # nobody was handed a round the roots record
    finally:
        run.chain.close()
