"""Checks of the config beyond its schema, and readable messages for schema errors.

The schema (workflow/schemas/config.schema.yaml) types every key; the checks here
cover what a schema cannot say (milestones below epochs, grids that collide in paths,
data that is absent with downloads off). Both run when the workflow is parsed, before
any job starts.
"""

from __future__ import annotations

from typing import Any, Iterable

from .datasets.mnist import mnist_present
from .errors import ConfigError
from .grid import expand_grid, format_strength


def key_path(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts) or "<top level>"


def describe_validation_error(error) -> str:
    """One line from a ``jsonschema.ValidationError``: the key, the problem, the fix."""
    best = error
    # oneOf/anyOf failures hide the useful message in their deepest sub-error.
    while best.context:
        best = max(best.context, key=lambda e: len(e.absolute_path))
    path = list(best.absolute_path)
    if best.validator == "additionalProperties" and isinstance(best.instance, dict):
        # Name the misspelt key itself ('distractor.training.epochz'), not just its parent.
        unknown = [k for k in best.instance if k not in best.schema.get("properties", {})]
        if len(unknown) == 1:
            path.append(unknown[0])
    where = key_path(path)
    hint = best.schema.get("description") or error.schema.get("description", "")
    message = f"config key '{where}': {best.message}."
    if best.validator == "additionalProperties":
        message += " Fix: remove or correct the misspelt key (the schema lists the valid ones)."
    elif hint:
        message += f" Expected: {' '.join(hint.split())}"
    return message


def check_experiment(name: str, exp: dict[str, Any]) -> None:
    training = exp["training"]
    for m in training["milestones"]:
        if m >= training["epochs"]:
            raise ConfigError(
                f"config key '{name}.training.milestones': milestone {m} is not below "
                f"{name}.training.epochs = {training['epochs']}. Fix: drop it or raise epochs."
            )
    for objective, options in exp["objectives"].items():
        grid = expand_grid(options["grid"])
        where = f"{name}.objectives.{objective}.grid"
        check_logspace(where, options["grid"])
        names = [format_strength(s) for s in grid]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"config key '{where}': strengths {names} collide at 4 significant digits. "
                "Fix: remove the duplicates or space the grid more widely."
            )
        if objective == "standard" and grid != [0]:
            raise ConfigError(f"config key '{where}': the standard objective has no strength. Fix: use grid: [0].")
        if objective == "pgd" and "eps_convention" not in options:
            raise ConfigError(
                f"config key '{name}.objectives.pgd.eps_convention' is missing: say which eps is meant, "
                "per_example (each image's own ball) or batch (one ball for the whole batch, the authors')."
            )


def check_logspace(where: str, spec) -> None:
    if isinstance(spec, dict) and spec["logspace"][0] > spec["logspace"][1]:
        raise ConfigError(f"config key '{where}': logspace start exceeds stop. Fix: write [start, stop, num] with start <= stop.")


def check_data(config: dict[str, Any], datasets: Iterable[str]) -> None:
    data = config["data"]
    if "mnist" in datasets and not data["download"] and not mnist_present(data["root"]):
        raise ConfigError(
            f"config key 'data.root': MNIST is not under '{data['root']}/MNIST/raw' and data.download is false. "
            "Fix: point data.root at a directory holding MNIST/raw (torchvision's layout) or set data.download: true."
        )


def check_config(config: dict[str, Any]) -> None:
    """Raise ``ConfigError`` for the first problem the schema cannot catch."""
    check_experiment("distractor", config["distractor"])
    check_logspace("distractor.noise_robustness.stds", config["distractor"]["noise_robustness"]["stds"])
    check_data(config, [config["distractor"]["dataset"]])
