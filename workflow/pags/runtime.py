"""Where jobs run and what they print: device choice, logs, progress."""

from __future__ import annotations

import contextlib
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
