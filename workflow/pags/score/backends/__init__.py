"""Score backends by name: every module of this package that defines ``SPEC``
(``spec.ScoreBackendSpec``).

Adding a module adds the backend to the config schema (``score.backends``,
``regimes.score``), validation, the workflow's score jobs and the figures' labels.
Modules are imported when the registry is built (``pags.registry``), by name, so a score
job's code version (``pags.provenance``) covers the backend it runs and no other: the
rules add ``backend_module(name)`` to it.
"""

from __future__ import annotations

from ...registry import discover, lookup, member_module
from .spec import ScoreBackendSpec, ScoreContext

__all__ = ["BACKENDS", "ScoreBackendSpec", "ScoreContext", "backend_module", "exact_reference", "get_backend"]


def backend_module(name: str) -> str:
    """The module that defines backend ``name``, e.g. ``pags.score.backends.edm``."""
    return member_module(__name__, name)


BACKENDS: dict[str, ScoreBackendSpec] = discover(__name__, ScoreBackendSpec)


def get_backend(name: str) -> ScoreBackendSpec:
    """The spec of backend ``name``; ``KeyError`` naming the known ones."""
    return lookup(BACKENDS, name, "score backend")


def exact_reference(name: str) -> str:
    """The exact backend of the synthetic data that backend ``name`` is checked against:
    the one that gives the same quantity (a score, or grad log p(y | x))."""
    posterior = get_backend(name).posterior
    return next(n for n, s in BACKENDS.items() if s.exact and s.posterior == posterior)
