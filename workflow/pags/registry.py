"""Extensions by name: every module of a package that defines ``SPEC``.

The objectives (``pags.objectives``), data sets (``pags.datasets``) and score backends
(``pags.score.backends``) are each one module with a ``SPEC`` of their package's spec
type, named as the module. ``discover`` finds them, ``lookup`` gets one by name; the
errors are the same for all three.

Modules are imported when a registry is built, by name, so a job's code version
(``pags.provenance``) covers the member it runs and no other: the rules add
``member_module(package, name)`` to it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from typing import TypeVar

Spec = TypeVar("Spec")


def member_module(package: str, name: str) -> str:
    """The module that defines member ``name`` of the registry in ``package``."""
    return f"{package}.{name}"


def discover(
    package: str, spec_type: type[Spec], support: Iterable[str] = ("spec",), first: Iterable[str] = ()
) -> dict[str, Spec]:
    """Every ``SPEC`` of the modules of ``package``, by name: in the order of ``first``
    for those it names, then by name. Modules named in ``support`` and private ones
    (``_x``) are no members. A member module without a ``SPEC`` of ``spec_type`` is a
    ``TypeError``, and one whose ``SPEC.name`` is not the module's a ``ValueError``,
    naming the module: a member is never silently left out."""
    support = frozenset(support)
    specs: dict[str, Spec] = {}
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if info.name in support or info.name.startswith("_"):
            continue
        module = member_module(package, info.name)
        spec = getattr(importlib.import_module(module), "SPEC", None)
        if not isinstance(spec, spec_type):
            raise TypeError(
                f"{module} defines no SPEC = {spec_type.__name__}(...); a module of {package} that is no member "
                f"is one of its support modules ({', '.join(sorted(support))}): add it to their list"
            )
        if spec.name != info.name:
            raise ValueError(f"{module}: SPEC.name is {spec.name!r}; it must be the module's name")
        specs[spec.name] = spec
    order = {name: i for i, name in enumerate(first)}
    return dict(sorted(specs.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))


def lookup(specs: Mapping[str, Spec], name: str, what: str, error: type[Exception] = KeyError) -> Spec:
    """The spec of ``name``; else ``error`` (``KeyError``) naming ``what`` it is and the known ones."""
    try:
        return specs[name]
    except KeyError:
        raise error(f"unknown {what} {name!r}; known: {list(specs)}") from None
