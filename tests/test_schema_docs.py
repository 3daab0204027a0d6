"""docs/config.md, the config reference, is what ``python -m pags.schema_docs`` prints for
the current schema, and the schema gives every key a meaning."""

from __future__ import annotations

import yaml
from pags.schema import SCHEMA_FILE, config_schema
from pags.schema_docs import COMMAND, config_reference
from workflow_helpers import REPO

# The JSON-schema keywords the schema uses (and pags's own x-unordered): any other key of a
# schema node is a slip, such as a flow mapping's unquoted comma splitting a description.
KEYWORDS = {
    "$schema", "$defs", "$ref", "description", "type", "properties", "additionalProperties", "required",
    "default", "enum", "oneOf", "anyOf", "items", "prefixItems", "minItems", "maxItems", "uniqueItems",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern",
    "propertyNames", "minProperties", "x-unordered",
}  # fmt: skip


def test_the_config_reference_is_up_to_date():
    assert (REPO / "docs" / "config.md").read_text() == config_reference(), f"regenerate it: {COMMAND}"


def schema_nodes(node, path=""):
    """(path, node) of every schema node under ``node``: the named ones (properties, $defs)
    and the nested ones (items, alternatives, additionalProperties)."""
    yield path, node
    for key, value in node.items():
        if key in ("properties", "$defs"):
            for name, child in value.items():
                yield from schema_nodes(child, f"{path}.{name}".lstrip("."))
        elif key in ("items", "additionalProperties", "propertyNames") and isinstance(value, dict):
            yield from schema_nodes(value, f"{path}[{key}]")
        elif key in ("oneOf", "anyOf", "prefixItems"):
            for i, option in enumerate(value):
                yield from schema_nodes(option, f"{path}[{key} {i}]")


def test_every_schema_node_uses_only_schema_keywords():
    raw = yaml.safe_load(SCHEMA_FILE.read_text())
    for schema in (raw, config_schema()):
        slips = {path: sorted(set(node) - KEYWORDS) for path, node in schema_nodes(schema) if set(node) - KEYWORDS}
        assert not slips, slips


def test_every_key_of_the_schema_file_has_a_meaning():
    """Each key the YAML schema defines has a description, its own or that of the definition
    it refers to. (The objectives' options live in their modules, whose text is part of
    their models' code version: a description added there retrains those models.)"""
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    defs = schema["$defs"]
    missing = []
    for path, node in schema_nodes(schema):
        parent, _, name = path.rpartition(".")
        if not name or "[" in name or path.startswith(tuple(defs)) and "." not in path:
            continue  # the root, nested alternatives, and the shared definitions themselves
        ref = node.get("$ref", "").rsplit("/", 1)[-1]
        if not node.get("description") and not defs.get(ref, {}).get("description"):
            missing.append(path)
    assert not missing, missing
