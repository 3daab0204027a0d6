"""Which models and test images each gallery (paper Figs. 1, 2 and 6-9) shows.

Two kinds of gallery, drawn alike (``figures/gallery.py``), each a figure target
``fig_gallery_<name>``:

- one per sweep data set and swept objective, named ``<dataset>_<objective>``: the first
  ``figures.gallery.n_images`` test images and ``figures.gallery.n_strengths`` strengths
  spread evenly over the objective's grid (its first and last included); for a grid that
  is a search, over the strengths it found, known once it has run (``strengths`` None:
  ``pags.plan.Plan.gallery_strengths``);
- the named ones under ``figures.galleries.<name>``: a data set, an objective, strengths
  that are members of that objective's grid, and test images by index.

A gallery is a dict ``{dataset, objective, strengths, images, standard}``: strengths as
the canonical strings of ``pags.grid.format_strength`` (those in the models' paths),
images as test-set indices, ``standard`` whether the standard model is shown first.
Every gallery shows each model's first seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .errors import ConfigError
from .experiments import experiments
from .grid import expand_grid, format_strength, is_search, parse_strength, strength_values
from .objectives import OBJECTIVES


def swept_objectives(exp: dict[str, Any]) -> list[str]:
    """An experiment's objectives other than the standard one, in the registry's order (the
    paper's first)."""
    return [o for o in OBJECTIVES if o in exp["objectives"] and o != "standard"]


def grid_strengths(exp: dict[str, Any], objective: str) -> list[str]:
    return [format_strength(s) for s in expand_grid(exp["objectives"][objective]["grid"])]


def spread(items: Sequence, n: int) -> list:
    """``n`` items evenly spaced over ``items``, the first and the last included."""
    n = min(n, len(items))
    return [items[round(i * (len(items) - 1) / max(n - 1, 1))] for i in range(n)]


def shown_experiments(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The experiments galleries can show, by data set: the sweeps and the pretrained
    families (paper Fig. 11)."""
    return {d: e.section for d, e in experiments(config).items() if e.kind != "distractor"}


def objective_galleries(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One gallery per sweep (or pretrained family's) data set and swept objective, named
    ``<dataset>_<objective>``."""
    options = config["figures"]["gallery"]
    return {
        f"{dataset}_{objective}": {
            "dataset": dataset,
            "objective": objective,
            "strengths": None
            if is_search(exp["objectives"][objective]["grid"])
            else spread(grid_strengths(exp, objective), options["n_strengths"]),
            "images": list(range(options["n_images"])),
            "standard": True,
        }
        for dataset, exp in shown_experiments(config).items()
        for objective in swept_objectives(exp)
    }


def named_galleries(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The galleries under ``figures.galleries``, strengths in canonical form."""
    return {
        name: {
            "dataset": spec["dataset"],
            "objective": spec["objective"],
            "strengths": [format_strength(s) for s in spec["strengths"]],
            "images": list(spec["images"]),
            "standard": spec["standard"],
        }
        for name, spec in config["figures"]["galleries"].items()
    }


def galleries(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every gallery by name: those per objective, then the named ones."""
    return {**objective_galleries(config), **named_galleries(config)}


def _nearest(value: str, members: list[str]) -> str:
    """The grid member closest to ``value`` on a log scale (linear where one is 0)."""

    def distance(member: str) -> float:
        a, b = (max(strength_values(parse_strength(text))) for text in (value, member))
        return abs(math.log(a) - math.log(b)) if a > 0 and b > 0 else abs(a - b)

    return min(members, key=distance)


def check_galleries(config: dict[str, Any]) -> None:
    """Raise ``ConfigError`` for a named gallery whose data set has no sweep, whose
    objective is not swept there, whose strengths are not members of the objective's
    grid (at the 4 significant digits of the models' paths), or whose name is that of a
    per-objective gallery."""
    per_objective = objective_galleries(config)
    for name, spec in config["figures"]["galleries"].items():
        key = f"figures.galleries.{name}"
        if name in per_objective:
            raise ConfigError(
                f"config key '{key}': {name} is the name of the gallery of {per_objective[name]['objective']} "
                f"on {per_objective[name]['dataset']} (fig_gallery_{name}). Fix: give the gallery another name."
            )
        dataset, objective = spec["dataset"], spec["objective"]
        shown = shown_experiments(config)
        if dataset not in shown:
            raise ConfigError(
                f"config key '{key}.dataset': {dataset} has no sweep or pretrained family. Fix: one of {list(shown)}."
            )
        exp = shown[dataset]
        if objective not in swept_objectives(exp):
            raise ConfigError(
                f"config key '{key}.objective': {objective} is not swept on {dataset}. "
                f"Fix: one of {swept_objectives(exp)}."
            )
        grid_key = (
            f"sweep.{dataset}.objectives.{objective}" if dataset in config["sweep"] else f"pretrained.{dataset}.eps"
        )
        members, seen = grid_strengths(exp, objective), set()
        searched = is_search(exp["objectives"][objective]["grid"])  # members known once it has run
        for i, strength in enumerate(spec["strengths"]):
            text = format_strength(strength)
            if not searched and text not in members:
                raise ConfigError(
                    f"config key '{key}.strengths.{i}': {text} is not in the grid of "
                    f"{grid_key} (strengths match at 4 significant digits; "
                    f"the nearest is {_nearest(text, members)}). Fix: use one of {members}."
                )
            if text in seen:
                raise ConfigError(f"config key '{key}.strengths.{i}': {text} is listed twice. Fix: remove one.")
            seen.add(text)
