"""Where jobs run and what they print: device choice, logs, progress; and how their memory
is allocated (``keep_freed_memory``), which changes no result."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform
import sys
from importlib import metadata

import torch

from . import __version__
from .errors import PagsError

log = logging.getLogger("pags")


def pick_device() -> torch.device:
    """CUDA when present; ``PAGS_DEVICE`` overrides (device is not a hyperparameter,
    so it is not in the config and changing it reruns nothing)."""
    name = os.environ.get("PAGS_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory the process frees for its next allocations.

    By default glibc serves every allocation above its mmap threshold (at most 32 MiB) with
    a fresh ``mmap`` and returns it with ``munmap`` when freed. A CPU training step
    allocates activations above that size (a CIFAR ResNet18 at batch 128: 128 x 64 x 32
    x 32 float32 = 32 MiB each, 51 MiB on 56x28 MNIST-distractor images) and frees them
    at the end of the step, so every step the kernel maps, zero-fills (one page fault per
    4 KiB page) and unmaps them again: a third of a job's CPU time was system time.
    With mmap off and the heap trimmed only above 2 GiB free, freed blocks are reused
    and the process's footprint stays at its peak, which a job's memory request covers
    anyway. Only where memory comes from changes, never a value: results are unchanged.
    Returns whether it applied (False where the C library is not glibc)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False


# Distributions whose versions each job logs (besides python, pags, torch), by their names
# on PyPI; read from their metadata, so none of them is imported for this.
LOGGED_PACKAGES = ("torchvision", "numpy", "lpips", "diffusers", "snakemake", "scikit-image", "pandas")


def versions() -> str:
    """One line: the versions a job runs with (python, pags, torch with its CUDA and cuDNN
    when it has them, and the other key packages; ``-`` for one that is not installed)."""

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    cuda = ""
    if torch.version.cuda:
        cuda = f" (CUDA {torch.version.cuda}"
        if torch.cuda.is_available() and torch.backends.cudnn.is_available():
            cuda += f", cuDNN {torch.backends.cudnn.version()}"
        cuda += ")"
    parts = [f"python {platform.python_version()}", f"pags {__version__}", f"torch {torch.__version__}{cuda}"]
    parts += [f"{name} {version(name)}" for name in LOGGED_PACKAGES]
    return "versions: " + ", ".join(parts)


@contextlib.contextmanager
def job_log(path: str | None):
    """Send logging, warnings and errors of a job to its Snakemake log file.

    A ``PagsError`` is written as one line naming the problem and the fix; other errors
    keep their traceback. Either way the job fails.
    """
    handler = logging.FileHandler(path, mode="w") if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.captureWarnings(True)
    log.info("%s", versions())
    try:
        yield log
    except PagsError as e:
        log.error("%s: %s", type(e).__name__, e)
        print(f"pags: {type(e).__name__}: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception:
        log.exception("job failed")
        raise
