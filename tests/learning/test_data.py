import re
from pathlib import Path

import numpy as np
import pytest

from fairshare.errors import DataError
from fairshare.learning.data import (
    BUILTIN_DATASETS,
    Standardizer,
    class_list,
    holdout,
    load_builtin,
    load_csv,
    load_partition,
    partition,
    read_csv,
    save_partition,
    without_rows,
)


@pytest.mark.parametrize("name", BUILTIN_DATASETS)
def test_builtin_datasets_load_offline(name: str) -> None:
    ds = load_builtin(name)
    assert ds.X.dtype == np.float64 and ds.X.shape[0] == len(ds.y) > 100
    assert np.isfinite(ds.X).all()
    assert set(np.unique(ds.y)) == set(range(ds.n_classes))


def test_credit_is_the_real_credit_data() -> None:
    ds = load_builtin("credit")
    assert ds.X.shape[0] == 4454 and ds.n_classes == 2
    assert 0.27 < ds.y.mean() < 0.30  # 1,254 bad of 4,454
    assert "Income_missing" in ds.feature_names


def test_unknown_dataset_lists_the_valid_names() -> None:
    with pytest.raises(DataError, match="breast_cancer, credit"):
        load_builtin("mnist")


def test_holdout_is_disjoint_stratified_and_seeded() -> None:
    ds = load_builtin("breast_cancer")
    pool, val, test = holdout(ds, 0.2, 0.2, seed=3)
    assert len(pool) + len(val) + len(test) == len(ds)
    rows = {tuple(r) for part in (pool, val, test) for r in part.X}
    assert len(rows) == len(ds)
    assert abs(val.y.mean() - ds.y.mean()) < 0.02
    again = holdout(ds, 0.2, 0.2, seed=3)
    assert np.array_equal(again[1].X, val.X)


@pytest.mark.parametrize("skew", [None, 0.5, 5.0])
def test_partition_is_disjoint_complete_and_sized(skew: float | None) -> None:
    ds = load_builtin("digits")
    parts = partition(ds, [4, 2, 3, 1], skew, seed=1)
    sizes = [len(p) for p in parts]
    assert sum(sizes) == len(ds)
    assert sizes == sorted(sizes, reverse=True) or skew is not None or sizes[0] > sizes[3]
    seen = np.concatenate([p.X for p in parts])
    assert len({r.tobytes() for r in seen}) == len({r.tobytes() for r in ds.X})
    assert abs(sizes[0] / len(ds) - 0.4) < 0.01


def test_label_skew_skews_labels() -> None:
    ds = load_builtin("digits")
    iid = partition(ds, [1] * 5, None, seed=2)
    skewed = partition(ds, [1] * 5, 0.1, seed=2)

    def spread(parts):  # mean per-member deviation of class frequencies from the overall mix
        overall = np.bincount(ds.y, minlength=10) / len(ds)
        return np.mean([np.abs(np.bincount(p.y, minlength=10) / len(p) - overall).sum() for p in parts])

    assert spread(skewed) > 3 * spread(iid)


def test_partition_refuses_too_many_members() -> None:
    with pytest.raises(DataError, match="use fewer members"):
        partition(load_builtin("wine"), [1] * 30, None, seed=0)


def test_standardizer_uses_coordinator_statistics() -> None:
    pool, val, _ = holdout(load_builtin("wine"), 0.3, 0.2, seed=0)
    scaled = Standardizer.fit(val).transform(val)
    assert np.allclose(scaled.X.mean(axis=0), 0, atol=1e-9)
    assert not np.allclose(Standardizer.fit(val).transform(pool).X.mean(axis=0), 0, atol=1e-3)


def test_partition_round_trip(tmp_path: Path) -> None:
    ds = load_builtin("wine")
    save_partition(ds, tmp_path / "p.npz")
    back = load_partition(tmp_path / "p.npz")
    assert np.array_equal(back.X, ds.X) and np.array_equal(back.y, ds.y) and back.feature_names == ds.feature_names


def test_load_partition_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_partition(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bad.npz"):
        load_partition(tmp_path / "bad.npz")


def test_csv_loads_and_maps_string_labels(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,yes\n3,4,no\n5,6,yes\n")
    ds = load_csv(path, "label")
    assert ds.X.tolist() == [[1, 2], [3, 4], [5, 6]] and ds.y.tolist() == [1, 0, 1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n1,2\n", "no label column 'label'"),
        ("a,label\nx,1\n2,0\n", "line 2, column 'a': 'x' is not a number"),
        ("a,label\n1,1\n2\n", "line 3: 1 fields, expected 2"),
        ("a,label\n", "at least one data row"),
        ("a,label\n1,1\n2,1\n", "one label value"),
    ],
)
def test_csv_errors_name_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_csv(path, "label")


def test_missing_csv_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nope.csv"))):
        load_csv(tmp_path / "nope.csv", "label")


def test_csv_labels_map_through_the_consortium_class_list(tmp_path: Path) -> None:
    """A member whose file lacks a class (or holds one class only) keeps the consortium's class indices."""
    path = tmp_path / "one.csv"
    path.write_text("a,label\n1,yes\n2,yes\n")
    ds = load_csv(path, "label", classes=["maybe", "no", "yes"])
    assert ds.n_classes == 3 and ds.y.tolist() == [2, 2]


def test_an_unknown_label_names_the_file_the_line_and_the_label(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("a,label\n1,no\n2,perhaps\n")
    with pytest.raises(DataError, match=re.escape(f"{path}, line 3: label 'perhaps' is not one of")):
        load_csv(path, "label", classes=["no", "yes"])


def test_numeric_labels_sort_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,label\n" + "".join(f"{k},{k}\n" for k in (10, 2, 1)))
    assert class_list(read_csv(path, "label")) == ("1", "2", "10")
    assert load_csv(path, "label").y.tolist() == [2, 1, 0]


def test_without_rows_removes_held_out_rows() -> None:
    ds = load_builtin("wine")
    kept = without_rows(ds, ds.subset(np.arange(10)), ds.subset(np.arange(50, 60)))
    assert len(kept) == len(ds) - 20
    assert not {r.tobytes() for r in kept.X} & {r.tobytes() for r in ds.X[:10]}
