"""Progress of long loops in the job's log: items done, rate, time left."""

from __future__ import annotations

import math
import time

from .runtime import log

PROGRESS_SECONDS = 60.0  # how often long loops log their progress


def duration(seconds: float) -> str:
    """``seconds`` as ``1h02m``, ``3m05s`` or ``12s`` (``?`` if not finite)."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Logs ``"<what>: <done>/<total> images, <rate> images/s, <time> left"`` at most every
    ``every`` seconds (and never for a loop shorter than that), at INFO on the ``pags``
    logger, which ``runtime.job_log`` sends to the job's log file. ``every`` <= 0 or None
    turns it off. Call ``update(n)`` after each batch of ``n`` items."""

    def __init__(self, what: str, total: int, every: float | None = 60.0, unit: str = "images") -> None:
        self.what, self.total, self.every, self.unit = what, total, every, unit
        self.done = 0
        self.started = self.last = time.perf_counter()
        self.reports = 0

    def update(self, n: int) -> None:
        self.done += n
        if not self.every or self.every <= 0:
            return
        now = time.perf_counter()
        if now - self.last < self.every or self.done >= self.total:
            return
        self.last = now
        rate = self.done / max(now - self.started, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        log.info(
            "%s: %d/%d %s, %.0f %s/s, %s left",
            self.what,
            self.done,
            self.total,
            self.unit,
            rate,
            self.unit,
            duration(left),
        )
        self.reports += 1
