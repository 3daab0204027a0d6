"""Training objectives by name: every module of this package that defines ``SPEC``.

An objective is one module here with its loss and its ``spec.ObjectiveSpec`` (label,
colour, strength symbol, step cost, config options). Adding a module adds the objective
to the config schema, validation, the compute bill, tables, figures and galleries.

Modules are imported when the registry is built (``pags.registry``), by name, so a job's
code version (``pags.provenance``) covers the objective it runs and no other: the rules
add ``objective_module(name)`` to it. Adding or editing one objective reruns only its models.
"""

from __future__ import annotations

from typing import Any

from ..grid import strength_values
from ..registry import discover, lookup, member_module
from .spec import Objective, ObjectiveSpec

# The paper's order, in which figures and galleries show objectives; others follow by name.
PAPER_ORDER = ("standard", "gnorm", "smooth", "randsmooth", "pgd")


def objective_module(name: str) -> str:
    """The module that defines objective ``name``, e.g. ``pags.objectives.pgd``."""
    return member_module(__name__, name)


OBJECTIVES: dict[str, ObjectiveSpec] = discover(__name__, ObjectiveSpec, first=PAPER_ORDER)


def get_spec(name: str) -> ObjectiveSpec:
    """The spec of objective ``name``; ``KeyError`` naming the known ones."""
    return lookup(OBJECTIVES, name, "objective")


def make_objective(name: str, strength: Any, options: dict[str, Any]) -> Objective:
    """Build an objective from one strength and its config options; ``ValueError`` for an
    unknown name."""
    spec = lookup(OBJECTIVES, name, "objective", ValueError)
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
