"""Atomic file writes and safe loading of the workflow's own artifacts.

Every result is written to a temporary file in the target directory and renamed into
place, so a killed job never leaves a half-written file under a result's name. The
temporary file is deleted whenever the write does not finish: on an error, and on a stop
signal, which jobs turn into an exception (``pags.runtime.Terminated``). Only a process
killed outright (SIGKILL, a node failure) leaves it behind; the next write of the same
target deletes it. A write that fails for want of space raises ``NoSpaceLeft`` naming
the file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import DataError, NoSpaceLeft
from .runtime import log


def temporary_files(path: str | os.PathLike) -> list[Path]:
    """The temporary files ``atomic_path`` makes for ``path`` (``.<name>.<8 random
    characters>.tmp`` beside it) that exist now."""
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.") + r"[a-z0-9_]{8}" + re.escape(".tmp"))
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if pattern.fullmatch(p.name))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success, delete
    it otherwise. First deletes the temporary files of ``path`` that a killed writer left
    (one job writes a target at a time, so no live writer owns them)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in temporary_files(path):
        log.warning("deleting %s (%d bytes), left by a killed write of %s", stale, stale.stat().st_size, path.name)
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        umask = os.umask(0)  # mkstemp makes files 0600; give results the usual permissions
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# errno of a full file system and of an exhausted quota
FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextlib.contextmanager
def no_space_reported(path: str | os.PathLike) -> Iterator[None]:
    """Turn a write's failure for want of space into ``NoSpaceLeft`` naming ``path``: an
    ``OSError`` with ENOSPC or EDQUOT, or torch.save's ``RuntimeError`` "unexpected pos
    ..." (its zip writer's only report of a short write)."""
    try:
        yield
    except OSError as e:
        if e.errno not in FULL:
            raise
        raise NoSpaceLeft(_no_space_message(path, e)) from e
    except RuntimeError as e:
        if "unexpected pos" not in str(e):
            raise
        raise NoSpaceLeft(_no_space_message(path, e)) from e


def _no_space_message(path: str | os.PathLike, error: Exception) -> str:
    folder = Path(path).resolve().parent
    detail = " ".join(str(error).split())
    return (
        f"cannot write '{path}': no space left on the device or quota exceeded ({type(error).__name__}: {detail}). "
        f"Nothing was left under its name. Fix: free space where it is written (df -h {folder}; quota), "
        "or run the workflow in a directory on a larger file system, then rerun."
    )


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    import torch  # here, not above: jobs that write only tables run without torch (pags.runtime)

    with no_space_reported(path), atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: str | os.PathLike, what: str = "file") -> Any:
    """Load a file this workflow wrote, with ``weights_only=True`` (no code runs)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{what} '{path}' does not exist; rerun the rule that makes it.") from None
    except Exception as e:  # truncated, corrupted or foreign files all land here
        raise DataError(
            f"{what} '{path}' cannot be read ({type(e).__name__}: {e}). It is corrupted "
            "or was not written by this workflow: delete it and rerun the rule that makes it."
        ) from e


def save_json(obj: Any, path: str | os.PathLike) -> None:
    with no_space_reported(path), atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_csv(frame, path: str | os.PathLike) -> None:
    with no_space_reported(path), atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
