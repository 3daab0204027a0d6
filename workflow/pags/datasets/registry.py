"""Base data sets by name: each loader returns one split as an ``ImageSplit``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .cifar10 import load_cifar10
from .digits import load_digits
from .imagenet64 import load_imagenet64
from .mnist import load_mnist
from .store import ImageSplit, save_split

# name -> loader(split, root, download)
BASE_DATASETS: dict[str, Callable[[str, str, bool], ImageSplit]] = {
    "mnist": load_mnist,
    "digits": load_digits,
    "cifar10": load_cifar10,
    "imagenet64": load_imagenet64,
}

# (image shape [C, H, W], number of classes) of each base data set, known without reading
# it, so the networks the config asks for are checked against the data before any job.
BASE_SHAPES: dict[str, tuple[tuple[int, int, int], int]] = {
    "mnist": ((1, 28, 28), 10),
    "digits": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "imagenet64": ((3, 64, 64), 1000),
}

# loaders that take ``scratch_dir``: their large splits are assembled in a scratch file there
LARGE_DATASETS = frozenset({"imagenet64"})


def load_base(name: str, split: str, root: str, download: bool) -> ImageSplit:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return BASE_DATASETS[name](split, root, download)


def save_base(name: str, split: str, root: str, download: bool, path: str | os.PathLike) -> None:
    """Load a base data set's split and write it to ``path`` with ``save_split``.

    A large split (ImageNet-64's 15.7 GB training set) is assembled in a memory-mapped
    scratch file beside ``path`` (deleted on exit, killed or not) and written from it, so
    the job holds no second in-memory copy; it needs free disk for two copies while it
    runs. Raises what the loader raises (``DataError`` naming ``data.root``)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    options = {"scratch_dir": Path(path).parent} if name in LARGE_DATASETS else {}
    save_split(BASE_DATASETS[name](split, root, download, **options), path)
