"""Base data sets by name: each loader returns one split as an ``ImageSplit``."""

from __future__ import annotations

from typing import Callable

from .cifar10 import load_cifar10
from .digits import load_digits
from .mnist import load_mnist
from .store import ImageSplit

# name -> loader(split, root, download)
BASE_DATASETS: dict[str, Callable[[str, str, bool], ImageSplit]] = {
    "mnist": load_mnist,
    "digits": load_digits,
    "cifar10": load_cifar10,
}


def load_base(name: str, split: str, root: str, download: bool) -> ImageSplit:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return BASE_DATASETS[name](split, root, download)
