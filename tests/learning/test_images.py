"""Image loaders on small files generated here in the exact layouts users bring (class folders, MedMNIST .npz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fairshare.errors import DataError
from fairshare.learning.images import load_image_folder, load_image_npz


def grey(value: int, size=(6, 5)) -> Image.Image:
    pixels = np.full(size[::-1], value, dtype=np.uint8)
    pixels[0, 0] = 255 - value
    return Image.fromarray(pixels, mode="L")


def test_a_folder_per_class_gives_one_row_per_image(tmp_path: Path) -> None:
    for label, name in enumerate(["benign", "malignant"]):
        (tmp_path / name).mkdir()
        for k in range(3 + label):
            grey(10 * k + label).save(tmp_path / name / f"{k}.png")
    (tmp_path / "benign" / "notes.txt").write_text("not an image")
    data = load_image_folder(tmp_path)
    assert data.X.shape == (7, 30) and data.n_classes == 2
    assert data.y.tolist() == [0, 0, 0, 1, 1, 1, 1]
    first = np.asarray(Image.open(tmp_path / "benign" / "0.png"), dtype=np.float64).ravel()
    assert np.array_equal(data.X[0], first)  # channel-first (one channel), row-major pixels


def test_colour_images_are_channel_first(tmp_path: Path) -> None:
    rgb = np.zeros((4, 3, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 1, 2, 3
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(rgb, mode="RGB").save(tmp_path / name / "x.png")
    data = load_image_folder(tmp_path)
    assert data.X.shape == (2, 36)
    assert data.X[0, :12].tolist() == [1.0] * 12 and data.X[0, 24:].tolist() == [3.0] * 12


def test_images_of_different_sizes_name_the_file(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    grey(1).save(tmp_path / "a" / "0.png")
    grey(1, size=(7, 7)).save(tmp_path / "b" / "odd.png")
    with pytest.raises(DataError, match=r"odd\.png: image of shape \(7, 7\).*same size"):
        load_image_folder(tmp_path)


def test_an_unreadable_image_is_named(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        grey(1).save(tmp_path / name / "0.png")
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken\.png: not a readable image"):
        load_image_folder(tmp_path)


def test_a_folder_without_class_subfolders_says_what_is_expected(tmp_path: Path) -> None:
    (tmp_path / "only").mkdir()
    with pytest.raises(DataError, match="one subfolder per class"):
        load_image_folder(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "absent")


def medmnist(path: Path, channels: int | None = None) -> None:
    """The layout MedMNIST publishes: uint8 images, (N, 1) labels, train/val/test splits in one .npz."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 12), ("val", 4), ("test", 5)):
        shape = (n, 28, 28) if channels is None else (n, 28, 28, channels)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 3, (n, 1), dtype=np.uint8)
    np.savez(path, **arrays)


def test_medmnist_layout_reads_each_split(tmp_path: Path) -> None:
    path = tmp_path / "organamnist.npz"
    medmnist(path)
    train, val, test = (load_image_npz(path, s) for s in ("train", "validation", "test"))
    assert (len(train), len(val), len(test)) == (12, 4, 5)
    assert train.X.shape == (12, 784)
    with np.load(path) as raw:
        assert np.array_equal(train.X[3], raw["train_images"][3].ravel())
        assert np.array_equal(test.y, raw["test_labels"][:, 0])


def test_medmnist_colour_images_are_channel_first(tmp_path: Path) -> None:
    path = tmp_path / "bloodmnist.npz"
    medmnist(path, channels=3)
    data = load_image_npz(path, "train")
    with np.load(path) as raw:
        assert np.array_equal(data.X[0].reshape(3, 28, 28), np.moveaxis(raw["train_images"][0], -1, 0))


def test_plain_images_and_labels_arrays(tmp_path: Path) -> None:
    path = tmp_path / "own.npz"
    np.savez(path, images=np.zeros((5, 8, 8)), labels=np.array([0, 1, 2, 1, 0]))
    data = load_image_npz(path, "train")
    assert data.X.shape == (5, 64) and data.n_classes == 3


@pytest.mark.parametrize(
    ("arrays", "says"),
    [
        ({"pictures": np.zeros((2, 4, 4))}, "expected 'images' and 'labels', or MedMNIST's 'train_images'"),
        ({"images": np.zeros((2, 4, 4)), "labels": np.zeros((2, 3), dtype=int)}, "one class label per image"),
        ({"images": np.zeros((2, 4, 4)), "labels": np.zeros(3, dtype=int)}, "2 images but 3 labels"),
        ({"images": np.zeros((2, 4, 4)), "labels": np.array([0.5, 1.0])}, "non-negative integers"),
        ({"images": np.full((2, 4, 4), np.nan), "labels": np.array([0, 1])}, "NaN or Inf"),
        ({"images": np.zeros((2, 16)), "labels": np.array([0, 1])}, "expected (N, H, W) or (N, H, W, C)"),
    ],
)
def test_bad_npz_files_say_what_to_fix(tmp_path: Path, arrays: dict, says: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError) as info:
        load_image_npz(path, "train")
    assert str(path) in str(info.value) and says in str(info.value)


def test_a_file_that_is_not_npz(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    path.write_text("hello")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_image_npz(path, "train")


def test_members_bring_their_own_images_to_a_consortium(tmp_path: Path) -> None:
    """One hospital exported class folders, another a MedMNIST file; the coordinator holds MedMNIST val/test."""
    from fairshare.config import load_config
    from fairshare.consortium.setup import prepare_data
    from fairshare.consortium.workspace import new_run
    from fairshare.learning.data import load_partition

    medmnist(tmp_path / "shared.npz")
    for label in range(3):
        (tmp_path / "folders" / f"class{label}").mkdir(parents=True)
        for k in range(2):
            Image.fromarray(np.full((28, 28), 40 * label + k, dtype=np.uint8), mode="L").save(
                tmp_path / "folders" / f"class{label}" / f"{k}.png"
            )
    (tmp_path / "c.toml").write_text(
        'name = "imgs"\n[data]\ndataset = "digits"\nvalidation_npz = "shared.npz"\ntest_npz = "shared.npz"\n'
        '[[members]]\nname = "a"\nimages = "folders"\n[[members]]\nname = "b"\nnpz = "shared.npz"\n'
    )
    config = load_config(tmp_path / "c.toml")
    paths = new_run(tmp_path / "home", config.name)
    assert prepare_data(config, paths) == {"a": 6, "b": 12}
    a, b = (load_partition(paths.data_dir / f"{m}.npz") for m in "ab")
    validation = load_partition(paths.coordinator_dir / "validation.npz")
    assert a.X.shape == (6, 784) and b.X.shape == (12, 784) and len(validation) == 4
    assert a.n_classes == b.n_classes == validation.n_classes == 3
    assert a.y.tolist() == [0, 0, 1, 1, 2, 2]


def test_a_member_with_two_data_sources_is_refused(tmp_path: Path) -> None:
    from fairshare.config import load_config
    from fairshare.errors import ConfigError

    (tmp_path / "c.toml").write_text(
        'name = "x"\n[data]\nvalidation_npz = "v.npz"\ntest_npz = "t.npz"\n'
        '[[members]]\nname = "a"\nimages = "f"\nnpz = "a.npz"\n[[members]]\nname = "b"\nnpz = "b.npz"\n'
    )
    with pytest.raises(ConfigError, match="member 'a' sets images and npz; give one data source"):
        load_config(tmp_path / "c.toml")
