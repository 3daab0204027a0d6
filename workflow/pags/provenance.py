"""What decides a rerun: the code a job runs and the values it is given, nothing cosmetic.

Snakemake's own ``code`` trigger compares a script's modification time with its outputs',
so a blank line in a script reruns every job of the rule, and a change to the package the
script imports reruns nothing. The workflow turns that trigger off (``profiles/default``)
and gives every rule a ``code`` param instead: ``code_version(script)``, a digest of the
script and of every ``pags`` module it imports, directly or through other modules, each
taken from its syntax tree without docstrings. Comments, docstrings and formatting do not
change it; any change to what the code does does, and Snakemake's ``params`` trigger then
reruns exactly the jobs that run that code.

``canonical(value)`` puts a params value in a form that depends only on its values: mapping
keys sorted, tuples as lists, so that reordering keys in the config reruns nothing.
``schema_values(config, schema)`` turns integers in number-typed keys into floats, so that
``lr: 1`` and ``lr: 1.0`` are the same value, and sorts the lists the schema marks as sets
(``x-unordered: true``), so that milestones ``[8, 6]`` and ``[6, 8]`` are too.

A job checks, as it starts, that the code it runs still has the digest its run was planned
with (``check_job_code``): code edited while a run goes on stops the jobs that would run
it, rather than have them record the planned digest for a result of other code.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import CodeChanged

PACKAGE = "pags"
PACKAGE_DIR = Path(__file__).resolve().parent

# Modules that only report (logging, progress, device choice, error classes) or carry metadata (the
# package's version): they cannot change a result, so editing them reruns nothing.
REPORTING_MODULES = frozenset({"pags", "pags.runtime", "pags.errors", "pags.progress"})


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]
    return tree


def normalised_source(source: str, filename: str = "<source>") -> str:
    """The code of ``source`` without comments, docstrings and formatting: its syntax tree,
    dumped without line numbers. Two sources that differ only in those give the same string.

    Raises ``SyntaxError`` if ``source`` is not valid Python."""
    return ast.dump(_strip_docstrings(ast.parse(source, filename)), include_attributes=False)


def module_file(module: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The file of ``pags.a.b`` (``a/b.py`` or ``a/b/__init__.py``), or None if there is none."""
    parts = module.split(".")[1:]
    base = package_dir.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(module: str) -> list[str]:
    """``pags.a.b`` and the packages that importing it runs: ``pags``, ``pags.a``."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imported_modules(tree: ast.AST, module: str | None, is_package: bool) -> set[str]:
    """Names of the ``pags`` modules an AST imports anywhere (functions included), with
    ``from x import name`` counted as ``x.name`` as well, in case ``name`` is a module.
    ``module`` is the importing module's name (None for a script), for relative imports."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if module is None:
                    continue
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


def code_modules(script: str | Path, package_dir: Path = PACKAGE_DIR, extra: Iterable[str] = ()) -> dict[str, Path]:
    """Every ``pags`` module ``script`` runs when imported: its imports, theirs, and the
    packages above each; name -> file, sorted by name. ``extra`` names modules the script
    imports at run time by name (a registry's loader), followed the same way."""
    seen: dict[str, Path] = {}
    todo = [*imported_modules(ast.parse(Path(script).read_text()), None, False), *extra]
    while todo:
        name = todo.pop()
        for parent in _with_parents(name):
            if parent in seen:
                continue
            path = module_file(parent, package_dir)
            if path is None:  # ``from pags.x import function``: not a module
                continue
            seen[parent] = path
            todo.extend(_module_imports(path, path.stat().st_mtime_ns, parent))
    return dict(sorted(seen.items()))


@functools.cache
def _module_imports(path: Path, mtime_ns: int, module: str) -> frozenset[str]:
    """``imported_modules`` of one module file, parsed once per modification."""
    return frozenset(imported_modules(ast.parse(path.read_text(), str(path)), module, path.name == "__init__.py"))


@functools.cache
def _file_digest(path: Path, mtime_ns: int) -> str:
    return hashlib.sha256(normalised_source(path.read_text(), str(path)).encode()).hexdigest()


def file_digest(path: str | Path) -> str:
    """sha256 of a Python file's normalised source (``normalised_source``)."""
    path = Path(path).resolve()
    return _file_digest(path, path.stat().st_mtime_ns)


