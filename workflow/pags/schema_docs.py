"""The config reference, ``docs/config.md``, generated from the config schema.

Every key of ``pags.schema.config_schema()`` (the YAML schema with the objectives, data
sets and score backends the package registers) with its type, default and meaning, one
table per section; the schema's shared parts (``$defs`` with keys of their own, such as
``training``) get a section each, linked from every key that uses them.

Regenerate after editing the schema or adding an objective, data set or score backend::

    python -m pags.schema_docs > docs/config.md

``tests/test_schema_docs.py`` fails while the file differs from what this prints.
"""

from __future__ import annotations

import json
from typing import Any

from .schema import config_schema

COMMAND = "python -m pags.schema_docs > docs/config.md"
HEADER = f"""# Configuration reference

Every key of a pags config (`config.yaml`, `demo/experiments.yaml`, your own `--configfile`),
with its type, its default and what it means. Generated from
`workflow/schemas/config.schema.yaml` and the objectives, data sets and score backends the
package registers, by `{COMMAND}`: edit the schema, not this page. A key marked *required*
must be given; a key with no default may be left out. Unknown keys are errors.
"""


def _ref_name(node: dict) -> str | None:
    return node["$ref"].rsplit("/", 1)[-1] if "$ref" in node else None


class Reference:
    """The reference of one schema: ``markdown()`` renders it."""

    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self.defs = schema.get("$defs", {})
        # the shared parts with keys of their own: a section each
        self.sections = [name for name, d in self.defs.items() if "properties" in d]
        self.used_at: dict[str, list[str]] = {name: [] for name in self.sections}

    def resolved(self, node: dict) -> dict:
        """``node`` merged into the definition it refers to (its own keys win)."""
        name = _ref_name(node)
        if name is None:
            return node
        return {**self.resolved(self.defs[name]), **{k: v for k, v in node.items() if k != "$ref"}}

    def type_of(self, node: dict) -> str:
        """The type of a value in words: ``integer >= 1``, ``list of number > 0``, a link."""
        name = _ref_name(node)
        if name in self.sections:
            return f"[{name}](#{name})"
        node = self.resolved(node)
        if "enum" in node:
            return "one of " + ", ".join(
                f"`{json.dumps(v)}`" if not isinstance(v, str) else f"`{v}`" for v in node["enum"]
            )
        for key in ("oneOf", "anyOf"):
            if key in node:
                return " or ".join(self._grouped(self.inline_type(option)) for option in node[key])
        types = node.get("type", [])
        types = [types] if isinstance(types, str) else list(types)
        words = [self._one_type(t, node) for t in types]
        return " or ".join(words) if words else "any"

    def _one_type(self, kind: str, node: dict) -> str:
        if kind == "array":
            if "prefixItems" in node:
                return "[" + ", ".join(self.type_of(item) for item in node["prefixItems"]) + "]"
            items = node.get("items")
            return f"list of {self._grouped(self.type_of(items))}" if isinstance(items, dict) else "list"
        if kind == "object":
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                return f"mapping of names to {self._grouped(self.type_of(extra))}"
            return "mapping" if "properties" not in node else "section"
        if kind not in ("number", "integer"):
            return kind
        bounds = []
        for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
            if key in node:
                bounds.append(f"{sign} {node[key]}")
        return " ".join([kind, ", ".join(bounds)]).strip()

    def inline_type(self, node: dict) -> str:
        """A value's type where it is not a key of its own: an object spelt out."""
        node = self.resolved(node)
        if "properties" in node and _ref_name(node) not in self.sections:
            return "{" + ", ".join(f"{k}: {self.type_of(v)}" for k, v in node["properties"].items()) + "}"
        return self.type_of(node)

    @staticmethod
    def _grouped(words: str) -> str:
        """``words`` in parentheses if they are alternatives, so that ``list of`` binds."""
        return f"({words})" if " or " in words else words

    @staticmethod
    def default_of(node: dict, required: bool) -> str:
        if required:
            return "*required*"
        if "default" in node:
            return f"`{json.dumps(node['default'])}`"
        return ""

    @staticmethod
    def cell(text: str) -> str:
        return " ".join(str(text).split()).replace("|", "\\|")

    def rows(self, node: dict, prefix: str, where: str) -> list[str]:
        """Table rows of the keys of object ``node``, nested keys as dotted paths under
        ``prefix``; ``where`` is the key's place in a config (for the sections' "used at")."""
        node = self.resolved(node)
        lines = []
        required = set(node.get("required", []))
        properties = node.get("properties", {})
        refs = {_ref_name(p) for p in properties.values()}
        if len(properties) > 1 and len(refs) == 1 and None not in refs:
            # one kind of value under every name (sweep: one per data set): one row for all
            name = refs.pop()
            names = ", ".join(f"`{k}`" for k in properties)
            key = f"{prefix}<name>"
            description = f"One section per name, each of {names}."
            lines.append(self.row(key, self.type_of(properties[next(iter(properties))]), "", description))
            self.note_use(name, f"{where}<name>")
            return lines
        for key, child in properties.items():
            lines += self.key_rows(child, f"{prefix}{key}", f"{where}{key}", key in required)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            lines += self.key_rows(extra, f"{prefix}<name>", f"{where}<name>", False, listed=False)
        return lines

    def key_rows(self, child: dict, key: str, where: str, required: bool, listed: bool = True) -> list[str]:
        """The row of one key, then the rows of the keys it holds (unless a linked section)."""
        merged = self.resolved(child)
        name = _ref_name(child)
        lines = []
        if listed:
            lines.append(
                self.row(key, self.type_of(child), self.default_of(merged, required), merged.get("description", ""))
            )
        if name in self.sections:
            self.note_use(name, where)
            return lines
        if "properties" in merged or isinstance(merged.get("additionalProperties"), dict):
            lines += self.rows(merged, f"{key}.", f"{where}.")
        return lines

    def note_use(self, name: str, where: str) -> None:
        if where not in self.used_at[name]:
            self.used_at[name].append(where)

    def row(self, key: str, kind: str, default: str, description: str) -> str:
        return f"| `{key}` | {self.cell(kind)} | {self.cell(default)} | {self.cell(description)} |"

    def table(self, rows: list[str]) -> list[str]:
        return ["| key | type | default | meaning |", "|---|---|---|---|", *rows, ""]

    def markdown(self) -> str:
        lines = [HEADER]
        if "description" in self.schema:
            lines += [self.cell(self.schema["description"]), ""]
        for key, child in self.schema.get("properties", {}).items():
            required = key in set(self.schema.get("required", []))
            lines += [f"## {key}", ""]
            lines += self.table(self.key_rows(child, key, key, required))
        # the shared sections, each after every key that uses it has been seen
        done: set[str] = set()
        while pending := [name for name in self.sections if self.used_at[name] and name not in done]:
            name = pending[0]
            done.add(name)
            rows = self.rows(self.defs[name], "", f"{self.used_at[name][0]}.")
            used = ", ".join(f"`{w}`" for w in self.used_at[name])
            lines += [f"## {name}", ""]
            if self.defs[name].get("description"):
                lines += [self.cell(self.defs[name]["description"]), ""]
            lines += [f"Under {used}; its keys:", ""]
            lines += self.table(rows)
        return "\n".join(lines).rstrip() + "\n"


def config_reference() -> str:
    """``docs/config.md``: the config reference of the package's schema, as Markdown."""
    return Reference(config_schema()).markdown()


if __name__ == "__main__":
    print(config_reference(), end="")
