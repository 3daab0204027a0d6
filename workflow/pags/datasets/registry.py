"""Data sets by name: every module of this package that defines ``SPEC``
(``spec.DatasetSpec``); each loader returns one split as an ``ImageSplit``.

Modules are imported when the registry is built (``pags.registry``), by name, so a job's
code version (``pags.provenance``) covers the loader it runs and no other: the
``base_dataset`` rule adds ``loader_module(name)`` to it. Adding a data set, or editing
one loader, reruns no job of the others.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..registry import discover, lookup, member_module
from .spec import DatasetSpec
from .store import save_split
from .subset import balanced_subset

# The modules of the package that define no data set.
SUPPORT_MODULES = ("distractor", "download", "idx", "registry", "spec", "store", "subset", "synthetic")


def loader_module(name: str) -> str:
    """The module that defines data set ``name``, e.g. ``pags.datasets.mnist``."""
    return member_module(__package__, name)


DATASETS: dict[str, DatasetSpec] = discover(__package__, DatasetSpec, SUPPORT_MODULES)
# The data sets models are trained on (with a loader and a training split).
BASE_DATASETS: dict[str, DatasetSpec] = {n: s for n, s in DATASETS.items() if s.trainable}
# What the distractor synthesis takes: digits at MNIST's size, to stack the letter below.
DISTRACTOR_SHAPE = (1, 28, 28)


def get_dataset(name: str) -> DatasetSpec:
    """The spec of data set ``name``; ``KeyError`` naming the known ones."""
    return lookup(DATASETS, name, "data set")


def data_shape(config: dict[str, Any], dataset: str) -> tuple[tuple[int, int, int], int]:
    """(image shape [C, H, W], number of classes) of a data set the config trains or
    evaluates on: a registered one, ``synthetic`` (its config section) or
    ``<base>_distractor`` (the digit with the letter below it: twice the height)."""
    if dataset == "synthetic":
        return tuple(config["synthetic"]["image_shape"]), config["synthetic"]["n_classes"]
    if dataset.endswith("_distractor"):
        spec = get_dataset(dataset.removesuffix("_distractor"))
        c, h, w = spec.shape
        return (c, 2 * h, w), spec.num_classes
    spec = get_dataset(dataset)
    return spec.shape, spec.num_classes


def split_sizes(config: dict[str, Any], dataset: str) -> tuple[int | None, int]:
    """(training, test) images of the whole splits of a data set the config uses."""
    if dataset == "synthetic":
        return config["synthetic"]["n_train"], config["synthetic"]["n_test"]
    spec = get_dataset(dataset.removesuffix("_distractor"))
    return spec.train_size, spec.test_size


def raw_digest(name: str, root: str, split: str, download: bool) -> str | None:
    """``"raw <16 hex digits> (<n> files)"``: a digest of the state of the files under
    ``root`` that data set ``name``'s loader reads for ``split`` (``DatasetSpec.raw``),
    the param of the jobs that read them; None for a data set without files (generated
    or bundled ones). A file replaced, added or removed changes it; moving ``root`` with
    the files' times does not."""
    spec = DATASETS.get(name)
    if spec is None or spec.raw is None:
        return None
    entries = spec.raw(root, split, download)
    digest = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:16]
    return f"raw {digest} ({len(entries)} files)"


def load_base(name: str, split: str, root: str, download: bool, **options: Any):
    """One split ("train" or "test") of base data set ``name`` as an ``ImageSplit``, by its
    loader; ``ValueError`` for another split, ``KeyError`` for an unknown name."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if name not in BASE_DATASETS:
        raise KeyError(f"no loader for data set {name!r}; base data sets: {list(BASE_DATASETS)}")
    return BASE_DATASETS[name].load(split, root, download, **options)


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
    spec = BASE_DATASETS[name]
    options = {"scratch_dir": Path(path).parent} if spec.large else {}
    data = load_base(name, split, root, download, **options)
    if subset is not None:
        data = balanced_subset(data, subset["n"], spec.num_classes, subset["seed"], split, key)
    save_split(data, path)
