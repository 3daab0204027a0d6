"""Third-party weight files (EDM denoisers, LPIPS's AlexNet): fetched once, pinned by sha256.

A weight file is used only after its sha256 matches the one pinned in the config. Pickled
files (EDM's) execute code when loaded, so for them the check is the only line of defence;
for plain state dicts it still guarantees that every run used the same weights.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .download import download
from .errors import DownloadError, WeightsError
from .io import atomic_path

CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | os.PathLike, sha256: str | None, key: str) -> Path:
    """``path`` if its sha256 is ``sha256``; otherwise one error naming the config ``key``
    that pins it and the fix. Unpinned (``None``) files are refused, not trusted."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"weight file '{path}' does not exist. Fix: rerun the rule fetch_weights, or copy the file there."
        )
    actual = sha256_file(path)
    if sha256 is None:
        raise WeightsError(
            f"'{path}' has sha256 {actual}, but config key '{key}.sha256' pins none, so it is not loaded. "
            f"Fix: check that digest against the publisher's and set '{key}.sha256: {actual}'."
        )
    if actual != sha256.lower():
        raise WeightsError(
            f"'{path}' has sha256 {actual}, not the pinned {sha256} (config key '{key}.sha256'): it is "
            "corrupted, truncated or not the published file. Fix: delete it and rerun fetch_weights, "
            "or copy the published file there."
        )
    return path


def fetch(url: str | None, sha256: str | None, dest: str | os.PathLike, key: str) -> Path:
    """Download ``url`` to ``dest`` and verify it; ``dest`` appears only if it matches.

    An unpinned download is kept beside ``dest`` as ``.<name>.unpinned``, so that once its
    digest is checked and pinned the next run verifies that copy instead of downloading
    again; only a complete download is kept (``pags.download``: a truncated one is deleted
    and reported). Without a network, or without a ``url`` (published links that expired), the
    error says where to put a copy made elsewhere."""
    dest = Path(dest)
    unpinned = unpinned_path(dest)
    if url is None and not unpinned.is_file():
        raise _no_url(dest, key)
    with atomic_path(dest) as tmp:
        if unpinned.is_file():
            os.replace(unpinned, tmp)
        else:
            try:
                download(url, tmp)
            except DownloadError as e:
                raise WeightsError(
                    f"{e}. Fix: run `snakemake prefetch` on a machine with internet access, or download it "
                    f"there and copy it to '{dest}' (config key '{key}'), then rerun."
                ) from e
        if sha256 is None:
            os.replace(tmp, unpinned)
        verify(unpinned if sha256 is None else tmp, sha256, key)
    return dest


def unpinned_path(dest: str | os.PathLike) -> Path:
    """Where an unpinned download of ``dest`` waits for its digest to be pinned."""
    dest = Path(dest)
    return dest.with_name(f".{dest.name}.unpinned")


def _no_url(dest: Path, key: str) -> WeightsError:
    return WeightsError(
        f"config key '{key}.url' is null: there is no link to download it from. Fix: set it to a working "
        f"download link, or copy the file to '{dest}' and pin its sha256 under '{key}'."
    )


def check_usable(dest: str | os.PathLike, url: str | None, sha256: str | None, key: str) -> None:
    """Before any job: the weight file ``dest`` that jobs about to run will read can be
    used. Present, it must match its pin (``verify``: a wrong or missing pin is found here,
    not in every job that reads it); absent, ``fetch`` must be able to make it: a link, or
    a kept download whose digest is pinned. Raises ``WeightsError`` with the fix."""
    dest = Path(dest)
    if dest.is_file():
        verify(dest, sha256, key)
    elif unpinned_path(dest).is_file():
        if sha256 is None:
            verify(unpinned_path(dest), None, key)  # says which digest to check and pin
    elif url is None:
        raise _no_url(dest, key)
