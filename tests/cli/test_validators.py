"""Validators through the real CLI: the demo's three validators decide the scores; one dishonest validator moves
no pay and is named; each validator settles across rounds on its own values, across restarts; a torch model is
valued by validators too; a consortium file without [[validators]] keeps a single scorer, labelled as such."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairshare.consortium.validators import read_handoff

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


def _ballots(home: Path) -> tuple[dict, dict, list]:
    from fairshare.consortium.session import open_run
    from fairshare.ledger.committee import CommitteeClient

    run = open_run(home)
    try:
        names = {m.address: m.name for m in run.record.members}
        validators = {v.name: v.address for v in run.record.validators}
        rounds = {r.round_id: r for r in run.ledger.rounds()}
        ballots = [b for b in CommitteeClient(run.chain, run.deployment).ballots() if b.finalized]
    finally:
        run.chain.close()
    return names, validators, [(rounds[b.round_id], b) for b in ballots]


def test_validators_settle_across_rounds_and_a_restarted_run_carries_on(tmp_path: Path) -> None:
    """As with a single scorer, round 1 alone pays nobody; a new process (and a validator that lost its log)
    carries each validator's settlement on, and every reveal is the replay of that validator's own log: what it
    holds each member has earned so far less what the chain had recorded for it before the round."""
    from fairshare.consortium.validator_settlement import SettlementLog
    from fairshare.valuation import Settlement

    fairshare("init", "--config", str(REPO / "examples" / "healthcare.toml"), home=tmp_path)
    fairshare("train", "--rounds", "1", home=tmp_path)
    folder = next((tmp_path / "runs" / "healthcare").glob("*")) / "validators"
    _, _, [(first, _)] = _ballots(tmp_path)
    assert all(s == 0 for s in first.scores)  # one round is no evidence, whoever scores
    lost = folder / "st-marys.settlement.json"
    before = lost.read_text()
    lost.unlink()  # st-marys's validator lost its log: rebuilt from round 1's hand-off before round 2
    fairshare("train", "--rounds", "2", home=tmp_path)  # a new process
    names, validators, ballots = _ballots(tmp_path)
    committee = json.loads((folder.parent / "run.json").read_text())["deployment"]["committee"]
    assert json.loads(lost.read_text())["rounds"][0] == json.loads(before)["rounds"][0]
    for name, address in validators.items():
        log = SettlementLog(folder / f"{name}.settlement.json", committee)
        assert sorted(log.rounds) == [1, 2, 3]
        replay = Settlement()
        paid = dict.fromkeys(names.values(), 0)  # what the chain recorded before each round
        for record, ballot in sorted(ballots, key=lambda pair: pair[0].round_id):
            observed = log.rounds[record.round_id]
            replay.settle(observed.values, observed.flags)
            earned = {m: round(replay.series[m].credited * 10**9) for m in observed.values}
            expected = [max(0, earned[names[a]] - paid[names[a]]) for a in record.members]
            assert list(ballot.reveals[address].scores) == expected, (name, record.round_id)
            paid = {m: paid[m] + s for m, s in zip(map(names.get, record.members), record.scores, strict=True)}
    third = max(ballots, key=lambda pair: pair[0].round_id)[0]
    scores = {names[a]: s for a, s in zip(third.members, third.scores, strict=True)}
    assert scores["idle-health"] == 0 and sum(s > 0 for s in scores.values()) >= 3  # vested on round 3


def test_a_torch_model_is_valued_by_the_validators(tmp_path: Path) -> None:
    """The hand-off carries the model's spec: validators rebuild the imaging example's CNN, not a logistic
    regression from an L2 penalty."""
    pytest.importorskip("torch")
    config = (REPO / "examples" / "imaging.toml").read_text() + (
        '\n[[validators]]\nname = "coordinator"\n\n[[validators]]\nname = "st-marys"\n'
    )
    path = tmp_path / "imaging-validators.toml"
    path.write_text(config)
    fairshare("init", "--config", str(path), "--members", "3", home=tmp_path)
    trained = fairshare("train", "--rounds", "2", home=tmp_path).stdout
    assert "st-marys revealed" in trained
    report = json.loads(fairshare("audit", "--json", home=tmp_path).stdout)
    assert report["ok"] and [s["scorer"] for s in report["scoring"]] == ["committee"] * 2
    folder = next((tmp_path / "runs" / "imaging").glob("*"))
    handoff = read_handoff(folder / "rounds" / "round-2.npz")
    assert handoff.spec.kind == "torch" and handoff.spec.input_shape == (1, 8, 8)
    for name in ("coordinator", "st-marys"):
        rounds = json.loads((folder / "validators" / f"{name}.settlement.json").read_text())["rounds"]
        assert [r["round"] for r in rounds] == [1, 2]
        assert all(r["values"]["st-marys"] > 0 for r in rounds)  # measured with the CNN on its own rows

    # A validator holding the coordinator's own rows measures exactly what the coordinator recorded: same model,
    # same effective sizes for the members each pass keeps, same screening (its own past equals the coordinator's)
    from eth_account import Account

    from fairshare.consortium.validator_settlement import SettlementLog
    from fairshare.consortium.validators import Validator
    from fairshare.learning.data import load_partition

    committee = json.loads((folder / "run.json").read_text())["deployment"]["committee"]
    rows = load_partition(folder / "coordinator" / "validation.npz")
    probe = Validator("probe", Account.create(), 1, rows, SettlementLog(tmp_path / "probe.json", committee))
    recorded = _recorded_values(tmp_path)
    for round_id in (1, 2):
        probe.earned(read_handoff(folder / "rounds" / f"round-{round_id}.npz"), folder / "rounds")
        measured = probe.settlement.rounds[round_id].values
        assert measured == pytest.approx(recorded[round_id], rel=1e-6, abs=1e-9), round_id


def _recorded_values(home: Path) -> dict[int, dict[str, float]]:
    from fairshare.consortium.session import open_run

    run = open_run(home)
    try:
        return {r.round_id: json.loads(r.params)["values"] for r in run.ledger.rounds()}
    finally:
        run.chain.close()
