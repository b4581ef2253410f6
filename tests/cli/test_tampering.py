"""Issue 18's tampering with local files, through the real CLI: the audit reports each one, money is safe.

One demo run; each test works on a copy of its home, edits one thing the operator controls (the local event
index, a model artifact, the usage store, run.json) and runs the CLI as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.test_end_to_end import REPO, fairshare


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("tamper")
    assert "audit OK" in fairshare("demo", "--rounds", "3", "--out", str(home / "out"), home=home).stdout
    return home


@pytest.fixture
def home(original: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(original, copy)
    return copy


def _run_folder(home: Path) -> Path:
    return next((home / "runs").glob("*/*"))


def _audit(home: Path) -> dict:
    result = fairshare("audit", "--json", home=home, check=False)
    report = json.loads(result.stdout)
    assert result.returncode == (0 if report["ok"] else 2)
    return {c["name"]: c for c in report["checks"]} | {"ok": report["ok"]}


def test_edited_scores_and_a_forged_vote_in_the_local_index_are_reported(home: Path) -> None:
    db = sqlite3.connect(_run_folder(home) / "events.sqlite")
    with db:
        row_id, args = db.execute("SELECT rowid, args FROM events WHERE name = 'RoundRecorded' LIMIT 1").fetchone()
        record = json.loads(args)
        record["scores"] = [10**15 for _ in record["scores"]]
        db.execute("UPDATE events SET args = ? WHERE rowid = ?", (json.dumps(record), row_id))
        vote_id, vote = db.execute("SELECT rowid, args FROM events WHERE name = 'Voted' LIMIT 1").fetchone()
        forged = json.loads(vote) | {"voter": "0x" + "12" * 20}
        db.execute("UPDATE events SET args = ? WHERE rowid = ?", (json.dumps(forged), vote_id))
    db.close()
    checks = _audit(home)
    assert not checks["ok"]
    assert not checks["local event index is the chain's"]["ok"]
    assert "2 cached events are not the chain's" in checks["local event index is the chain's"]["detail"]
    assert checks["round records intact"]["ok"] and checks["governance history"]["ok"]  # read from the chain
    assert _audit(home)["ok"]  # the cache was rebuilt from the chain


def test_a_swapped_model_artifact_fails_the_audit(home: Path) -> None:
    models = _run_folder(home) / "models"
    first, last = models / "round-1.npz", models / "round-3.npz"
    shutil.copy(last, first)
    checks = _audit(home)
    assert not checks["model artifacts match chain"]["ok"]
    assert "different model for rounds [1]" in checks["model artifacts match chain"]["detail"]


def test_calls_marked_unsettled_are_flagged_and_never_paid_twice(home: Path) -> None:
    run = _run_folder(home)
    db = sqlite3.connect(run / "usage.sqlite")
    with db:
        db.execute("UPDATE usage SET settlement_id = NULL WHERE rowid IN (SELECT rowid FROM usage LIMIT 10)")
    db.close()
    checks = _audit(home)
    assert not checks["usage store matches settlements"]["ok"]
    before = json.loads(fairshare("audit", "--json", home=home, check=False).stdout)["deposited"]
    settled = fairshare("settle", home=home, check=False)
    after = json.loads(fairshare("audit", "--json", home=home, check=False).stdout)["deposited"]
    assert after == before, settled.stdout + settled.stderr  # the chain paid nothing for the doctored rows


def test_a_member_name_pointing_at_another_address_is_refused(home: Path) -> None:
    run = _run_folder(home)
    record = json.loads((run / "run.json").read_text())
    first, second = record["members"][0], record["members"][1]
    first["address"], second["address"] = second["address"], first["address"]
    (run / "run.json").write_text(json.dumps(record))
    result = fairshare("withdraw", "--member", first["name"], home=home, check=False)
    assert result.returncode == 1 and "the Governor admitted that address as" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}")


def test_a_third_party_audits_the_embedded_chain_over_json_rpc_without_a_key(home: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "FAIRSHARE_DEPLOYER_KEY"} | {"FAIRSHARE_HOME": str(home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "fairshare", "chain", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(port)
        result = subprocess.run(
            [sys.executable, "-m", "fairshare", "audit", "--json", "--chain", f"http://127.0.0.1:{port}"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["ok"]
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0


def test_sigterm_stops_the_anvil_node(tmp_path: Path, anvil_url: str) -> None:
    port = _free_port()
    env = {**os.environ, "FAIRSHARE_HOME": str(Path.home() / ".cache" / "fairshare")}
    node = subprocess.Popen(
        [sys.executable, "-m", "fairshare", "chain", "node", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for(port)
    node.send_signal(signal.SIGTERM)
    node.wait(timeout=30)
    time.sleep(0.5)
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "anvil still listens after SIGTERM"
