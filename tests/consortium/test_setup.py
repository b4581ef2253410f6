"""prepare_data: every member's rows labelled by one class list, and no member trains on the coordinator's rows."""

from pathlib import Path

import numpy as np
import pytest

from fairshare.config import ConsortiumConfig
from fairshare.consortium.setup import prepare_data
from fairshare.consortium.workspace import new_run
from fairshare.errors import DataError
from fairshare.learning.data import Dataset, holdout, load_builtin, load_partition

NAMES = ("barolo", "grignolino", "nebbiolo")


def write_csv(path: Path, ds: Dataset, rows: np.ndarray, names: tuple[str, ...] = NAMES) -> Path:
    lines = [",".join([*ds.feature_names, "label"])]
    lines += [",".join([*(repr(float(v)) for v in ds.X[r]), names[ds.y[r]]]) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def prepared(tmp_path: Path, config: dict) -> tuple[dict[str, Dataset], Dataset, Dataset]:
    paths = new_run(tmp_path / "home", "c")
    sizes = prepare_data(ConsortiumConfig.model_validate(config), paths)
    members = {name: load_partition(paths.data_dir / f"{name}.npz") for name in sizes}
    coordinator = (load_partition(paths.coordinator_dir / f"{s}.npz") for s in ("validation", "test"))
    return members, *coordinator


def test_csv_members_missing_classes_share_the_consortium_class_list(tmp_path: Path) -> None:
    wine = load_builtin("wine")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(wine))
    no_nebbiolo = order[:60][wine.y[order[:60]] != 2]
    only_barolo = order[60:120][wine.y[order[60:120]] == 0]
    config = {
        "name": "c",
        "data": {
            "dataset": None,
            "validation_csv": str(write_csv(tmp_path / "v.csv", wine, order[120:150])),
            "test_csv": str(write_csv(tmp_path / "t.csv", wine, order[150:])),
        },
        "members": [
            {"name": "a", "csv": str(write_csv(tmp_path / "a.csv", wine, no_nebbiolo))},
            {"name": "b", "csv": str(write_csv(tmp_path / "b.csv", wine, only_barolo))},
        ],
    }
    members, validation, _ = prepared(tmp_path, config)
    assert {ds.n_classes for ds in (*members.values(), validation)} == {3}
    assert members["a"].y.tolist() == wine.y[no_nebbiolo].tolist()  # same index for the same class everywhere
    assert set(members["b"].y.tolist()) == {0}


def test_a_label_outside_the_declared_classes_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    wine = load_builtin("wine")
    config = {
        "name": "c",
        "data": {
            "dataset": None,
            "classes": list(NAMES),
            "validation_csv": str(write_csv(tmp_path / "v.csv", wine, np.arange(0, 178, 5))),
            "test_csv": str(write_csv(tmp_path / "t.csv", wine, np.arange(1, 178, 5))),
        },
        "members": [
            {"name": "a", "csv": str(write_csv(tmp_path / "a.csv", wine, np.arange(2, 178, 5)))},
            {"name": "b", "csv": str(write_csv(tmp_path / "b.csv", wine, np.arange(3, 40), ("x", "y", "rosé")))},
        ],
    }
    with pytest.raises(DataError, match=r"b\.csv, line 2: label 'x' is not one of the consortium's classes"):
        prepared(tmp_path, config)


@pytest.mark.parametrize("coordinator_csv", [True, False])
def test_no_member_row_is_a_validation_or_test_row(tmp_path: Path, coordinator_csv: bool) -> None:
    """CSV members beside bundled-split members: the split members are cut after the holdout."""
    cancer = load_builtin("breast_cancer")
    _, val, test = holdout(cancer, 0.2, 0.2, seed=7)
    digits = ("0", "1")
    index = {row.tobytes(): k for k, row in enumerate(cancer.X)}
    own = np.array([index[r.tobytes()] for r in val.X[:20]])  # a CSV member that happens to hold rows too
    data = {"dataset": "breast_cancer", "seed": 7}
    if coordinator_csv:
        data |= {
            "validation_csv": str(write_csv(tmp_path / "v.csv", val, np.arange(len(val)), digits)),
            "test_csv": str(write_csv(tmp_path / "t.csv", test, np.arange(len(test)), digits)),
        }
    else:
        data |= {"validation_csv": None}
    members = [{"name": f"m{k}"} for k in range(3)]
    if coordinator_csv:
        members.append({"name": "own", "csv": str(write_csv(tmp_path / "own.csv", cancer, own, digits))})
    members_data, validation, test_split = prepared(tmp_path, {"name": "c", "data": data, "members": members})
    held_out = {r.tobytes() for r in np.concatenate([validation.X, test_split.X])}
    for name in ("m0", "m1", "m2"):
        assert not {r.tobytes() for r in members_data[name].X} & held_out, name
    split_rows = sum(len(members_data[f"m{k}"]) for k in range(3))
    assert split_rows == len(cancer) - len(validation) - len(test_split)
