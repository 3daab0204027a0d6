"""MNIST through torchvision (``idx.IdxDataset``): downloaded into ``data.root`` or read
from ``{root}/MNIST/raw``, decompressed or as the published ``.gz`` archives."""

from __future__ import annotations

from .idx import RAW_FILES, IdxDataset
from .spec import DatasetSpec

FILES = IdxDataset("MNIST", "MNIST")
check_mnist = FILES.check
fetch_mnist = FILES.fetch
decompress_archives = FILES.decompress_archives
load_mnist = FILES.load

__all__ = ["RAW_FILES", "SPEC", "check_mnist", "decompress_archives", "fetch_mnist", "load_mnist"]

SPEC = DatasetSpec(
    name="mnist",
    shape=(1, 28, 28),
    num_classes=10,
    train_size=60_000,
    test_size=10_000,
    load=load_mnist,
    check=check_mnist,
    fetch=fetch_mnist,
    raw=FILES.raw,
)
