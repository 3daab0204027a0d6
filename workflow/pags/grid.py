"""Regularization strengths: grid expansion and their canonical strings in paths.

A strength is a number, or a list of numbers from which training draws one per batch
(the authors' MNIST PGD model draws eps from {1, 4, 8}). Paths hold one canonical
string per strength, and the value a job uses is parsed back from that string, so
the path and the value always agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SIGNIFICANT_DIGITS = 4
LIST_SEPARATOR = "_"
# Matches what ``format_strength`` writes; used as the Snakemake wildcard constraint.
STRENGTH_PATTERN = r"[0-9.e-]+(_[0-9.e-]+)*"

Strength = float | Sequence[float]


def expand_grid(spec) -> list:
    """A grid spec is a list of values, ``{"logspace": [start, stop, num]}``, or a search
    (``pags.search``): ``{"search": {"start": [start, stop, num], ...}}``, whose strengths
    are known only as it runs; this gives its first round, num log-spaced values from
    10^start to 10^stop, each as its path string reads back."""
    if is_search(spec):
        start, stop, num = spec["search"]["start"]
        return [canonical(v) for v in np.logspace(start, stop, int(num))]
    if isinstance(spec, dict):
        start, stop, num = spec["logspace"]
        return [float(v) for v in np.logspace(start, stop, int(num))]
    return list(spec)


def is_search(spec) -> bool:
    """Whether a grid spec is a search rather than a list of strengths."""
    return isinstance(spec, dict) and "search" in spec


def _format_number(value: float) -> str:
    text = f"{float(value):.{SIGNIFICANT_DIGITS}g}"
    return text.replace("e+", "e")


def format_strength(value: Strength) -> str:
    if isinstance(value, (list, tuple)):
        return LIST_SEPARATOR.join(_format_number(v) for v in value)
    return _format_number(value)


def parse_strength(text: str) -> float | list[float]:
    values = [float(part) for part in text.split(LIST_SEPARATOR)]
    return values if len(values) > 1 else values[0]


def canonical(value: float) -> float:
    """A number as its path string reads back (4 significant digits), so that a computed
    strength is the one its model's path names."""
    return float(parse_strength(format_strength(float(value))))


def strength_values(strength: Strength) -> list[float]:
    return [float(v) for v in strength] if isinstance(strength, (list, tuple)) else [float(strength)]
