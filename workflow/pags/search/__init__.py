"""Which strengths to train next so that a sweep finds its regimes: one round of a search.

A paper-scale grid is 30 log-spaced strengths per objective, chosen by hand over several
orders of magnitude. A search starts from a coarse log-spaced grid over a wide range and
adds strengths only where the curves turn, round after round:

- where accuracy starts to fall: the last strength whose accuracy is within
  ``max_accuracy_drop`` of the standard model's and the next one;
- around the alignment peak: the peak and each of its neighbours;
- where the off-manifold change separates from the on-manifold one: the last strength
  whose off-manifold change is at least ``off_below`` times the standard model's and the
  next one (the fraction ``claims.manifold.off_below``);
- at the ends of the range, where a turn may lie beyond it: above the strongest while
  accuracy has not fallen there (the excessive regime is not reached), below the weakest
  while the weakest is already past a turn (aligned, separated or inaccurate).

A turn between two tried strengths lo < hi is bracketed once hi / lo <= ``factor``; until
then the round adds their geometric mean (sqrt(lo hi), in canonical form,
``pags.grid.format_strength``). An end adds the strength ``extend`` times beyond it. The
search ends when no turn is left to bracket, or when ``max_models`` strengths are tried;
a round that would exceed that adds the ends first, then the widest brackets.

Every step is a pure function of a table of tried strengths, so a tested table gives the
same next round on any machine, and each strength is one model, cached by its canonical
string like any grid's. A round on a finished run's tables:

    python -m pags.search config.yaml --dataset cifar10 [--factor 2 --extend 10 --max-models 12]

prints, per objective of the sweep, the turns and the strengths to add to its grid; rerun
the workflow and only their models train.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..grid import canonical

TURNS = ("accuracy falls", "alignment peak", "off-manifold separates")
COLUMNS = ["strength_value", "accuracy", "alignment", "on_change", "off_change", "status"]


@dataclass(frozen=True)
class Turn:
    """A turn of the curves between two adjacent tried strengths ``lo`` < ``hi``; at an end
    of the range, one of them is None (the turn lies beyond it)."""

    kind: str
    lo: float | None
    hi: float | None

    def bracketed(self, factor: float) -> bool:
        return self.lo is not None and self.hi is not None and self.hi / self.lo <= factor


def crossing(below: pd.Series) -> tuple[int, int] | None:
    """The positions (i, i + 1) of the first step at which ``below`` turns True (sorted rows)."""
    flags = below.to_numpy()
    for i in range(len(flags) - 1):
        if not flags[i] and flags[i + 1]:
            return i, i + 1
    return None


def turns(curve: pd.DataFrame, reference: dict[str, float], max_accuracy_drop: float, off_below: float) -> list[Turn]:
    """The turns of one objective's curve. ``curve``: one row per tried strength > 0, columns
    ``COLUMNS`` (means over seeds; status "ok" or "diverged"); ``reference``: the standard
    model's accuracy and off_change. Diverged strengths and NaN values take no part; no
    end is extended past a diverged strongest strength."""
    tried = curve.sort_values("strength_value").reset_index(drop=True)
    ok = tried[(tried["status"] == "ok") & tried[["accuracy", "alignment", "off_change"]].notna().all(axis=1)]
    ok = ok.reset_index(drop=True)
    if ok.empty:
        return []
    s = ok["strength_value"]
    inaccurate = reference["accuracy"] - ok["accuracy"] > max_accuracy_drop
    separated = ok["off_change"] < off_below * reference["off_change"]
    found = []
    for kind, below in (("accuracy falls", inaccurate), ("off-manifold separates", separated)):
        pair = crossing(below)
        if pair is not None:
            found.append(Turn(kind, s[pair[0]], s[pair[1]]))
        elif below.iloc[0]:  # past the turn at the weakest already
            found.append(Turn(kind, None, s.iloc[0]))
    # beyond the strongest only if it trained: a diverged model ends the range
    open_above = tried["status"].iloc[-1] == "ok"
    peak = int(ok["alignment"].idxmax())
    found.append(Turn("alignment peak", s[peak - 1] if peak > 0 else None, s[peak]))
    if peak < len(ok) - 1 or open_above:
        found.append(Turn("alignment peak", s[peak], s[peak + 1] if peak < len(ok) - 1 else None))
    if not inaccurate.iloc[-1] and open_above:  # not yet excessive
        found.append(Turn("accuracy falls", s.iloc[-1], None))
    return found


def next_strengths(
    curve: pd.DataFrame,
    reference: dict[str, float],
    max_accuracy_drop: float,
    off_below: float,
    factor: float,
    extend: float,
    max_models: int,
) -> list[float]:
    """The strengths of the next round for one objective, sorted; [] when its turns are
    bracketed to ``factor`` (> 1) or ``max_models`` strengths are tried. ``curve`` and
    ``reference`` as ``turns``; ``extend`` (> 1): how far beyond an end a turn is looked
    for. Ends come first, then the widest brackets, up to the budget."""
    if factor <= 1 or extend <= 1:
        raise ValueError(f"factor and extend must exceed 1: got {factor}, {extend}")
    tried = {canonical(v) for v in curve["strength_value"]}
    budget = max_models - len(tried)
    candidates: dict[float, float] = {}  # strength -> priority (an end: inf; else the bracket's width)
    for turn in turns(curve, reference, max_accuracy_drop, off_below):
        if turn.bracketed(factor):
            continue
        if turn.lo is None:
            value, priority = turn.hi / extend, math.inf
        elif turn.hi is None:
            value, priority = turn.lo * extend, math.inf
        else:
            value, priority = math.sqrt(turn.lo * turn.hi), turn.hi / turn.lo
        value = canonical(value)
        if value not in tried:
            candidates[value] = max(priority, candidates.get(value, 0.0))
    chosen = sorted(candidates, key=lambda v: (-candidates[v], v))[: max(budget, 0)]
    return sorted(chosen)


def search_curve(models: pd.DataFrame, objective: str) -> tuple[pd.DataFrame, dict[str, float]]:
    """One objective's curve and the standard model's reference from per-model rows (columns
    objective, strength_value, seed and ``COLUMNS``), averaged over seeds."""
    means = models.groupby(["objective", "strength_value"], sort=True)[COLUMNS[1:-1]].mean().reset_index()
    status = models.groupby(["objective", "strength_value"], sort=True)["status"].agg(
        lambda v: "diverged" if (v == "diverged").any() else "ok"
    )
    means = means.merge(status.reset_index(), on=["objective", "strength_value"])
    standard = means[means["objective"] == "standard"]
    if standard.empty:
        raise ValueError("a search reads its curves against the standard model: add objective 'standard'")
    reference = standard.iloc[0][["accuracy", "off_change"]].to_dict()
    return means[means["objective"] == objective][COLUMNS].reset_index(drop=True), reference


def metric_rows(
    alignment: pd.DataFrame, manifold: pd.DataFrame, score: str, metric: str, plot_step: float
) -> pd.DataFrame:
    """Per-model rows for ``search_curve`` from alignment rows (of ``score`` and ``metric``:
    test accuracy, similarity per image or its mean, status) and manifold rows (on- and off-manifold change with
    the autoencoder's tangents at ``plot_step``), as the workflow's per-model tables and
    its collected ones both hold them."""
    keys = ["objective", "strength_value", "seed"]
    scores = alignment[(alignment["score"] == score) & (alignment["metric"] == metric)]
    # a model's own table has a row per image, the collected one their mean: the mean of either
    scores = scores.groupby([*keys, "test_accuracy", "status"], sort=False, dropna=False)["similarity"].mean()
    scores = scores.reset_index().rename(columns={"test_accuracy": "accuracy", "similarity": "alignment"})
    at = manifold[(manifold["tangent"] == "autoencoder") & np.isclose(manifold["step_size"], plot_step)]
    return scores.merge(at[[*keys, "on_change", "off_change"]], on=keys, validate="one_to_one")


def search_round(models: pd.DataFrame, objective: str, search: dict, max_accuracy_drop: float, off_below: float):
    """The strengths a round of ``objective``'s search adds (``next_strengths``), from
    per-model rows (``metric_rows``) of the standard model and the strengths tried, and
    the search's config (``factor``, ``extend``, ``max_models``)."""
    curve, reference = search_curve(models, objective)
    return next_strengths(
        curve,
        reference,
        max_accuracy_drop=max_accuracy_drop,
        off_below=off_below,
        factor=search["factor"],
        extend=search["extend"],
        max_models=search["max_models"],
    )
