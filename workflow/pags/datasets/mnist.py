"""MNIST through torchvision: downloaded into ``data.root`` or read from it."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import DataError
from .download import fetch_mnist
from .store import ImageSplit

RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def mnist_present(root: str) -> bool:
    raw = Path(root) / "MNIST" / "raw"
    return all((raw / name).exists() or (raw / f"{name}.gz").exists() for pair in RAW_FILES.values() for name in pair)


def load_mnist(split: str, root: str, download: bool) -> ImageSplit:
    from torchvision.datasets import MNIST

    if download:
        fetch_mnist(root)  # only what is missing; a failure names the address and why
    try:
        data = MNIST(root, train=split == "train", download=False)
    except Exception as e:  # no network, truncated files, bad checksums
        raise DataError(
            f"MNIST could not be loaded from data.root='{root}' (download={download}): {e}. "
            f"Fix: put the four MNIST files under '{Path(root) / 'MNIST' / 'raw'}' "
            "(torchvision's layout) or set data.download: true on a machine with internet."
        ) from e
    return ImageSplit(data.data.unsqueeze(1).contiguous(), data.targets.to(torch.int64))
