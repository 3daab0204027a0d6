"""Data sets that torchvision distributes as MNIST is: four IDX files, published gzipped,
read by a ``torchvision.datasets.MNIST`` class (``MNIST``, ``FashionMNIST``, ...).

torchvision reads the four decompressed files under ``{root}/<class name>/raw`` (all
four, whichever split is asked for) and, with ``download=False``, accepts nothing else.
The files are accepted as they are published too, gzipped (``<name>.gz``): where an
archive is there, it is what ``load`` reads, decompressed into a scratch folder (never into
``data.root``, which the workflow does not write but to download).
``check`` is what ``load`` accepts, by file names only; the config's pre-flight check
calls the same function. ``fetch`` downloads the archives from the class's ``mirrors``
with its ``resources``' md5s. ``raw`` is what ``load`` reads, for the data jobs' params.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import DataError
from ..io import atomic_path
from .download import fetch_verified
from .spec import RawEntry, stat_entry
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

    def decompress_archives(self, root: str | Path, into: str | Path | None = None) -> None:
        """Decompress ``<raw folder>/<name>.gz`` to ``<name>`` in the raw folder under
        ``into`` (default ``root``, beside the archive, where ``<name>`` is absent there),
        atomically (a killed job leaves no partial file under the name torchvision reads).
        Raises ``DataError`` naming the archive if it is not a readable gzip file."""
        raw, out = self.raw_folder(root), self.raw_folder(root if into is None else into)
        out.mkdir(parents=True, exist_ok=True)
        for name in ALL_FILES:
            target, archive = out / name, raw / f"{name}.gz"
            if target.is_file() or not archive.is_file():
                continue
            try:
                with gzip.open(archive, "rb") as source, atomic_path(target) as tmp, open(tmp, "wb") as f:
                    shutil.copyfileobj(source, f)
            except (OSError, EOFError) as e:  # not gzip, truncated
                raise DataError(
                    f"{self.title} archive '{archive}' (under data.root) could not be decompressed: {e}. "
                    "Fix: replace it with the published file, or delete it and set data.download: true."
                ) from e

    def raw(self, root: str | Path, split: str = "test", download: bool = False) -> list[RawEntry]:
        """What ``load`` reads (all four files, whichever split): each archive by its md5
        (a download gives the pinned one, so data downloaded by the job are the data it was
        planned with), else the decompressed file by its size and modification time."""
        raw, pins = self.raw_folder(root), dict(self.dataset_class().resources)
        entries = []
        for name in ALL_FILES:
            archive, file = raw / f"{name}.gz", raw / name
            if archive.is_file():
                entries.append([f"{name}.gz", "md5:" + hashlib.md5(archive.read_bytes()).hexdigest()])
            elif file.is_file():
                entries.append(stat_entry(file, root))
            elif download:
                entries.append([f"{name}.gz", f"md5:{pins[f'{name}.gz']}"])
        return entries

    def load(self, split: str, root: str, download: bool) -> ImageSplit:
        """One split: uint8 [N, 1, 28, 28], int64 labels. Raises ``DataError`` naming
        data.root and the fix."""
        if download:
            self.fetch(root)  # only what is missing; a failure names the address and why
        self.check(root, split, download)
        with tempfile.TemporaryDirectory(prefix=".pags-idx.") as scratch:
            readable = self._readable_root(root, Path(scratch))
            try:
                data = self.dataset_class()(str(readable), train=split == "train", download=False)
            except Exception as e:  # truncated files, bad checksums
                raise DataError(
                    f"{self.title} could not be loaded from data.root='{root}' (download={download}): {e}. "
                    f"Fix: put the four {self.title} files under '{self.raw_folder(root)}' "
                    "(torchvision's layout) or set data.download: true on a machine with internet."
                ) from e
        return ImageSplit(data.data.unsqueeze(1).contiguous(), data.targets.to(torch.int64))

    def _readable_root(self, root: str | Path, scratch: Path) -> Path:
        """``root``, or where it has archives, ``scratch`` holding them decompressed and
        links to the decompressed files that have no archive (``raw``'s choice of files)."""
        raw = self.raw_folder(root)
        if not any((raw / f"{name}.gz").is_file() for name in ALL_FILES):
            return Path(root)
        self.decompress_archives(root, into=scratch)
        for name in ALL_FILES:
            if not (self.raw_folder(scratch) / name).exists():
                (self.raw_folder(scratch) / name).symlink_to((raw / name).resolve())
        return scratch
