"""The round hand-off: what the coordinator writes is what a validator reads; a file it cannot use is refused by
name, and a validator whose rows do not fit the round's model says so instead of scoring."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from eth_account import Account

from fairshare.consortium.validator_settlement import SettlementLog
from fairshare.consortium.validators import RoundHandoff, Validator, read_handoff, write_handoff
from fairshare.errors import LearningError
from fairshare.learning.data import Dataset
from fairshare.learning.logistic import LogisticRegression
from fairshare.valuation import ValuationConfig, record_fingerprints
from fairshare.valuation.replication import opaque_keys

MODEL = LogisticRegression(4, 2, l2=0.01)


def handoff() -> RoundHandoff:
    rng = np.random.default_rng(1)
    start = MODEL.init_params()
    rows = {m: rng.normal(size=(6, 4)) for m in ("a", "b")}
    return RoundHandoff(
        round=1,
        global_params=start,
        updates={m: [p + rng.normal(0, 0.1, p.shape) for p in start] for m in rows},
        num_examples={m: 6 for m in rows},
        record_keys=opaque_keys({m: record_fingerprints(x, b"salt") for m, x in rows.items()}),
        config=ValuationConfig(),
        addresses={"a": "0x" + "02" * 20, "b": "0x" + "01" * 20},
        spec=MODEL.spec,
        paid={"a": 5, "b": 0},
    )


def test_a_handoff_reads_back_as_written(tmp_path: Path) -> None:
    written = handoff()
    write_handoff(tmp_path / "round-1.npz", written)
    read = read_handoff(tmp_path / "round-1.npz")
    assert (
        read.spec == MODEL.spec
        and read.config == written.config
        and read.order() == ["0x" + "01" * 20, "0x" + "02" * 20]
    )
    assert all(np.array_equal(read.record_keys[m], written.record_keys[m]) for m in ("a", "b"))
    assert read.sizes(["a", "b"]) == {"a": 6.0, "b": 6.0} and read.paid == {"a": 5, "b": 0}


def test_a_handoff_from_before_model_specs_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "round-1.npz"
    write_handoff(path, handoff())
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if not k.startswith("keys")}
    meta = json.loads(str(arrays.pop("meta")))
    meta["l2"] = meta.pop("model") and 0.01  # the old format: an L2 penalty, no model, no record keys
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    with pytest.raises(LearningError, match=r"round-1.npz is not a round hand-off file.*ask the coordinator"):
        read_handoff(path)


def test_a_validator_whose_rows_do_not_fit_the_model_refuses_to_score(tmp_path: Path) -> None:
    rows = Dataset(np.zeros((5, 3)), np.zeros(5, dtype=np.int64), 2, ("x", "y", "z"), "v")
    validator = Validator("v", Account.create(), 1, rows, SettlementLog(tmp_path / "v.json", "0x" + "ab" * 20))
    with pytest.raises(LearningError, match="validator v: its rows have 3 features.*the round's model takes 4"):
        validator.earned(handoff(), tmp_path)
    assert not (tmp_path / "v.json").exists()  # nothing recorded for a round it could not value
