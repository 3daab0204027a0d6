"""The data sets that can be downloaded, fetched into ``data.root`` in torchvision's layout.

``DOWNLOADS[name](root)`` fetches what is missing of MNIST or CIFAR-10 from the addresses
and with the md5 digests torchvision publishes (``MNIST.mirrors``/``resources``,
``CIFAR10.url``/``tgz_md5``), through ``pags.download`` (a truncated or interrupted
download is deleted and reported); CIFAR-10's archive is unpacked atomically here, MNIST's
by its loader, so that the loaders then read them with torchvision and ``download=False``. Every failure is one ``DataError``
naming the address, the reason and the fix. Data jobs of these data sets run on the
submitting node (rule ``fetch_dataset``, a local rule), where the internet is.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..download import download
from ..errors import DataError, DownloadError

FIX = (
    "Fix: run `snakemake prefetch` on a machine with internet access (with the same data.root), "
    "or put the data under data.root yourself (README, section Data) and set data.download: false."
)


def _fetch_verified(urls: list[str], dest: Path, md5: str, what: str) -> None:
    """``dest`` from the first of ``urls`` that delivers it whole with digest ``md5``."""
    from torchvision.datasets.utils import check_integrity

    errors = []
    for url in urls:
        try:
            download(url, dest)
        except DownloadError as e:
            errors.append(str(e))
            continue
        if check_integrity(str(dest), md5):
            return
        dest.unlink()
        errors.append(f"{url} is not the published file (md5 differs)")
    raise DataError(f"{what} could not be downloaded: {'; '.join(errors)}. {FIX}")


def fetch_mnist(root: str | Path) -> None:
    """MNIST's four archives in ``root/MNIST/raw``, where neither they nor their unpacked
    files are there (``mnist.decompress_archives`` unpacks them)."""
    from torchvision.datasets import MNIST

    raw = Path(root) / "MNIST" / "raw"
    for archive_name, md5 in MNIST.resources:
        archive = raw / archive_name
        if (raw / archive_name.removesuffix(".gz")).is_file() or archive.is_file():
            continue
        _fetch_verified(
            [f"{mirror}{archive_name}" for mirror in MNIST.mirrors], archive, md5, f"MNIST's {archive_name}"
        )


def fetch_cifar10(root: str | Path) -> None:
    """CIFAR-10's python release, unpacked, in ``root/cifar-10-batches-py``."""
    from torchvision.datasets import CIFAR10

    root = Path(root)
    if (root / CIFAR10.base_folder).is_dir():
        return
    archive = root / CIFAR10.filename
    if not archive.is_file():
        _fetch_verified([CIFAR10.url], archive, CIFAR10.tgz_md5, "CIFAR-10")
    # Unpacked beside its target and renamed into place: never a half-unpacked folder.
    with tempfile.TemporaryDirectory(prefix=".cifar10.", dir=root) as scratch:
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
        (Path(scratch) / CIFAR10.base_folder).rename(root / CIFAR10.base_folder)


# data set -> fetch(root): the data sets that data.download fetches
DOWNLOADS: dict[str, Callable[[str | Path], None]] = {"mnist": fetch_mnist, "cifar10": fetch_cifar10}
