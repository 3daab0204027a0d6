"""Training objectives by name: every module of this package that defines ``SPEC``.

An objective is one module here with its loss and its ``spec.ObjectiveSpec`` (label,
colour, strength symbol, step cost, config options). Adding a module adds the objective
to the config schema, validation, the compute bill, tables, figures and galleries.

Modules are imported when the registry is built, by name, so a job's code version
(``pags.provenance``) covers the objective it runs and no other: the rules add
``objective_module(name)`` to it. Adding or editing one objective reruns only its models.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from ..grid import strength_values
from .spec import Objective, ObjectiveSpec

# The paper's order, in which figures and galleries show objectives; others follow by name.
PAPER_ORDER = ("standard", "gnorm", "smooth", "randsmooth", "pgd")
_SUPPORT_MODULES = frozenset({"spec"})


def objective_module(name: str) -> str:
    """The module that defines objective ``name``, e.g. ``pags.objectives.pgd``."""
    return f"{__name__}.{name}"


def _discover() -> dict[str, ObjectiveSpec]:
    specs: dict[str, ObjectiveSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _SUPPORT_MODULES or info.name.startswith("_"):
            continue
        module = importlib.import_module(objective_module(info.name))
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, ObjectiveSpec):
            raise TypeError(f"{module.__name__} defines no SPEC = ObjectiveSpec(...)")
        if spec.name != info.name:
            raise ValueError(f"{module.__name__}: SPEC.name is {spec.name!r}; it must be the module's name")
        specs[spec.name] = spec
    order = {name: i for i, name in enumerate(PAPER_ORDER)}
    return dict(sorted(specs.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))


OBJECTIVES: dict[str, ObjectiveSpec] = _discover()


def get_spec(name: str) -> ObjectiveSpec:
    """The spec of objective ``name``; ``KeyError`` naming the known ones."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise KeyError(f"unknown objective {name!r}; known: {list(OBJECTIVES)}") from None


def make_objective(name: str, strength: Any, options: dict[str, Any]) -> Objective:
    """Build an objective from one strength and its config options; ``ValueError`` for an
    unknown name."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; known: {list(OBJECTIVES)}")
    spec = OBJECTIVES[name]
    return spec.build(strength_values(strength), spec.options_with_absent(options))


def scaled_lr(lr: float, strength: Any, threshold: float | None) -> float:
    """The authors' rule for strong regularisers: divide lr by strength / threshold when
    the (largest) strength exceeds the threshold, so training stays stable."""
    largest = max(strength_values(strength))
    if threshold is None or largest <= threshold:
        return lr
    return lr * threshold / largest


def objectives_schema() -> dict[str, Any]:
    """The JSON schema of an experiment's ``objectives:`` section, from the registry."""
    return {
        "description": "Training objectives by name, each with its grid of strengths and its options "
        "(each defined by its module in workflow/pags/objectives/).",
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {name: spec.schema() for name, spec in OBJECTIVES.items()},
    }
