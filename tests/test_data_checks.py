"""The pre-flight data checks accept exactly what the loaders load.

For every data set read from ``data.root`` and a table of layouts (complete, partial,
gzipped, misnamed, empty), the check the workflow runs before any job
(``pags.preflight.check_data`` for the downloadable data sets, ``check_raw_data`` for
ImageNet) passes if and only if the loader then loads the split; where both refuse, the
check's message names ``data.root`` and says what the loader would say.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pags.datasets import load_base
from pags.datasets.imagenet import load_imagenet_val
from pags.datasets.imagenet64 import CLASS_MAP, TRAIN_FILES
from pags.datasets.mnist import RAW_FILES
from pags.errors import ConfigError, DataError
from pags.preflight import check_data, check_raw_data
from test_imagenet64 import write_png, write_release
from test_imagenet_val import write_sources, write_val

# ---- MNIST in torchvision's raw layout, tiny -------------------------------------------


def idx_bytes(kind: str, n: int) -> bytes:
    """An IDX file as MNIST publishes it: n 28x28 uint8 images or n uint8 labels."""
    if kind == "images":
        return struct.pack(">IIII", 0x0803, n, 28, 28) + bytes(n * 28 * 28)
    return struct.pack(">II", 0x0801, n) + bytes(k % 10 for k in range(n))


def write_mnist(root: Path, gzipped: set[str] = frozenset(), leave_out: str | None = None) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for pair in RAW_FILES.values():
        for name in pair:
            if name == leave_out:
                continue
            data = idx_bytes("images" if "images" in name else "labels", 3)
            if name in gzipped:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)


ALL_MNIST = {name for pair in RAW_FILES.values() for name in pair}

# ---- CIFAR-10 ----------------------------------------------------------------------------


def write_cifar_npz(root: Path, split: str) -> None:
    (root / "cifar10").mkdir(parents=True, exist_ok=True)
    np.savez(root / "cifar10" / f"{split}.npz", x=np.zeros((2, 32, 32, 3), np.uint8), y=np.array([0, 9]))


def write_cifar_folder(root: Path, split: str, classes=("cat",), png: bool = True) -> None:
    for name in classes:
        folder = root / "cifar10" / split / name
        folder.mkdir(parents=True, exist_ok=True)
        if png:
            write_png(folder / "0.png", np.zeros((32, 32, 3), np.uint8))


# ---- the table -----------------------------------------------------------------------------

# id -> (data set, split, make the layout under root)
LAYOUTS: dict[str, tuple[str, str, Callable[[Path], None]]] = {
    "mnist-decompressed": ("mnist", "test", lambda r: write_mnist(r)),
    "mnist-gz-only": ("mnist", "test", lambda r: write_mnist(r, gzipped=ALL_MNIST)),
    "mnist-gz-and-decompressed": ("mnist", "train", lambda r: write_mnist(r, gzipped={"train-images-idx3-ubyte"})),
    "mnist-one-file-missing": (
        "mnist",
        "test",
        lambda r: write_mnist(r, gzipped=ALL_MNIST, leave_out="train-labels-idx1-ubyte"),
    ),
    "mnist-empty": ("mnist", "test", lambda r: None),
    "cifar10-npz": ("cifar10", "test", lambda r: write_cifar_npz(r, "test")),
    "cifar10-npz-of-the-other-split": ("cifar10", "train", lambda r: write_cifar_npz(r, "test")),
    "cifar10-image-folder": ("cifar10", "train", lambda r: write_cifar_folder(r, "train")),
    "cifar10-class-folders-without-png": ("cifar10", "train", lambda r: write_cifar_folder(r, "train", png=False)),
    "cifar10-unknown-class-folder": (
        "cifar10",
        "train",
        lambda r: write_cifar_folder(r, "train", classes=("cat", "cats")),
    ),
    "cifar10-empty": ("cifar10", "test", lambda r: None),
    "imagenet64-release": ("imagenet64", "test", lambda r: write_release(r / "imagenet64")),
    "imagenet64-without-class-map": (
        "imagenet64",
        "test",
        lambda r: (write_release(r / "imagenet64"), (r / "imagenet64" / CLASS_MAP).unlink()),
    ),
    "imagenet64-partial-archives-beside-an-image-folder": (
        "imagenet64",
        "train",
        lambda r: (
            write_release(r / "imagenet64"),
            (r / "imagenet64" / TRAIN_FILES[3]).unlink(),
            write_png(r / "imagenet64" / "train" / "7" / "a.png", np.zeros((64, 64, 3), np.uint8)),
        ),
    ),
    "imagenet64-image-folder": (
        "imagenet64",
        "test",
        lambda r: write_png(r / "imagenet64" / "val" / "7" / "a.png", np.zeros((64, 64, 3), np.uint8)),
    ),
    "imagenet64-image-folder-without-png": (
        "imagenet64",
        "test",
        lambda r: (r / "imagenet64" / "val" / "7").mkdir(parents=True),
    ),
    "imagenet64-misnamed-class-folder": (
        "imagenet64",
        "test",
        lambda r: write_png(r / "imagenet64" / "val" / "cat" / "a.png", np.zeros((64, 64, 3), np.uint8)),
    ),
    "imagenet-val": ("imagenet", "test", lambda r: write_val(r / "imagenet" / "val", write_sources(r / "jpegs"))),
    "imagenet-val-empty-wnid-folders": (
        "imagenet",
        "test",
        lambda r: (r / "imagenet" / "val" / "n01440764").mkdir(parents=True),
    ),
    "imagenet-empty": ("imagenet", "test", lambda r: None),
}


def load(dataset: str, split: str, root: Path) -> None:
    if dataset == "imagenet":
        load_imagenet_val(root, 1, 0)
    else:
        load_base(dataset, split, str(root), False)


# A whole ImageNet validation set is 50,000 files: that layout is an end-to-end case.
@pytest.mark.parametrize(
    "layout",
    [pytest.param(name, id=name, marks=[pytest.mark.slow] if name == "imagenet-val" else []) for name in LAYOUTS],
)
def test_preflight_check_accepts_exactly_what_the_loader_loads(tmp_path, layout):
    dataset, split, make = LAYOUTS[layout]
    root = tmp_path / "data"
    root.mkdir()
    make(root)
    try:
        check_raw_data(str(root), [(dataset, split)])  # what the workflow runs before any job
        accepted, message = True, ""
    except ConfigError as e:
        accepted, message = False, str(e)
    try:
        load(dataset, split, root)
        loaded, reason = True, ""
    except DataError as e:
        loaded, reason = False, str(e)
    assert accepted == loaded, (
        f"pre-flight {'accepted' if accepted else 'refused'} ({message}), loader: {reason or 'loaded'}"
    )
    if not accepted:
        assert message == f"config key 'data.root': {reason}"


@pytest.mark.parametrize("gzipped", [set(), ALL_MNIST], ids=["decompressed", "gzipped"])
def test_parse_time_check_of_offline_data_is_the_loaders(tmp_path, gzipped):
    config = {"data": {"root": str(tmp_path), "download": False}}
    with pytest.raises(ConfigError, match=r"config key 'data\.root': .*Fix:"):
        check_data(config, ["mnist", "digits"])
    write_mnist(tmp_path, gzipped=gzipped)
    check_data(config, ["mnist", "digits"])  # accepted: so the data jobs load both splits
    for split in ("train", "test"):
        assert len(load_base("mnist", split, str(tmp_path), False).y) == 3
    check_data({"data": {"root": str(tmp_path / "empty"), "download": True}}, ["mnist", "cifar10"])  # downloadable


def test_mnist_archives_are_what_is_read_and_data_root_is_left_as_it_was(tmp_path):
    """The archives are decompressed where torchvision reads them, outside data.root, so
    that what the data jobs read is what their raw param digests (the archives)."""
    write_mnist(tmp_path, gzipped=ALL_MNIST)
    raw = tmp_path / "MNIST" / "raw"
    stale = raw / "train-labels-idx1-ubyte"
    stale.write_bytes(b"an older decompressed copy")  # not read: its archive is
    before = sorted(p.name for p in raw.iterdir())
    split = load_base("mnist", "train", str(tmp_path), False)
    assert split.x.shape == (3, 1, 28, 28) and split.y.tolist() == [0, 1, 2]
    assert sorted(p.name for p in raw.iterdir()) == before


def test_a_damaged_mnist_archive_names_the_file(tmp_path):
    write_mnist(tmp_path, gzipped=ALL_MNIST)
    (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz' .*could not be decompressed"):
        load_base("mnist", "test", str(tmp_path), False)
    assert not (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()
