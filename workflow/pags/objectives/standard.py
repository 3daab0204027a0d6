"""standard: plain cross-entropy l(f(x), y), the unrobust baseline."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from .spec import ObjectiveSpec


@dataclass
class Standard:
    """Plain cross-entropy: the unrobust baseline."""

    def __call__(self, model, x, y, generator):
        return F.cross_entropy(model(x), y)


SPEC = ObjectiveSpec(
    name="standard",
    label="standard",
    symbol="",
    color="#4d4d4d",
    build=lambda values, options: Standard(),
    step_cost=lambda options: 1.0,
    options={"grid": {"$ref": "#/$defs/grid", "default": [0]}},
    required=(),
    description="Plain cross-entropy, the reference every regime is defined against (grid [0]).",
)
