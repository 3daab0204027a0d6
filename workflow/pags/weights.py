"""Third-party weight files (EDM denoisers, LPIPS's AlexNet): fetched once, pinned by sha256.

A weight file is used only after its sha256 matches the one pinned in the config. Pickled
files (EDM's) execute code when loaded, so for them the check is the only line of defence;
for plain state dicts it still guarantees that every run used the same weights.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from pathlib import Path

from .errors import WeightsError
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
        raise WeightsError(f"weight file '{path}' does not exist. Fix: rerun the rule fetch_weights, or copy the file there.")
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
    again. Without a network, or without a ``url`` (published links that expired), the
    error says where to put a copy made elsewhere."""
    dest = Path(dest)
    unpinned = dest.with_name(f".{dest.name}.unpinned")
    if url is None and not unpinned.is_file():
        raise WeightsError(
            f"config key '{key}.url' is null: there is no link to download it from. Fix: set it to a working "
            f"download link, or copy the file to '{dest}' and pin its sha256 under '{key}'."
        )
    with atomic_path(dest) as tmp:
        if unpinned.is_file():
            os.replace(unpinned, tmp)
        else:
            try:
                with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as f:
                    shutil.copyfileobj(response, f, CHUNK)
            except OSError as e:
                raise WeightsError(
                    f"cannot download {url} ({e}). Fix: on a machine with internet access download it "
                    f"and copy it to '{dest}' (config key '{key}'), then rerun."
                ) from e
        if sha256 is None:
            os.replace(tmp, unpinned)
        verify(unpinned if sha256 is None else tmp, sha256, key)
    return dest
