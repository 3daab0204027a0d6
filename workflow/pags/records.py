"""A trained model as the jobs after training read it: the columns of its rows in the tidy
tables, from its ``train.json``, and its network, unless its training diverged (then it
has no weights, and its rows are NaN rather than missing)."""

from __future__ import annotations

import json
import os
from typing import Any

from torch import nn

from .labels import model_columns
from .models import load_model


def read_trained(model: str | os.PathLike, record: str | os.PathLike) -> tuple[dict[str, Any], nn.Module | None]:
    """(``labels.model_columns`` of the record ``train.json``, the network of ``model`` in
    eval mode on the CPU, or None if the record's status is ``diverged``). Raises what
    ``models.load_model`` raises for a malformed model file."""
    with open(record) as f:
        columns = model_columns(json.load(f))
    return columns, None if columns["status"] == "diverged" else load_model(model)
