"""The experiments of a config, by the data set their models see: the one place that maps
a data set to the config section that trains or evaluates it.

``distractor`` trains on ``<distractor.dataset>_distractor`` (the digits with the letter),
``sweep.<d>`` on ``d``, and ``pretrained.<d>`` evaluates a pretrained family on ``d``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .pretrained import as_experiment


@dataclass(frozen=True)
class Experiment:
    """One experiment of the config: ``key`` is its config section's path
    (``distractor``, ``sweep.cifar10``, ``pretrained.imagenet``), ``kind`` the first part
    of it, ``dataset`` the data set its models see, ``section`` its settings (a pretrained
    family's as ``pags.pretrained.as_experiment`` makes them)."""

    key: str
    kind: str
    dataset: str
    section: dict[str, Any]


def experiments(config: dict[str, Any]) -> dict[str, Experiment]:
    """Every experiment of ``config`` by data set: the distractor experiment, the sweeps,
    then the pretrained families."""
    found = []
    if "distractor" in config:  # a validated config has it; partial ones (tests) may not
        distractor = config["distractor"]
        found.append(Experiment("distractor", "distractor", f"{distractor['dataset']}_distractor", distractor))
    found += [Experiment(f"sweep.{d}", "sweep", d, exp) for d, exp in config.get("sweep", {}).items()]
    found += [
        Experiment(f"pretrained.{d}", "pretrained", d, as_experiment(s))
        for d, s in config.get("pretrained", {}).items()
    ]
    return {e.dataset: e for e in found}


def objective_seeds(section: dict[str, Any], objective: str) -> list[int]:
    """The training seeds of ``objective``'s models in an experiment's ``section``: the
    objective's own ``seeds`` where set (more seeds of the cheap standard model measure
    the between-run spread that every model of one seed is then given,
    ``pags.claims.SeedSpread``), else the experiment's ``seeds``."""
    return section["objectives"][objective].get("seeds", section["seeds"])
