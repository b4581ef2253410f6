"""The valuation policy (drop_flagged, noise_rule) is governed: read from the Governor, changed by a vote."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_end_to_end import REPO, fairshare

MEMBERS = ("st-marys", "northgate-clinic", "riverside-general", "lakeside-oncology", "idle-health")


def rounds(home: Path) -> list:
    from fairshare.consortium.session import open_run

    run = open_run(home)
    try:
        return sorted(run.ledger.rounds(), key=lambda r: r.round_id)
    finally:
        run.chain.close()


def test_members_vote_a_new_valuation_policy_and_the_next_round_applies_it(tmp_path: Path) -> None:
    fairshare("init", "--config", str(REPO / "examples" / "healthcare.toml"), home=tmp_path)
    fairshare("train", "--rounds", "2", home=tmp_path)
    (first, _) = rounds(tmp_path)
    assert json.loads(first.params)["params"].items() >= {"noise_rule": "pay", "drop_flagged": True}.items()
    assert all(s == 0 for s in first.shares)  # one round is no evidence: nothing vests on round 1 alone

    opened = fairshare(
        "propose", "valuation", "--member", MEMBERS[0], "--noise-rule", "exclude", "--keep-flagged", home=tmp_path
    )
    proposal = opened.stdout.split()[1]
    for member in MEMBERS:
        fairshare("vote", proposal, "--member", member, home=tmp_path)
    fairshare("execute", proposal, "--wait", home=tmp_path)
    assert '{"drop_flagged":false,"noise_rule":"exclude"}' in fairshare("proposals", home=tmp_path).stdout

    fairshare("train", "--rounds", "1", home=tmp_path)  # a new process: settlement state comes from the chain
    third = rounds(tmp_path)[2]
    params = json.loads(third.params)
    assert params["params"]["noise_rule"] == "exclude" and params["params"]["drop_flagged"] is False
    totals: dict[str, int] = {}
    for record in rounds(tmp_path):
        for address, shares in zip(record.members, record.shares, strict=True):
            totals[address] = totals.get(address, 0) + shares
    vested = set(params["vested"])
    assert vested and "idle-health" not in vested
    assert sum(totals.values()) > 0


def test_a_bad_policy_is_refused_naming_the_key(tmp_path: Path) -> None:
    fairshare("init", "--config", str(REPO / "examples" / "healthcare.toml"), "--members", "3", home=tmp_path)
    result = fairshare(
        "propose", "valuation", "--member", MEMBERS[0], "--noise-rule", "maybe", home=tmp_path, check=False
    )
    assert result.returncode == 1 and "noise_rule must be one of pay, exclude" in result.stderr
    assert "Traceback" not in result.stderr
