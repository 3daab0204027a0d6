"""MNIST through torchvision: downloaded into ``data.root`` or read from it.

torchvision reads the four decompressed files under ``{root}/MNIST/raw`` (all four,
whichever split is asked for) and, with ``download=False``, accepts nothing else. The
files are accepted as they are published too, gzipped (``<name>.gz``): the loader
decompresses each archive whose file is absent, beside it, before torchvision reads
them. ``check_mnist`` is what the loader accepts, by file names only; the config's
pre-flight check calls the same function.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import torch

from ..errors import DataError
from ..io import atomic_path
from .download import fetch_verified
from .spec import DatasetSpec
from .store import ImageSplit

RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# torchvision's MNIST checks all four files, whichever split it loads
ALL_FILES = tuple(name for pair in RAW_FILES.values() for name in pair)


def raw_folder(root: str | Path) -> Path:
    return Path(root) / "MNIST" / "raw"


def missing_files(root: str | Path) -> list[str]:
    """The raw files that are under ``{root}/MNIST/raw`` neither decompressed nor as
    their ``.gz`` archive."""
    raw = raw_folder(root)
    return [n for n in ALL_FILES if not (raw / n).is_file() and not (raw / f"{n}.gz").is_file()]


def absent_message(root: str | Path) -> str:
    return (
        f"MNIST is not in data.root='{root}' and data.download is false: '{raw_folder(root)}' lacks "
        f"{', '.join(missing_files(root))} (decompressed, or as the published .gz archives). "
        f"Fix: put the four MNIST files under '{raw_folder(root)}' (torchvision's layout), or set "
        "data.download: true on a machine with internet."
    )


def check_mnist(root: str | Path, split: str = "test", download: bool = False) -> None:
    """Raise ``DataError`` (naming data.root and the missing files) if ``load_mnist``
    with these arguments would find no files to read: without ``download``, each of the
    four raw files must be there, decompressed or gzipped. File names only."""
    if split not in RAW_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if not download and missing_files(root):
        raise DataError(absent_message(root))


def mnist_present(root: str) -> bool:
    """Whether ``load_mnist`` finds its files under ``root`` without downloading."""
    return not missing_files(root)


def decompress_archives(root: str | Path) -> None:
    """Decompress ``{root}/MNIST/raw/<name>.gz`` to ``<name>`` where ``<name>`` is absent,
    atomically (a killed job leaves no partial file under the name torchvision reads).
    Raises ``DataError`` naming the archive if it is not a readable gzip file."""
    raw = raw_folder(root)
    for name in ALL_FILES:
        target, archive = raw / name, raw / f"{name}.gz"
        if target.is_file() or not archive.is_file():
            continue
        try:
            with gzip.open(archive, "rb") as source, atomic_path(target) as tmp, open(tmp, "wb") as out:
                shutil.copyfileobj(source, out)
        except (OSError, EOFError) as e:  # not gzip, truncated
            raise DataError(
                f"MNIST archive '{archive}' (under data.root) could not be decompressed: {e}. "
                "Fix: replace it with the published file, or delete it and set data.download: true."
            ) from e


def fetch_mnist(root: str | Path) -> None:
    """MNIST's four archives in ``root/MNIST/raw``, from torchvision's mirrors
    (``MNIST.mirrors``, ``MNIST.resources``), where neither they nor their unpacked files
    are there (``decompress_archives`` unpacks them)."""
    from torchvision.datasets import MNIST

    raw = raw_folder(root)
    for archive_name, md5 in MNIST.resources:
        archive = raw / archive_name
        if (raw / archive_name.removesuffix(".gz")).is_file() or archive.is_file():
            continue
        fetch_verified([f"{mirror}{archive_name}" for mirror in MNIST.mirrors], archive, md5, f"MNIST's {archive_name}")


def load_mnist(split: str, root: str, download: bool) -> ImageSplit:
    from torchvision.datasets import MNIST

    if download:
        fetch_mnist(root)  # only what is missing; a failure names the address and why
    check_mnist(root, split, download)
    decompress_archives(root)
    try:
        data = MNIST(root, train=split == "train", download=False)
    except Exception as e:  # no network, truncated files, bad checksums
        raise DataError(
            f"MNIST could not be loaded from data.root='{root}' (download={download}): {e}. "
            f"Fix: put the four MNIST files under '{raw_folder(root)}' "
            "(torchvision's layout) or set data.download: true on a machine with internet."
        ) from e
    return ImageSplit(data.data.unsqueeze(1).contiguous(), data.targets.to(torch.int64))


SPEC = DatasetSpec(
    name="mnist",
    shape=(1, 28, 28),
    num_classes=10,
    train_size=60_000,
    test_size=10_000,
    load=load_mnist,
    check=check_mnist,
    fetch=fetch_mnist,
)
