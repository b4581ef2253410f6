from pathlib import Path

import pytest

from fairshare.learning.data import Dataset, Standardizer, holdout, load_builtin, partition, save_partition
from fairshare.learning.runner import MemberSpec


@pytest.fixture(scope="session")
def cancer_splits() -> tuple[Dataset, Dataset, Dataset]:
    return holdout(load_builtin("breast_cancer"), 0.2, 0.2, seed=7)


@pytest.fixture
def federation(tmp_path: Path, cancer_splits: tuple[Dataset, Dataset, Dataset]):
    """Five members on breast cancer (the last a free-rider), scaled by the coordinator's validation statistics."""
    pool, validation, test = cancer_splits
    scaler = Standardizer.fit(validation)
    members = []
    for k, part in enumerate(partition(pool, [4, 2, 3, 1.5, 2], 1.0, seed=7)):
        path = tmp_path / f"m{k}.npz"
        save_partition(scaler.transform(part), path)
        members.append(MemberSpec(f"m{k}", path, "free_rider" if k == 4 else "honest"))
    return members, scaler.transform(test)
