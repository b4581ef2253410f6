"""Payouts by roots pay members only, through the real CLI: once governance removes a member, the coordinator's next
round stops with one line naming it, before anything is published, and what was recorded stays audited."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_end_to_end import REPO, fairshare


def test_a_round_scoring_a_removed_member_is_refused_by_name_and_nothing_recorded_is_lost(tmp_path: Path) -> None:
    config = tmp_path / "roots.toml"
    text = (REPO / "examples" / "healthcare.toml").read_text()
    config.write_text(text.replace("[revenue]\n", '[revenue]\npayout = "roots"\n', 1))
    home = tmp_path / "home"
    fairshare("demo", "--config", str(config), "--rounds", "1", home=home)
    from fairshare.consortium.session import open_run

    run = open_run(home)
    try:
        members = {m.name: m.address for m in run.record.members}
        published = len(run.roots.events("ScoresPublished"))
    finally:
        run.chain.close()

    opened = fairshare("propose", "remove", "--member", "st-marys", "--account", members["idle-health"], home=home)
    proposal = opened.stdout.split()[1]
    for member in members:
        fairshare("vote", proposal, "--member", member, home=home)
    fairshare("execute", proposal, "--wait", home=home)

    refused = fairshare("train", "--rounds", "1", home=home, check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"the Governor has not admitted idle-health ({members['idle-health']})" in refused.stderr
    assert "st-marys" not in refused.stderr  # only the one that is not a member is named

    audited = fairshare("audit", "--json", home=home)
    checks = {c["name"]: c for c in json.loads(audited.stdout)["checks"]}
    assert checks["roots payees were members"]["ok"] and checks["entitlement roots recompute"]["ok"]
    run = open_run(home)
    try:
        assert len(run.roots.events("ScoresPublished")) == published  # the refused round sent nothing
    finally:
        run.chain.close()
