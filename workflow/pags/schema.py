"""The config schema: ``workflow/schemas/config.schema.yaml`` with the parts that the
registries define filled in (each objective's options, ``pags.objectives``; the data sets
a sweep or the distractor experiment can take, ``pags.datasets``; the score backends,
``pags.score.backends``), so that adding one needs no edit here or in the YAML.

``validate_config`` validates a config against it with Snakemake's own ``validate`` (which
fills in the schema's defaults)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml

from .datasets.registry import BASE_DATASETS, DISTRACTOR_SHAPE
from .objectives import OBJECTIVES, objectives_schema
from .score.backends import BACKENDS

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def config_schema() -> dict[str, Any]:
    """The full JSON schema of a pags config (a new dict on every call)."""
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    defs = schema["$defs"]
    defs["objectives"] = {**objectives_schema(), **defs["objectives"]}
    defs["swept_objective"] = {**defs["swept_objective"], "enum": [o for o in OBJECTIVES if o != "standard"]}
    sweep = schema["properties"]["sweep"]
    sweep["properties"] = {name: {"$ref": "#/$defs/sweep_experiment"} for name in [*BASE_DATASETS, "synthetic"]}
    distractor = schema["properties"]["distractor"]["properties"]["dataset"]
    distractor["enum"] = [name for name, spec in BASE_DATASETS.items() if spec.shape == DISTRACTOR_SHAPE]
    defs["score_backend"] = {**defs["score_backend"], "enum": list(BACKENDS)}
    return schema


def validate_config(config: dict[str, Any]) -> None:
    """Validate ``config`` in place against ``config_schema()``, filling in defaults.

    Raises Snakemake's ``WorkflowError`` whose ``__context__`` is the
    ``jsonschema.ValidationError`` (``pags.config.describe_validation_error`` words it)."""
    from snakemake.utils import validate

    with tempfile.TemporaryDirectory(prefix="pags-schema-") as tmp:
        # YAML, not JSON: Snakemake reads a JSON schema's objects as OrderedDicts, which
        # would then be the defaults it fills into the config.
        path = Path(tmp) / "config.schema.yaml"
        path.write_text(yaml.safe_dump(config_schema(), sort_keys=False))
        validate(config, str(path), set_default=True)
