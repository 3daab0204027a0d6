"""Downloads that end complete or not at all.

``download(url, dest)`` streams a file to a temporary name beside ``dest`` and renames it
into place only when every byte the server announced arrived: a connection closed early
(``http.client`` returns a short body without an error when the server announced its
``Content-Length``), a reset or a stalled transfer deletes the partial file and raises
``DownloadError`` ("truncated: X of Y bytes"), so a retry starts clean. Every download of
the workflow goes through it: the weight files (``pags.weights``) and the data sets
(``pags.datasets.download``).
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from .errors import DownloadError
from .io import atomic_path

CHUNK = 1 << 20
TIMEOUT_S = 60  # per blocking read, not for the whole file


def download(url: str, dest: str | os.PathLike, timeout: float = TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest``; raise ``DownloadError`` naming the URL and what went
    wrong (the server unreachable, with the reason; or the body cut short, with its length
    against the announced one) and leave nothing at or beside ``dest``."""
    dest = Path(dest)
    received, expected = 0, None
    with atomic_path(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
                length = response.headers.get("Content-Length")
                expected = int(length) if length is not None else None
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    received += len(chunk)
        except http.client.IncompleteRead as e:  # a body of unannounced length cut short
            received += len(e.partial)
            raise DownloadError(f"download of {url} truncated: {received} bytes, then the connection closed") from e
        except (OSError, http.client.HTTPException) as e:
            if received:  # a reset, a stall past the timeout, a full disk
                raise DownloadError(f"download of {url} interrupted after {received} bytes ({_reason(e)})") from e
            raise DownloadError(f"cannot download {url}: {_reason(e)}") from e
        if expected is not None and received != expected:
            raise DownloadError(f"download of {url} truncated: {received} of {expected} bytes")
    return dest


def _reason(error: BaseException) -> str:
    """What went wrong, never an empty string (an URLError's reason is often an OSError)."""
    reason = getattr(error, "reason", None) if isinstance(error, urllib.error.URLError) else error
    return str(reason) or type(reason).__name__
