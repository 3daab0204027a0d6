"""Data sets that torchvision distributes as MNIST is: four IDX files, published gzipped,
read by a ``torchvision.datasets.MNIST`` class (``MNIST``, ``FashionMNIST``, ...).

torchvision reads the four decompressed files under ``{root}/<class name>/raw`` (all
four, whichever split is asked for) and, with ``download=False``, accepts nothing else.
The files are accepted as they are published too, gzipped (``<name>.gz``): ``load``
decompresses each archive whose file is absent, beside it, before torchvision reads them.
``check`` is what ``load`` accepts, by file names only; the config's pre-flight check
calls the same function. ``fetch`` downloads the archives from the class's ``mirrors``
with its ``resources``' md5s.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import DataError
from ..io import atomic_path
from .download import fetch_verified
from .store import ImageSplit

RAW_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# torchvision checks all four files, whichever split it loads
ALL_FILES = tuple(name for pair in RAW_FILES.values() for name in pair)


@dataclass(frozen=True)
class IdxDataset:
    """One such data set: ``title`` names it in messages, ``torchvision_class`` is the name of
    its class in ``torchvision.datasets`` (and of its folder under ``data.root``)."""

    title: str
    torchvision_class: str

    def dataset_class(self):
        import torchvision.datasets

        return getattr(torchvision.datasets, self.torchvision_class)

    def raw_folder(self, root: str | Path) -> Path:
        return Path(root) / self.torchvision_class / "raw"

    def missing_files(self, root: str | Path) -> list[str]:
        """The raw files that are in ``raw_folder(root)`` neither decompressed nor as their
        ``.gz`` archive."""
        raw = self.raw_folder(root)
        return [n for n in ALL_FILES if not (raw / n).is_file() and not (raw / f"{n}.gz").is_file()]

    def check(self, root: str | Path, split: str = "test", download: bool = False) -> None:
        """Raise ``DataError`` (naming data.root and the missing files) if ``load`` with
        these arguments would find no files to read: without ``download``, each of the four
        raw files must be there, decompressed or gzipped. File names only."""
        if split not in RAW_FILES:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not download and self.missing_files(root):
            raw = self.raw_folder(root)
            raise DataError(
                f"{self.title} is not in data.root='{root}' and data.download is false: '{raw}' lacks "
                f"{', '.join(self.missing_files(root))} (decompressed, or as the published .gz archives). "
                f"Fix: put the four {self.title} files under '{raw}' (torchvision's layout), or set "
                "data.download: true on a machine with internet."
            )

    def fetch(self, root: str | Path) -> None:
        """The four archives in ``raw_folder(root)``, where neither they nor their unpacked
        files are there (``decompress_archives`` unpacks them)."""
        cls, raw = self.dataset_class(), self.raw_folder(root)
        for archive_name, md5 in cls.resources:
            archive = raw / archive_name
            if (raw / archive_name.removesuffix(".gz")).is_file() or archive.is_file():
                continue
            urls = [f"{mirror}{archive_name}" for mirror in cls.mirrors]
            fetch_verified(urls, archive, md5, f"{self.title}'s {archive_name}")

    def decompress_archives(self, root: str | Path) -> None:
        """Decompress ``<raw folder>/<name>.gz`` to ``<name>`` where ``<name>`` is absent,
        atomically (a killed job leaves no partial file under the name torchvision reads).
        Raises ``DataError`` naming the archive if it is not a readable gzip file."""
        raw = self.raw_folder(root)
        for name in ALL_FILES:
            target, archive = raw / name, raw / f"{name}.gz"
            if target.is_file() or not archive.is_file():
                continue
            try:
                with gzip.open(archive, "rb") as source, atomic_path(target) as tmp, open(tmp, "wb") as out:
                    shutil.copyfileobj(source, out)
            except (OSError, EOFError) as e:  # not gzip, truncated
                raise DataError(
                    f"{self.title} archive '{archive}' (under data.root) could not be decompressed: {e}. "
                    "Fix: replace it with the published file, or delete it and set data.download: true."
                ) from e

    def load(self, split: str, root: str, download: bool) -> ImageSplit:
        """One split: uint8 [N, 1, 28, 28], int64 labels. Raises ``DataError`` naming
        data.root and the fix."""
        if download:
            self.fetch(root)  # only what is missing; a failure names the address and why
        self.check(root, split, download)
        self.decompress_archives(root)
        try:
            data = self.dataset_class()(root, train=split == "train", download=False)
        except Exception as e:  # truncated files, bad checksums
            raise DataError(
                f"{self.title} could not be loaded from data.root='{root}' (download={download}): {e}. "
                f"Fix: put the four {self.title} files under '{self.raw_folder(root)}' "
                "(torchvision's layout) or set data.download: true on a machine with internet."
            ) from e
        return ImageSplit(data.data.unsqueeze(1).contiguous(), data.targets.to(torch.int64))
