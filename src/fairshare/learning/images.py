"""Image data a member (or the coordinator) brings: a folder of images per class, or an ``.npz`` of arrays.

Both loaders return the same flat ``Dataset`` every model trains on: one row per image, its pixels in
channel-first order (``C x H x W``, values as stored: 0-255 for 8-bit images), so a network reshapes a row to
``[model] input_shape = [C, H, W]``. Nothing is downloaded: the files are the member's own.

- Folder: ``root/<class>/<image>``; the sorted subfolder names are the classes (label ``k`` is the k-th name),
  so members must use the same class folder names. Grey images (mode L) give one channel, colour images three
  (alpha dropped). Every image must have the same size and channel count; the first that differs is named.
- ``.npz``: ``images`` (``N x H x W`` or ``N x H x W x C``) and ``labels`` (``N`` or ``N x 1`` integers), or the
  layout MedMNIST publishes, ``train_images``/``train_labels``, ``val_*`` and ``test_*``: a member reads the
  ``train`` split, the coordinator ``val`` for validation and ``test`` for test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fairshare.errors import DataError
from fairshare.learning.data import Dataset

__all__ = ["IMAGE_SUFFIXES", "load_image_folder", "load_image_npz"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
SPLIT_PREFIX = {"train": "train", "validation": "val", "test": "test"}


def _channel_first(images: np.ndarray, where: str) -> np.ndarray:
    """``(N, H, W)`` or ``(N, H, W, C)`` as float64 rows of ``C*H*W`` values."""
    if images.ndim == 3:
        images = images[:, None, :, :]
    elif images.ndim == 4:
        images = np.moveaxis(images, -1, 1)
    else:
        raise DataError(f"{where}: images have shape {images.shape}; expected (N, H, W) or (N, H, W, C)")
    rows = images.reshape(len(images), -1).astype(np.float64)
    if not np.isfinite(rows).all():
        raise DataError(f"{where}: images contain NaN or Inf")
    return rows


def _names(shape: tuple[int, ...]) -> tuple[str, ...]:
    c, h, w = shape
    return tuple(f"c{k}_y{i}_x{j}" for k in range(c) for i in range(h) for j in range(w))


def load_image_npz(path: Path, split: str = "train") -> Dataset:
    """``images``/``labels`` from ``path``, else MedMNIST's ``<split>_images``/``<split>_labels``."""
    if split not in SPLIT_PREFIX:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_PREFIX)}")
    prefix = SPLIT_PREFIX[split]
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if {"images", "labels"} <= keys:
                image_key, label_key = "images", "labels"
            elif {f"{prefix}_images", f"{prefix}_labels"} <= keys:
                image_key, label_key = f"{prefix}_images", f"{prefix}_labels"
            else:
                raise DataError(
                    f"{path}: has arrays {', '.join(sorted(keys)) or 'none'}; expected 'images' and 'labels', or "
                    f"MedMNIST's '{prefix}_images' and '{prefix}_labels'"
                )
            images, labels = np.asarray(data[image_key]), np.asarray(data[label_key])
    except FileNotFoundError as exc:
        raise DataError(f"image file {path} does not exist; fix the npz path in the consortium file") from exc
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable .npz file: {exc}") from exc
    where = f"{path} [{image_key}]"
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise DataError(f"{path} [{label_key}]: shape {labels.shape}; expected one class label per image (N or N x 1)")
    if len(labels) != len(images):
        raise DataError(f"{path}: {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise DataError(f"{path}: no images")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise DataError(f"{path} [{label_key}]: labels must be non-negative integers (class indices)")
    rows = _channel_first(images, where)
    shape = (1, *images.shape[1:3]) if images.ndim == 3 else (images.shape[3], *images.shape[1:3])
    y = labels.astype(np.int64)
    return Dataset(rows, y, int(y.max()) + 1, _names(shape), f"{path.stem}/{prefix}")


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            grey = image.mode in ("1", "L", "I", "I;16", "F", "LA")
            converted = image.convert("L" if grey else "RGB")
            return np.asarray(converted, dtype=np.float64)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: not a readable image ({exc}); remove it or replace it") from exc


def load_image_folder(root: Path) -> Dataset:
    """Every image under ``root/<class>/``; classes are the sorted subfolder names."""
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; fix the images path in the consortium file")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{root}: needs one subfolder per class (at least two); found {classes or 'none'}")
    arrays: list[np.ndarray] = []
    labels: list[int] = []
    first: Path | None = None
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for file in files:
            pixels = _read_image(file)
            if arrays and pixels.shape != arrays[0].shape:
                raise DataError(
                    f"{file}: image of shape {pixels.shape} (height, width[, channels]) but {first} has "
                    f"{arrays[0].shape}; every image must have the same size and colour mode"
                )
            first = first or file
            arrays.append(pixels)
            labels.append(label)
    if not arrays:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in its class folders")
    images = np.stack(arrays)
    rows = _channel_first(images, str(root))
    shape = (1, *images.shape[1:3]) if images.ndim == 3 else (images.shape[3], *images.shape[1:3])
    return Dataset(rows, np.array(labels, dtype=np.int64), len(classes), _names(shape), root.name)
