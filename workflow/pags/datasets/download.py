"""Downloads of data sets into ``data.root``: what each downloadable data set's ``fetch``
(its ``DatasetSpec``) shares.

Files come from the addresses and with the md5 digests torchvision publishes, through
``pags.download`` (a truncated or interrupted download is deleted and reported), so that
the loaders then read them with torchvision and ``download=False``. Every failure is one
``DataError`` naming the address, the reason and the fix. Data jobs of downloadable data
sets run on the submitting node (rule ``fetch_dataset``, a local rule), where the internet
is.
"""

from __future__ import annotations

from pathlib import Path

from ..download import download
from ..errors import DataError, DownloadError

FIX = (
    "Fix: run `snakemake prefetch` on a machine with internet access (with the same data.root), "
    "or put the data under data.root yourself (README, section Data) and set data.download: false."
)


def fetch_verified(urls: list[str], dest: Path, md5: str, what: str) -> None:
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
