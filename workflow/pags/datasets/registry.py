"""Base data sets by name: each loader returns one split as an ``ImageSplit``.

A loader is imported when it is used, not when the registry is: a job's code version
(``pags.provenance``) then covers the loader it runs and no other, so editing the CIFAR-10
loader does not rerun MNIST's data jobs (the ``base_dataset`` rule adds
``loader_module(name)`` to its code version).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

from .store import ImageSplit, save_split
from .subset import balanced_subset

# name -> (module, function) of its loader(split, root, download)
BASE_DATASETS: dict[str, tuple[str, str]] = {
    "mnist": ("pags.datasets.mnist", "load_mnist"),
    "digits": ("pags.datasets.digits", "load_digits"),
    "cifar10": ("pags.datasets.cifar10", "load_cifar10"),
    "imagenet64": ("pags.datasets.imagenet64", "load_imagenet64"),
}


def loader_module(name: str) -> str:
    """The module of ``name``'s loader, e.g. ``pags.datasets.mnist``."""
    return BASE_DATASETS[name][0]


def loader(name: str) -> Callable[..., ImageSplit]:
    """``name``'s loader(split, root, download); ``KeyError`` for an unknown name."""
    module, function = BASE_DATASETS[name]
    return getattr(importlib.import_module(module), function)


# (image shape [C, H, W], number of classes) of each base data set, known without reading
# it, so the networks the config asks for are checked against the data before any job.
BASE_SHAPES: dict[str, tuple[tuple[int, int, int], int]] = {
    "mnist": ((1, 28, 28), 10),
    "digits": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "imagenet64": ((3, 64, 64), 1000),
}

# Images in each base data set's test split (ImageNet-64's: the 50,000 validation images;
# digits': the loader's fixed sixth of scikit-learn's 1,797), so that counts and indices of
# test images in the config are checked before any job.
BASE_TEST_SIZES: dict[str, int] = {"mnist": 10_000, "digits": 300, "cifar10": 10_000, "imagenet64": 50_000}

# loaders that take ``scratch_dir``: their large splits are assembled in a scratch file there
LARGE_DATASETS = frozenset({"imagenet64"})


def load_base(name: str, split: str, root: str, download: bool) -> ImageSplit:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return loader(name)(split, root, download)


def save_base(
    name: str, split: str, root: str, download: bool, path: str | os.PathLike, subset: dict | None = None, key: str = ""
) -> None:
    """Load a base data set's split and write it to ``path`` with ``save_split``; with
    ``subset`` ({"n", "seed"}) only its class-balanced subset of n images
    (``pags.datasets.subset``; ``key`` is the config key of n, for errors).

    A large split (ImageNet-64's 15.7 GB training set) is assembled in a memory-mapped
    scratch file beside ``path`` (deleted on exit, killed or not) and written from it, so
    the job holds no second in-memory copy; it needs free disk for two copies while it
    runs. Raises what the loader raises (``DataError`` naming ``data.root``)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    options = {"scratch_dir": Path(path).parent} if name in LARGE_DATASETS else {}
    data = loader(name)(split, root, download, **options)
    if subset is not None:
        data = balanced_subset(data, subset["n"], BASE_SHAPES[name][1], subset["seed"], split, key)
    save_split(data, path)
