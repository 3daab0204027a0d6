"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) through torchvision: ten classes of
clothing in MNIST's format (``idx.IdxDataset``), downloaded into ``data.root`` or read
from ``{root}/FashionMNIST/raw``. Its 28 x 28 grey images also take the distractor."""

from __future__ import annotations

from .idx import IdxDataset
from .spec import DatasetSpec

FILES = IdxDataset("Fashion-MNIST", "FashionMNIST")

SPEC = DatasetSpec(
    name="fashion_mnist",
    shape=(1, 28, 28),
    num_classes=10,
    train_size=60_000,
    test_size=10_000,
    load=FILES.load,
    check=FILES.check,
    fetch=FILES.fetch,
    raw=FILES.raw,
)
