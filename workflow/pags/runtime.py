"""Where jobs run and what they print: device choice, logs, progress."""

from __future__ import annotations

import contextlib
import logging
import os
import sys

import torch

from .errors import PagsError

log = logging.getLogger("pags")


def pick_device() -> torch.device:
    """CUDA when present; ``PAGS_DEVICE`` overrides (device is not a hyperparameter,
    so it is not in the config and changing it reruns nothing)."""
    name = os.environ.get("PAGS_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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
    try:
        yield log
    except PagsError as e:
        log.error("%s: %s", type(e).__name__, e)
        print(f"pags: {type(e).__name__}: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception:
        log.exception("job failed")
        raise
