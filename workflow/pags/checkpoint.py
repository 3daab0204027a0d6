"""A job's training state on disk, continued only by the job that would have written it.

A checkpoint carries the identity of the job that wrote it: its code (the job's ``code``
param, which the job checked against the code it runs: ``pags.provenance.check_job_code``),
its values (every other param) and its input data (each input file's path, size and
modification time: a rebuilt data set is a new file). A job resumes a checkpoint only if
all three match its own; otherwise it starts afresh and its log says which differ. It is
written atomically (``pags.io.save_torch``), so a killed job leaves the previous one whole,
and deleted by the job once its outputs are saved.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import DataError
from .io import load_torch, save_torch
from .runtime import log

IDENTITY = ("code", "values", "data")


def values_digest(values: Any) -> str:
    """sha256 (16 hex digits) of JSON-able ``values``, blind to the order of mapping keys."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def data_digest(paths: Iterable[str | os.PathLike]) -> str:
    """sha256 (16 hex digits) of each file's path, size and modification time (ns): any
    rewrite of an input changes it, without reading the data (15.7 GB for ImageNet-64)."""
    stats = []
    for path in sorted(str(p) for p in paths):
        st = os.stat(path)
        stats.append([path, st.st_size, st.st_mtime_ns])
    return values_digest(stats)


class Checkpoint:
    """The checkpoint file ``path`` of the job identified by ``code`` (a string), ``values``
    (JSON-able) and ``data`` (its input files)."""

    def __init__(self, path: str | os.PathLike, code: str, values: Any, data: Iterable[str | os.PathLike] = ()) -> None:
        self.path = Path(path)
        self.identity = {"code": code, "values": values_digest(values), "data": data_digest(data)}

    @classmethod
    def of_job(cls, job, name: str = "checkpoint.pt") -> Checkpoint:
        """The checkpoint of a Snakemake job (its ``snakemake`` object): ``name`` beside its
        first output (not an output itself, so Snakemake keeps it when the job fails),
        identified by its ``code`` param, its other params and its input files."""
        values = {key: value for key, value in job.params.items() if key != "code"}
        return cls(Path(job.output[0]).with_name(name), job.params.code, values, list(job.input))

    def load(self) -> dict[str, Any] | None:
        """The state saved by this job, or None (and the log says why) if there is none to
        continue: no file, one that cannot be read, or one of another job."""
        if not self.path.exists():
            return None
        try:
            saved = load_torch(self.path, what="checkpoint")
        except DataError as e:
            log.warning("starting afresh: %s", e)
            return None
        written_by = saved.get("identity", {}) if isinstance(saved, dict) else {}
        differs = [key for key in IDENTITY if written_by.get(key) != self.identity[key]]
        if differs:
            log.warning(
                "starting afresh: checkpoint %s was written by a job with other %s", self.path, " and ".join(differs)
            )
            return None
        return saved["state"]

    def save(self, state: dict[str, Any]) -> None:
        save_torch({"identity": self.identity, "state": state}, self.path)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
