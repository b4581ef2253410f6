"""A member governance removes is left out of training from the next round, in either payout mode, through the real
CLI: it is neither trained, valued nor paid, the others' round is recorded, and what was recorded stays audited.

Before, the coordinator kept training every member in run.json: the contracts (which pay admitted members only)
refused the round, so one removal stopped the consortium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_end_to_end import REPO, fairshare


@pytest.mark.parametrize("payout", ["roots", "accumulator"])
def test_a_removed_member_is_left_out_of_the_next_round_and_the_audit_stays_ok(tmp_path: Path, payout: str) -> None:
    config = tmp_path / "consortium.toml"
    text = (REPO / "examples" / "healthcare.toml").read_text()
    config.write_text(text.replace("[revenue]\n", f'[revenue]\npayout = "{payout}"\n', 1))
    home = tmp_path / "home"
    fairshare("demo", "--config", str(config), "--rounds", "1", home=home)
    from fairshare.consortium.session import open_run

    run = open_run(home)
    try:
        members = {m.name: m.address for m in run.record.members}
        (first,) = run.ledger.rounds()
        assert members["idle-health"] in first.members
    finally:
        run.chain.close()

    opened = fairshare("propose", "remove", "--member", "st-marys", "--account", members["idle-health"], home=home)
    proposal = opened.stdout.split()[1]
    for member in members:
        fairshare("vote", proposal, "--member", member, home=home)
    fairshare("execute", proposal, "--wait", home=home)

    trained = fairshare("train", "--rounds", "1", home=home)
    assert "Members removed by governance" in trained.stdout and "idle-health" in trained.stdout
    run = open_run(home)
    try:
        second = max(run.ledger.rounds(), key=lambda r: r.round_id)
        assert second.round_id == 2
        assert set(second.members) == {a for n, a in members.items() if n != "idle-health"}
    finally:
        run.chain.close()
    audited = fairshare("audit", "--json", home=home)
    report = json.loads(audited.stdout)
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    if payout == "roots":
        checks = {c["name"]: c for c in report["checks"]}
        assert checks["roots payees were members"]["ok"] and checks["entitlement roots recompute"]["ok"]
