"""How models are named in tables and figures."""

from __future__ import annotations

from typing import Any

from .grid import format_strength, strength_values
from .objectives import OBJECTIVES

# Models in the tables that no objective trains: on synthetic, the exact Bayes-optimal classifier.
REFERENCE_NAMES = {"bayes": "Bayes optimal"}
EPS_CONVENTION_NAMES = {"per_example": "per-example ε", "batch": "batch-shared ε"}


def objective_name(objective: str) -> str:
    """An objective's name in tables and figures (its spec's label)."""
    if objective in REFERENCE_NAMES:
        return REFERENCE_NAMES[objective]
    return OBJECTIVES[objective].label if objective in OBJECTIVES else objective


def strength_symbol(objective: str) -> str:
    """The symbol of an objective's strength ("λ", "σ", "ε", ...)."""
    return OBJECTIVES[objective].symbol if objective in OBJECTIVES else "λ"


def model_label(objective: str, strength: Any, options: dict[str, Any]) -> str:
    """E.g. 'PGD-L2, ε ∈ {1, 4, 8} (batch-shared ε)': says which eps is meant."""
    name = objective_name(objective)
    if objective in REFERENCE_NAMES or not strength_symbol(objective):
        return name
    values = strength_values(strength)
    value = f"= {values[0]:g}" if len(values) == 1 else "∈ {" + ", ".join(f"{v:g}" for v in values) + "}"
    label = f"{name}, {strength_symbol(objective)} {value}"
    if "eps_convention" in options:
        label += f" ({EPS_CONVENTION_NAMES[options['eps_convention']]})"
    return label


def model_columns(record: dict[str, Any]) -> dict[str, Any]:
    """Identifying columns for a model's rows in a tidy table, from its train.json."""
    hp = record["hparams"]
    return {
        "objective": hp["objective"],
        "strength": format_strength(hp["strength"]),
        "strength_value": max(strength_values(hp["strength"])),
        "seed": hp["seed"],
        "label": model_label(hp["objective"], hp["strength"], hp["objective_options"]),
        "test_accuracy": record["test_accuracy"],
        "status": record.get("status", "ok"),
    }