def code_version(script: str | Path, package_dir: Path = PACKAGE_DIR, extra: Iterable[str] = ()) -> str:
    """``"code <16 hex digits> (<script> <8 hex>, pags.a <8 hex>, ...)"``: the digest of
    ``script`` and of the ``pags`` modules it runs (``code_modules``, with ``extra``) but
    the reporting ones, each normalised (``normalised_source``), then each file's own
    digest, so that what changed can be named (``pags.stale``).

    Raises ``FileNotFoundError`` if ``script`` does not exist and ``SyntaxError`` if it or
    a module does not parse."""
    script_digest = file_digest(script)
    modules = {
        name: file_digest(path)
        for name, path in code_modules(script, package_dir, extra).items()
        if name not in REPORTING_MODULES
    }
    digest = hashlib.sha256(script_digest.encode())
    for name, file in modules.items():
        digest.update(f"{name}:{file}".encode())
    files = ", ".join(f"{name} {file[:8]}" for name, file in {Path(script).name: script_digest, **modules}.items())
    return f"code {digest.hexdigest()[:16]} ({files})"


def code_parts(version: str) -> dict[str, str]:
    """The files of a ``code_version`` string and their digests: name -> 8 hex digits
    (empty for the older form without them)."""
    match = re.fullmatch(r"code [0-9a-f]{16} \((.*)\)", version)
    if match is None:
        return {}
    return dict(part.rsplit(" ", 1) for part in match.group(1).split(", "))


def check_job_code(script: str | Path, planned: str, package_dir: Path = PACKAGE_DIR) -> None:
    """Raise ``CodeChanged`` unless ``script`` and the modules it runs have the digest
    ``planned`` (a ``code_version``, the job's ``code`` param) now, at the start of the job.

    Imports those modules first, those the script would import later included, so that
    the code the job runs is the code that was digested. A module whose own dependencies
    are not installed is left to fail where the job uses it."""
    extra = [name for name in code_parts(planned) if name.startswith(PACKAGE)]
    for name in code_modules(script, package_dir, extra):
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    found = code_version(script, package_dir, extra)
    if found != planned:
        now, then = code_parts(found), code_parts(planned)
        changed = sorted(name for name in now.keys() | then.keys() if now.get(name) != then.get(name))
        raise CodeChanged(
            f"the code changed since the run was planned: {', '.join(changed) or Path(script).name} "
            f"('{found}' now, '{planned}' planned). Fix: rerun snakemake, which plans the jobs of the changed "
            "code again (or undo the edit)."
        )


def canonical(value: Any) -> Any:
    """``value`` with every mapping's keys sorted (recursively) and tuples as lists: equal
    values give equal ``repr``, which is what Snakemake compares to see a params change."""
    if isinstance(value, Mapping):
        return {str(k): canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def schema_values(instance: Any, schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> Any:
    """``instance`` with each integer in a key the JSON schema types as ``number`` (and not
    ``integer``) turned into a float, so that ``1`` and ``1.0`` there are one value, and
    each list of a key the schema marks ``x-unordered: true`` (a set of values) sorted.

    Follows local ``$ref``s, ``properties``, ``additionalProperties``, ``items`` and, for
    ``oneOf``/``anyOf``, the branches whose type admits the instance. Returns a new object."""
    root = schema if root is None else root
    if "$ref" in schema:
        schema = {**_resolve(schema["$ref"], root), **{k: v for k, v in schema.items() if k != "$ref"}}
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if isinstance(instance, bool):
        return instance
    if isinstance(instance, int) and "number" in types and "integer" not in types:
        return float(instance)
    for combinator in ("oneOf", "anyOf"):
        for branch in schema.get(combinator, []):
            if _admits(branch, instance, root):
                instance = schema_values(instance, branch, root)
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: schema_values(v, properties[k], root)
            if k in properties
            else schema_values(v, extra, root)
            if isinstance(extra, Mapping)
            else v
            for k, v in instance.items()
        }
    if isinstance(instance, list):
        if isinstance(schema.get("items"), Mapping):
            instance = [schema_values(v, schema["items"], root) for v in instance]
        if schema.get("x-unordered"):
            instance = sorted(instance)
    return instance


_JSON_TYPES = {"object": dict, "array": list, "string": str, "number": (int, float), "integer": int, "null": type(None)}


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are followed, got {ref!r}")
    node: Any = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _admits(schema: Mapping[str, Any], instance: Any, root: Mapping[str, Any]) -> bool:
    if "$ref" in schema:
        schema = _resolve(schema["$ref"], root)
    types: Iterable[str] = schema.get("type") or []
    types = [types] if isinstance(types, str) else types
    return not types or any(isinstance(instance, _JSON_TYPES[t]) for t in types if t in _JSON_TYPES)
