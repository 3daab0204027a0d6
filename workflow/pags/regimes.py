"""The three regimes of robustness (weak, Bayes-aligned, excessive), by an explicit rule.

Per objective, on the seed-averaged curves vs strength, relative to the standard model
(accuracy A0, alignment S0, on-manifold change N0):

1. **excessive** if accuracy fell by more than ``max_accuracy_drop`` (A0 - A > drop), or the
   model became robust on the manifold too (on-manifold change < ``min_on_manifold_ratio`` * N0);
2. among the other strengths, the alignment gain g = S - S0 peaks at g* (at strength s*).
   If g* > 0, **Bayes-aligned** are those with g >= ``aligned_fraction`` * g*;
3. the rest are **weak** below s* (not yet aligned) and **excessive** above it (alignment
   fell again while accuracy held). With g* <= 0 nothing is aligned: all are weak.

Diverged models are labelled ``diverged`` and take no part.
"""

from __future__ import annotations

import math

import pandas as pd

REGIMES = ("weak", "Bayes-aligned", "excessive")


def label_regimes(
    curve: pd.DataFrame,
    reference: dict[str, float],
    max_accuracy_drop: float,
    min_on_manifold_ratio: float | None,
    aligned_fraction: float,
) -> pd.DataFrame:
    """``curve``: one objective, one row per strength, columns strength_value, accuracy,
    on_manifold, alignment, status. ``reference``: the standard model's accuracy,
    on_manifold and alignment. Returns ``curve`` sorted by strength with columns
    alignment_gain, regime and reason."""
    out = curve.sort_values("strength_value").reset_index(drop=True).copy()
    out["alignment_gain"] = out["alignment"] - reference["alignment"]
    regime = pd.Series("", index=out.index, dtype=object)
    reason = pd.Series("", index=out.index, dtype=object)
    ok = out["status"] != "diverged"
    regime[~ok], reason[~ok] = "diverged", "training diverged"

    drop = reference["accuracy"] - out["accuracy"]
    inaccurate = ok & (drop > max_accuracy_drop)
    regime[inaccurate] = "excessive"
    reason[inaccurate] = [f"accuracy fell by {d:.3g} > {max_accuracy_drop:g}" for d in drop[inaccurate]]
    if min_on_manifold_ratio is not None:
        ratio = out["on_manifold"] / reference["on_manifold"]
        rigid = ok & ~inaccurate & (ratio < min_on_manifold_ratio)
        regime[rigid] = "excessive"
        reason[rigid] = [f"on-manifold change {r:.3g} x the standard's < {min_on_manifold_ratio:g}" for r in ratio[rigid]]

    rest = ok & (regime == "")
    gains = out.loc[rest, "alignment_gain"]
    peak = gains.max() if len(gains) else math.nan
    if not len(gains) or not peak > 0:
        regime[rest] = "weak"
        reason[rest] = "no strength aligns better than the standard model"
        return out.assign(regime=regime, reason=reason)
    peak_strength = out.loc[gains.idxmax(), "strength_value"]
    threshold = aligned_fraction * peak
    for i in out.index[rest]:
        gain = out.at[i, "alignment_gain"]
        if gain >= threshold:
            regime[i], reason[i] = "Bayes-aligned", f"alignment gain {gain:.3g} >= {aligned_fraction:g} x peak {peak:.3g}"
        elif out.at[i, "strength_value"] < peak_strength:
            regime[i], reason[i] = "weak", f"alignment gain {gain:.3g} < {aligned_fraction:g} x peak {peak:.3g}, below the peak"
        else:
            regime[i], reason[i] = "excessive", f"alignment gain {gain:.3g} < {aligned_fraction:g} x peak {peak:.3g}, above the peak"
    return out.assign(regime=regime, reason=reason)


def regime_table(models: pd.DataFrame, max_accuracy_drop: float, min_on_manifold_ratio: float | None,
                 aligned_fraction: float) -> pd.DataFrame:  # fmt: skip
    """Regimes of every swept objective from per-model rows (objective, strength,
    strength_value, seed, accuracy, on_manifold, alignment, status), averaged over seeds
    (a strength counts as diverged if any seed diverged)."""
    measured = ["accuracy", "on_manifold", "alignment"]
    grouped = models.groupby(["objective", "strength", "strength_value"], sort=False)
    curves = grouped[measured].mean().join(grouped["status"].agg(lambda s: "diverged" if (s == "diverged").any() else "ok"))
    curves = curves.join(grouped.size().rename("seeds")).reset_index()
    standard = curves[curves["objective"] == "standard"]
    if standard.empty:
        raise ValueError("the regimes are defined relative to the standard model: add objective 'standard' to the sweep")
    reference = standard.iloc[0][measured].to_dict()
    parts = [
        label_regimes(curve, reference, max_accuracy_drop, min_on_manifold_ratio, aligned_fraction)
        for objective, curve in curves.groupby("objective", sort=False)
        if objective != "standard"
    ]
    return pd.concat(parts, ignore_index=True)
