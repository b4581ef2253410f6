"""A validator's settlement log: its credits are the replay of its own values, kept across restarts, never
counted twice, and never mixed with another consortium's."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairshare.consortium.validator_settlement import SettlementLog
from fairshare.errors import LearningError
from fairshare.valuation import Settlement

COMMITTEE = "0x" + "ab" * 20
ROUNDS = [
    ({"honest": 0.30, "lucky": 0.40, "idle": 0.0}, {}),
    ({"honest": 0.20, "lucky": -0.05, "idle": 0.0}, {}),
    ({"honest": 0.25, "lucky": 0.01, "idle": 0.0}, {"lucky": "held out"}),
    ({"honest": 0.22, "lucky": 0.02, "idle": 0.0}, {}),
]


def test_a_reopened_log_credits_exactly_what_one_settlement_would(tmp_path: Path) -> None:
    path = tmp_path / "v.settlement.json"
    reference = Settlement()
    for round_id, (values, flags) in enumerate(ROUNDS, start=1):
        log = SettlementLog(path, COMMITTEE.upper().replace("0X", "0x"))  # a new process each round
        earned = log.earned(round_id, values, flags)
        reference.settle(values, flags)
        assert earned == {m: reference.series[m].credited for m in values}
    assert SettlementLog(path, COMMITTEE).past(5) == {"honest": 0.97, "lucky": pytest.approx(0.38), "idle": 0.0}


def test_round_one_is_credited_nothing_and_a_restart_keeps_the_evidence(tmp_path: Path) -> None:
    path = tmp_path / "v.settlement.json"
    steady = [{"honest": v, "twin": v, "idle": 0.0} for v in (0.30, 0.20, 0.25)]
    first = SettlementLog(path, COMMITTEE).earned(1, steady[0], {})
    assert all(c == 0 for c in first.values())
    SettlementLog(path, COMMITTEE).earned(2, steady[1], {})
    third = SettlementLog(path, COMMITTEE).earned(3, steady[2], {})
    assert third == {"honest": pytest.approx(0.75), "twin": pytest.approx(0.75), "idle": 0.0}
    assert Settlement().settle(steady[2], {}).credited["honest"] == 0  # a validator that forgot rounds 1-2


def test_a_round_valued_again_replaces_it_and_forgets_later_rounds(tmp_path: Path) -> None:
    path = tmp_path / "v.settlement.json"
    log = SettlementLog(path, COMMITTEE)
    for round_id, (values, flags) in enumerate(ROUNDS[:3], start=1):
        log.earned(round_id, values, flags)
    again = SettlementLog(path, COMMITTEE).earned(2, *ROUNDS[1])  # round 2 re-trained after a crash
    assert sorted(SettlementLog(path, COMMITTEE).rounds) == [1, 2]
    reference = Settlement()
    reference.settle(*ROUNDS[0])
    reference.settle(*ROUNDS[1])
    assert again == {m: reference.series[m].credited for m in ROUNDS[1][0]}


def test_another_consortiums_log_and_a_damaged_one_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "v.settlement.json"
    SettlementLog(path, COMMITTEE).earned(1, *ROUNDS[0])
    with pytest.raises(LearningError, match="settlement log of committee 0xabab.*give this validator its own file"):
        SettlementLog(path, "0x" + "cd" * 20)
    path.write_text('{"committee": "' + COMMITTEE + '", "rounds": [{"round": 1}]}')
    with pytest.raises(LearningError, match=r"v.settlement.json is not a validator's settlement log.*move it aside"):
        SettlementLog(path, COMMITTEE)
    path.write_text('{"committee": "' + COMMITTEE + '", "rounds": [{"round": 1, "values": {"a": NaN}, "flags": {}}]}')
    with pytest.raises(LearningError, match="round 1 has a non-finite value"):
        SettlementLog(path, COMMITTEE)
