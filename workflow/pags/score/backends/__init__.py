"""Score backends by name: every module of this package that defines ``SPEC``
(``spec.ScoreBackendSpec``).

Adding a module adds the backend to the config schema (``score.backends``,
``regimes.score``), validation, the workflow's score jobs and the figures' labels.
Modules are imported when the registry is built, by name, so a score job's code version
(``pags.provenance``) covers the backend it runs and no other: the rules add
``backend_module(name)`` to it.
"""

from __future__ import annotations

import importlib
import pkgutil

from .spec import ScoreBackendSpec, ScoreContext

__all__ = ["BACKENDS", "ScoreBackendSpec", "ScoreContext", "backend_module", "exact_reference", "get_backend"]

_SUPPORT_MODULES = frozenset({"spec"})


def backend_module(name: str) -> str:
    """The module that defines backend ``name``, e.g. ``pags.score.backends.edm``."""
    return f"{__name__}.{name}"


def _discover() -> dict[str, ScoreBackendSpec]:
    specs = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _SUPPORT_MODULES or info.name.startswith("_"):
            continue
        module = importlib.import_module(backend_module(info.name))
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, ScoreBackendSpec) or spec.name != info.name:
            raise TypeError(f"{module.__name__} must define SPEC = ScoreBackendSpec(name={info.name!r}, ...)")
        specs[spec.name] = spec
    return specs


BACKENDS: dict[str, ScoreBackendSpec] = dict(sorted(_discover().items()))


def get_backend(name: str) -> ScoreBackendSpec:
    """The spec of backend ``name``; ``KeyError`` naming the known ones."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise KeyError(f"unknown score backend {name!r}; known: {list(BACKENDS)}") from None


def exact_reference(name: str) -> str:
    """The exact backend of the synthetic data that backend ``name`` is checked against:
    the one that gives the same quantity (a score, or grad log p(y | x))."""
    posterior = get_backend(name).posterior
    return next(n for n, s in BACKENDS.items() if s.exact and s.posterior == posterior)
