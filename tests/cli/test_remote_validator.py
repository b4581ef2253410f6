"""A validator on its own process and key (`fairshare validator start`), over anvil: the coordinator waits for its
commit and reveal, its vector counts in every median, and the audit checks it like the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .test_end_to_end import REPO, fairshare


def test_a_validator_on_its_own_process_commits_and_reveals_every_round(
    anvil_url: str, anvil_key: str, tmp_path: Path
) -> None:
    home, auditor = tmp_path / "home", tmp_path / "auditor"
    auditor.mkdir()
    created = fairshare("node", "account", "--out", str(auditor / "account.json"), home=home).stdout
    address = next(word for word in created.split() if word.startswith("0x"))
    config = (REPO / "examples" / "healthcare.toml").read_text()
    config = config.replace(
        '[[validators]]\nname = "riverside-general"\n',
        f'[[validators]]\nname = "regional-auditor"\naddress = "{address}"\n',
    )
    path = tmp_path / "remote.toml"
    path.write_text(config)
    fairshare("init", "--config", str(path), "--members", "3", "--chain", anvil_url, home=home)
    run = next((home / "runs" / "healthcare").glob("*"))
    record = json.loads((run / "run.json").read_text())
    # in a real consortium the auditor brings its own rows; here they are its cut of the holdout, copied over
    (auditor / "validation.npz").write_bytes((run / "validators" / "regional-auditor.npz").read_bytes())
    (auditor / "validator.toml").write_text(
        f'chain = "{anvil_url}"\ncommittee = "{record["deployment"]["committee"]}"\n'
        f'account_key = "account.json"\ndata = "validation.npz"\nhandoff = "{run / "rounds"}"\n'
    )
    node = subprocess.Popen(
        [sys.executable, "-m", "fairshare", "validator", "start", "--config", "validator.toml", "--ballots", "2"],
        cwd=auditor,
        env={**os.environ, "FAIRSHARE_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        trained = fairshare("train", "--rounds", "2", home=home)
        output, _ = node.communicate(timeout=120)
    finally:
        if node.poll() is None:
            node.kill()
            node.communicate()
    assert node.returncode == 0, output
    assert output.count("committed") == 2 and output.count("revealed") >= 2
    assert "regional-auditor revealed" in trained.stdout
    report = json.loads(fairshare("audit", "--json", home=home).stdout)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    assert all(address in s["revealed"] and not s["missing"] for s in report["scoring"])
    log = json.loads((auditor / "validation.settlement.json").read_text())  # its own settlement, beside its rows
    assert log["committee"] == record["deployment"]["committee"].lower()
    assert [r["round"] for r in log["rounds"]] == [1, 2]


def test_a_validator_that_never_shows_up_is_named_and_the_round_goes_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    address = "0x" + "ab" * 20
    config = (REPO / "examples" / "healthcare.toml").read_text()
    config = config.replace(
        '[[validators]]\nname = "riverside-general"\n',
        f'[[validators]]\nname = "regional-auditor"\naddress = "{address}"\n',
    )
    config = config.replace("challenge_blocks = 5", "challenge_blocks = 5\nwait_seconds = 1")
    path = tmp_path / "absent.toml"
    path.write_text(config)
    fairshare("init", "--config", str(path), "--members", "3", home=home)
    trained = fairshare("train", "--rounds", "1", home=home).stdout
    assert "regional-auditor missing reveal" in trained
    report = json.loads(fairshare("audit", "--json", home=home).stdout)
    check = next(c for c in report["checks"] if c["name"] == "validators' medians")
    assert report["ok"] and f"missing {address.lower()}" in check["detail"].lower()
