"""What the jobs of a run need that can be checked before any of them starts (Snakemake's
``onstart``, on the submitting node): the raw data no download can fetch, the weight files
(present ones against their pins, absent ones fetchable) and EDM's modules. One error, no
job submitted, rather than the same error in every job that reads the file.

A job is anything with Snakemake's ``rule.name``, ``wildcards``, ``input`` and ``output``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from . import paths
from .config import check_raw_data
from .datasets import DATASETS
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


def check_before_jobs(config: dict[str, Any], jobs: Iterable[Any]) -> None:
    """Raise the first ``PagsError`` (naming the config key and the fix) of what ``jobs``
    need under the validated ``config``."""
    jobs = list(jobs)
    check_raw_data(config["data"]["root"], raw_data_needed(jobs))
    for name in weights_needed(jobs):
        entry = config["weights"][name]
        check_usable(paths.weights_file(name), entry["url"], entry["sha256"], f"weights.{name}")
    if edm_needed(jobs):
        check_edm_source(config["edm_source"])
