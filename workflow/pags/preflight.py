"""What can be tried before any job starts, beyond what the config says (``pags.config``).

When the workflow is parsed (``check_at_parse``): every network the config builds takes
its data set's images (a forward pass on the CPU), and the data the config trains on is
present where downloads are off. Before the jobs of a run (Snakemake's ``onstart``, on
the submitting node; ``check_before_jobs``): the interpreter script jobs start with, the
raw data no download can fetch, the weight files (present ones against their pins,
absent ones fetchable) and EDM's modules. One error, no job submitted, rather than the
same error in every job that reads the file.

A job is anything with Snakemake's ``rule.name``, ``wildcards``, ``input`` and ``output``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from . import paths
from .compatibility import check_forward
from .datasets import DATASETS
from .datasets.registry import data_shape
from .errors import ConfigError, DataError, EnvironmentProblem
from .experiments import experiments
from .manifold.autoencoder import Autoencoder
from .models import build_model
from .score.backends import get_backend
from .score.edm import check_edm_source
from .weights import check_usable


def check_at_parse(config: dict[str, Any]) -> None:
    """Raise the first ``ConfigError`` of a validated ``config`` (``pags.config``) that
    shows only when tried: ``check_networks_run``, then ``check_data`` for the data sets
    the config trains on."""
    check_networks_run(config)
    check_data(config, [d for d in (config["distractor"]["dataset"], *config["sweep"]) if d in DATASETS])


def check_networks_run(config: dict[str, Any]) -> None:
    """Every network the config builds takes its data set's images: a batch of two goes
    through each classifier, and in sweeps the autoencoder (``check_forward``). Found
    here, not in a GPU job. (Pretrained families are checked with their family.)"""
    for experiment in experiments(config).values():
        if experiment.kind == "pretrained":
            continue
        name, exp = experiment.key, experiment.section
        shape, classes = data_shape(config, experiment.dataset)
        model = exp["model"]
        check_forward(
            partial(build_model, model["arch"], shape[0], classes, **model["options"]),
            (2, *shape),
            (2, classes),
            key=f"{name}.model",
            what=f"classifier {model['arch']}",
            fix=f"choose an arch (or options) that takes {shape[1]}x{shape[2]} images",
        )
        if experiment.kind == "distractor":
            continue
        autoencoder = exp["autoencoder"]
        check_forward(
            partial(Autoencoder, shape, autoencoder["latent_dim"], autoencoder["width"]),
            (2, *shape),
            (2, *shape),
            key=f"{name}.autoencoder",
            what="autoencoder",
            fix="change latent_dim or width",
        )


def check_raw_data(root: str, needed: Iterable[tuple[str, str]], download: bool = False) -> None:
    """Raise one ``ConfigError`` naming ``data.root`` and the fix if the loader of a
    (data set, split) in ``needed`` would not find its files under ``root`` (with
    ``download``, a downloadable data set may be absent): each data set's own check
    (``DatasetSpec.check``), which its loader calls too. Data sets without files
    (digits, synthetic) pass."""
    for dataset, split in sorted(set(needed)):
        check = DATASETS[dataset].check if dataset in DATASETS else None
        try:
            if check is not None:
                check(root, split, download)
        except DataError as e:
            raise ConfigError(f"config key 'data.root': {e}") from None


def check_data(config: dict[str, Any], datasets: Iterable[str]) -> None:
    """``check_raw_data`` for both splits of the downloadable ``datasets`` the config
    trains on, with its ``data.download``: at parse time, before any job (the others'
    files are checked before the jobs that read them)."""
    data = config["data"]
    needed = [(name, split) for name in datasets if not DATASETS[name].needs_files for split in ("train", "test")]
    check_raw_data(data["root"], needed, data["download"])


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
