"""One writer per job's files: an exclusive lock held while a job writes them.

On a cluster two processes can come to train the same model at once: a requeued or
preempted job that starts again while a process of its first run still writes (a
process that escaped the killed job's tracking), or a job submitted again beside one that
still runs. Both would write the same checkpoint and model, each overwriting the other's.
A job therefore takes ``exclusive(lock)`` before it reads or writes its checkpoint; a
second process finds it taken and stops at once with ``JobLocked``, naming the holder,
without touching the files.

The lock is ``fcntl.flock`` on a file beside the checkpoint: the kernel releases it when
its holder exits, killed or not, so a lock file left behind blocks nothing. It holds
across the nodes of a cluster on file systems whose ``flock`` is cluster-wide (NFSv4,
GPFS, Lustre mounted with ``flock``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from .errors import JobLocked


def holder() -> str:
    """Who takes a lock: host, process id and, inside SLURM, the job id."""
    job = os.environ.get("SLURM_JOB_ID")
    return f"host {socket.gethostname()}, pid {os.getpid()}" + (f", SLURM job {job}" if job else "")


@contextlib.contextmanager
def exclusive(lock: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (made if absent) for the block; the
    file names the holder and is removed on release.

    Raises ``JobLocked`` at once, naming ``what`` is locked and the holder, if another
    process holds it."""
    lock = Path(lock)
    lock.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = Path(lock).read_text().strip() if lock.exists() else "unknown"
            os.close(fd)
            raise JobLocked(
                f"{what} is being written by another process ({other or 'unknown'}; lock {lock}). Two jobs "
                "writing the same files would corrupt both, so this one stops without touching them. "
                "Fix: none if that job is meant to run (a requeued or resubmitted copy of this one); "
                "else end it (scancel) and rerun."
            ) from None
        # The holder before us may have removed the file after we opened it: lock the file
        # that is at the path now.
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{holder()}\n".encode())
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)
