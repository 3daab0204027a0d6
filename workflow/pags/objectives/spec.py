"""What an objective is: its loss and a spec that carries everything else the workflow needs.

An objective is a callable ``objective(model, x, y, generator) -> loss`` (a 0-dim tensor),
built from one strength (a number, or a list from which one value is drawn per batch) and
its config options. Each objective lives in its own module of this package and defines
``SPEC``, an ``ObjectiveSpec``: the package registers every such module (``pags.objectives``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]

# JSON-schema pieces of an objective's config entry, defined once in the config schema.
GRID = {"$ref": "#/$defs/grid"}
LR_THRESHOLD = {"$ref": "#/$defs/lr_threshold"}
POSITIVE_NUMBER = {"$ref": "#/$defs/positive_number"}
OBJECTIVE_SEEDS = {"$ref": "#/$defs/objective_seeds"}  # every objective's, added by ``schema``

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class ObjectiveSpec:
    """Everything the workflow knows about one objective, in one place.

    - ``name``: its key under ``objectives:`` in the config, and in the models' paths.
    - ``label``: its name in tables and figures; ``symbol``: its strength's symbol ("λ",
      "ε"; "" for an objective without strength).
    - ``color``: its colour in figures, ``#rrggbb``.
    - ``build(values, options)``: the objective for strength ``values`` (a list of floats,
      one drawn per batch) and its config entry ``options``.
    - ``step_cost(options)``: a training step's cost over a plain step of the same model,
      in forward + backward passes (the compute bill, ``pags.cost``).
    - ``options``: the JSON-schema properties of its config entry (``grid`` included);
      ``required``: the keys that must be given; ``description``: the schema's description.
    - ``absent``: what an option without a schema default means when it is left out (an
      option added after models were trained, which keep their params so): ``build``
      reads it with ``options_with_absent``, and an option set to this value is dropped
      from the params (``params_options``), as the same value must rerun nothing.

    Raises ``TypeError`` for a missing part and ``ValueError`` for a malformed one, when the
    module that defines it is imported."""

    name: str
    label: str
    symbol: str
    color: str
    build: Callable[[list[float], dict[str, Any]], Objective]
    step_cost: Callable[[dict[str, Any]], float]
    options: Mapping[str, Any]
    description: str
    required: tuple[str, ...] = field(default=("grid",))
    absent: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"objective name {self.name!r}: use lower-case letters, digits and '_'")
        if not self.label:
            raise ValueError(f"objective {self.name!r}: label is empty")
        if not _COLOR.fullmatch(self.color):
            raise ValueError(f"objective {self.name!r}: color {self.color!r} is not of the form #rrggbb")
        if not callable(self.build) or not callable(self.step_cost):
            raise ValueError(f"objective {self.name!r}: build and step_cost must be callables")
        if "grid" not in self.options:
            raise ValueError(f"objective {self.name!r}: its options must include 'grid'")
        missing = set(self.required) - set(self.options)
        if missing:
            raise ValueError(f"objective {self.name!r}: required keys {sorted(missing)} are not among its options")
        unknown = set(self.absent) - set(self.options)
        if unknown:
            raise ValueError(f"objective {self.name!r}: absent values for {sorted(unknown)}, which are not options")

    def options_with_absent(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` with the meaning of every option left out (``absent``) filled in."""
        return {**self.absent, **options}

    def params_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``options`` without those set to what leaving them out means: the job params."""
        return {k: v for k, v in options.items() if k not in self.absent or self.absent[k] != v}

    def schema(self) -> dict[str, Any]:
        """The JSON schema of this objective's config entry."""
        return {
            "description": self.description,
            "type": "object",
            "additionalProperties": False,
            "required": list(self.required),
            "properties": {**self.options, "seeds": OBJECTIVE_SEEDS},
        }


def draw(values: list[float], generator: torch.Generator) -> float:
    """One value per batch, from the training generator so resumed runs draw the same."""
    if len(values) == 1:
        return values[0]
    index = torch.randint(len(values), (1,), generator=generator, device=generator.device)
    return values[int(index)]


def gaussian_like(x: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    return std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
