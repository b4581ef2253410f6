"""Validators through the real CLI: the demo's three validators decide the scores; one dishonest validator moves
no pay and is named; a consortium file without [[validators]] keeps a single scorer, labelled as such."""

from __future__ import annotations

import json
from pathlib import Path

from .test_end_to_end import REPO, demo, fairshare  # noqa: F401  (demo is the module's honest run)


def _payouts(summary: dict) -> dict[str, int]:
    return {m["name"]: m["payout"] for m in summary["members"]}


def test_the_demo_scores_are_the_validators_medians(demo) -> None:  # noqa: F811
    home, summary = demo
    assert all(r["scorer"] == "committee" for r in summary["rounds"])
    assert all(set(r["validators"]) == {"coordinator", "st-marys", "riverside-general"} for r in summary["rounds"])
    report = json.loads(fairshare("audit", "--json", home=home).stdout)
    check = next(c for c in report["checks"] if c["name"] == "validators' medians")
    assert check["ok"] and "3 rounds by the validators' medians" in check["detail"]
    assert [s["scorer"] for s in report["scoring"]] == ["committee"] * 3


def test_one_inflating_validator_is_held_inside_the_honest_validators_range_and_named(tmp_path: Path) -> None:
    """The median keeps a 10x inflation inside the range of the honest validators' own measurements.

    Honest validators measure on different rows, so they disagree a little; one liar of three can move the median
    only within that disagreement (to the other honest value), never towards its own 10x. With honest validators
    that agree (same rows), the pay moves by exactly 0: tests/ledger/test_committee.py."""
    config = (REPO / "examples" / "healthcare.toml").read_text()
    config = config.replace(
        '[[validators]]\nname = "riverside-general"\n',
        '[[validators]]\nname = "riverside-general"\nbehaviour = "inflate"\ntarget = "lakeside-oncology"\n',
    )
    path = tmp_path / "inflating.toml"
    path.write_text(config)
    out = tmp_path / "out"
    result = fairshare("demo", "--config", str(path), "--rounds", "3", "--out", str(out), home=tmp_path)
    assert "audit OK" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert all(r["validators"]["riverside-general"].startswith("outlier") for r in summary["rounds"])

    from fairshare.consortium.session import open_run
    from fairshare.ledger.committee import CommitteeClient

    run = open_run(tmp_path)
    try:
        liar = run.record.validator("riverside-general").address
        target = run.record.member("lakeside-oncology").address
        rounds = {r.round_id: r for r in run.ledger.rounds()}
        ballots = [b for b in CommitteeClient(run.chain, run.deployment).ballots() if b.finalized]
    finally:
        run.chain.close()
    assert len(ballots) == 3
    for ballot in ballots:
        record = rounds[ballot.round_id]
        j = record.members.index(target)
        honest = [r.scores[j] for v, r in ballot.reveals.items() if v != liar]
        assert min(honest) <= record.scores[j] <= max(honest)
        assert ballot.reveals[liar].scores[j] > 5 * max(honest)


def test_a_consortium_without_validators_has_a_single_scorer(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = fairshare("demo", "--config", "examples/finance.toml", "--rounds", "2", "--out", str(out), home=tmp_path)
    assert "scores: single scorer (the coordinator)" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert [r["scorer"] for r in summary["rounds"]] == ["single scorer"] * 2
    check = next(c for c in summary["audit"]["checks"] if c["name"] == "validators' medians")
    assert check["ok"] and "by a single scorer" in check["detail"]
