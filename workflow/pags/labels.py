"""How models are named in tables and figures."""

from __future__ import annotations

from typing import Any

from .grid import format_strength, strength_values

OBJECTIVE_NAMES = {
    "standard": "standard",
    "gnorm": "gradient norm",
    "smooth": "smoothness",
    "randsmooth": "randomized smoothing",
    "pgd": "PGD-L2",
    "bayes": "Bayes optimal",
}
STRENGTH_SYMBOLS = {"gnorm": "λ", "smooth": "λ", "randsmooth": "σ", "pgd": "ε"}
EPS_CONVENTION_NAMES = {"per_example": "per-example ε", "batch": "batch-shared ε"}


def model_label(objective: str, strength: Any, options: dict[str, Any]) -> str:
    """E.g. 'PGD-L2, ε ∈ {1, 4, 8} (batch-shared ε)': says which eps is meant."""
    name = OBJECTIVE_NAMES.get(objective, objective)
    if objective in ("standard", "bayes"):
        return name
    values = strength_values(strength)
    value = f"= {values[0]:g}" if len(values) == 1 else "∈ {" + ", ".join(f"{v:g}" for v in values) + "}"
    symbol = STRENGTH_SYMBOLS.get(objective, "λ")
    label = f"{name}, {symbol} {value}"
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
