"""Every key path a config error names exists in the schema.

Each bad config of tests/test_config_validation.py is validated in-process, once per session
(``test_config_validation.rejection``), by the functions the workflow calls when it is
parsed (``pags.config.validated_config``, then ``pags.preflight.check_at_parse``), and
every dotted key path in its message (``config key '...'``, and any other the message
names as the fix: ``set 'x.y: true'``, ``raise x.subset.test``) must resolve in
workflow/schemas/config.schema.yaml: through its properties, the entries of open
mappings (``weights.<name>``, ``figures.galleries.<name>``) and array items. The cases
must also reach every ``raise ConfigError`` of pags.config and pags.preflight, so that
no error goes unchecked.
"""

from __future__ import annotations

import ast
import importlib
import re
import traceback
from typing import Any

import pags.compatibility
import pags.config
import pags.preflight
import pytest
from pags.schema import config_schema
from pags.score.backends import BACKENDS, backend_module
from test_config_validation import CASES, rejection

SCHEMA = config_schema()
# a dotted path that starts with a top-level key of the schema: data.root, sweep.cifar10.score
KEY_PATH = re.compile(rf"\b(?:{'|'.join(map(re.escape, SCHEMA['properties']))})(?:\.[A-Za-z0-9_-]+)*")
# where the ConfigErrors the cases must all reach are raised: pags.config, pags.preflight,
# and the checks of pretrained denoisers they run (module, None for all its functions or
# their names)
CHECKED = (
    (pags.config, None),
    (pags.preflight, None),
    (pags.compatibility, {"check_denoiser", "check_training_data", "image_side"}),
    # each score backend's own config checks
    *((importlib.import_module(backend_module(name)), None) for name in BACKENDS),
)


def subschema(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].removeprefix("#/$defs/")]
    return node


def resolves(node: dict[str, Any], parts: list[str]) -> bool:
    """Whether the key path ``parts`` names a key (or an item) under the schema ``node``."""
    node = subschema(node)
    if not parts:
        return True
    alternatives = [subschema(n) for c in ("oneOf", "anyOf", "allOf") for n in node.get(c, [])]
    if any(resolves(n, parts) for n in alternatives):
        return True
    head, rest = parts[0], parts[1:]
    if head in node.get("properties", {}):
        return resolves(node["properties"][head], rest)
    if isinstance(node.get("additionalProperties"), dict):
        return resolves(node["additionalProperties"], rest)
    if head.isdigit():
        prefix = node.get("prefixItems", [])
        if int(head) < len(prefix):
            return resolves(prefix[int(head)], rest)
        if isinstance(node.get("items"), dict):
            return resolves(node["items"], rest)
    return False


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_key_an_error_names_exists_in_the_schema(case):
    message = str(rejection(case.id))
    keys = KEY_PATH.findall(message)
    assert keys or message.startswith("unknown top-level config key"), message
    for key in keys:
        assert resolves(SCHEMA, key.split(".")), f"{key!r} is no key of the schema: {message}"


def raise_sites(module, functions: set[str] | None) -> set[tuple[str, int]]:
    """(file, line) of each ``raise ConfigError(...)`` in ``module``'s ``functions`` (all
    if None)."""
    tree = ast.parse(open(module.__file__).read())
    scopes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and (functions is None or n.name in functions)]
    return {
        (module.__file__, node.lineno)
        for scope in scopes
        for node in ast.walk(scope)
        if isinstance(node, ast.Raise)
        and isinstance(node.exc, ast.Call)
        and getattr(node.exc.func, "id", "") == "ConfigError"
    }


# Validates every case: seconds, unless the tests above validated them first in this session.
@pytest.mark.slow
def test_the_cases_reach_every_config_error():
    reached = set()
    for case in CASES:
        frames = traceback.extract_tb(rejection(case.id).__traceback__)
        reached |= {(f.filename, f.lineno) for f in frames}
    sites = set().union(*(raise_sites(module, functions) for module, functions in CHECKED))
    assert len(sites) > 30
    missed = sorted(f"{file.rsplit('/', 1)[-1]}:{line}" for file, line in sites - reached)
    assert not missed, f"no case of tests/test_config_validation.py raises the ConfigError at {missed}"
