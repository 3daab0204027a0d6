"""What the jobs of a run need that can be checked before any of them starts (Snakemake's
``onstart``, on the submitting node): the interpreter script jobs start with, the raw data
no download can fetch, the weight files (present ones against their pins, absent ones
fetchable) and EDM's modules. One error, no job submitted, rather than the same error in
every job.

A job is anything with Snakemake's ``rule.name``, ``wildcards``, ``input`` and ``output``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from . import paths
from .config import check_raw_data
from .datasets import DATASETS
from .errors import EnvironmentProblem
from .score.backends import get_backend
from .score.edm import check_edm_source
from .weights import check_usable


def raw_data_needed(jobs: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """(data set, split) of the raw data that ``jobs`` read from ``data.root`` and that no
    download can fetch; only for the jobs that will run, so a run without ImageNet
    targets needs no ImageNet files."""
    for job in jobs:
        w = job.wildcards
        if job.rule.name == "base_dataset" and DATASETS[w.base].needs_files:
            yield w.base, w.split
        elif job.rule.name in ("pretrained_images", "pretrained_model") and DATASETS[w.dataset].needs_files:
            yield w.dataset, "test"


def weights_needed(jobs: Iterable[Any]) -> list[str]:
    """The names of the weight files that ``jobs`` read or fetch."""
    folder = Path(paths.weights_file("name")).parent
    return sorted({Path(f).name for job in jobs for f in [*job.input, *job.output] if Path(f).parent == folder})


def edm_needed(jobs: Iterable[Any]) -> bool:
    """Whether ``jobs`` unpickle EDM networks (their scores)."""
    return any(job.rule.name in ("score", "score_images") and get_backend(job.wildcards.backend).edm for job in jobs)


def check_interpreter(executable: str | None) -> None:
    """Raise ``EnvironmentProblem`` if ``executable``, the Python that Snakemake starts
    script jobs with (``sys.executable``; None where jobs run the Python of a conda
    environment or container), is on a path with white space: Snakemake puts it in the
    job's shell command unquoted (``{py_exec} {fname:q}`` in snakemake/script), so the
    shell splits it and every job fails (snakemake issue #2645, open)."""
    if executable is None or not any(c.isspace() for c in executable):
        return
    word = next(part for part in executable.split() if part)
    raise EnvironmentProblem(
        f"the Python interpreter of this run, '{executable}', is on a path with a space. Snakemake starts "
        "each script job with this path unquoted, so every job would fail with "
        f"'bash: {word}: No such file or directory' (snakemake issue #2645). Fix: create the virtual "
        "environment on a path without spaces (python -m venv ~/venvs/pags), or reach it through a link "
        "without spaces (ln -s '<path with space>/venv' ~/pags-venv, then ~/pags-venv/bin/python -m "
        "snakemake ...), or run with --sdm conda."
    )


def check_before_jobs(config: dict[str, Any], jobs: Iterable[Any], interpreter: str | None = None) -> None:
    """Raise the first ``PagsError`` (naming the config key or the cause, and the fix) of
    what ``jobs`` need under the validated ``config``; ``interpreter`` as in
    ``check_interpreter``."""
    check_interpreter(interpreter)
    jobs = list(jobs)
    check_raw_data(config["data"]["root"], raw_data_needed(jobs))
    for name in weights_needed(jobs):
        entry = config["weights"][name]
        check_usable(paths.weights_file(name), entry["url"], entry["sha256"], f"weights.{name}")
    if edm_needed(jobs):
        check_edm_source(config["edm_source"])
