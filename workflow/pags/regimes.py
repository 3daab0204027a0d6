"""The three regimes of robustness (weak, Bayes-aligned, excessive), by an explicit rule.

Per objective, on the seed-averaged curves vs strength, relative to the standard model
(accuracy A0, alignment S0 with standard error e0, on-manifold change N0):

1. **excessive** if accuracy fell by more than ``max_accuracy_drop`` (A0 - A > drop), or the
   model became robust on the manifold too (on-manifold change < ``min_on_manifold_ratio`` * N0);
2. among the other strengths, the alignment gain g = S - S0 counts only beyond noise:
   g > ``noise_k`` * sqrt(e^2 + e0^2) (e the strength's standard error, ``pags.stats.
   seed_average``). The largest such gain is the peak g* (at strength s*); **Bayes-aligned**
   are the strengths with a gain beyond noise that is at least ``aligned_fraction`` * g* or
   within noise of g*;
3. the rest are **weak** below s* (not yet aligned) and **excessive** above it (alignment
   fell again while accuracy held). With no gain beyond noise nothing is aligned: all are
   weak.

Diverged models are labelled ``diverged`` and take no part. Without its reference (the
standard model diverged, or a quantity the rule needs is not measured) a strength is
``undefined``, with the reason: a NaN is never compared, so it never becomes a label.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .stats import seed_average

MEASURED = ("accuracy", "on_manifold", "alignment")


def missing_reference(reference: dict, min_on_manifold_ratio: float | None) -> str | None:
    """Why the standard model cannot serve as the reference, or None if it can."""
    if reference.get("status") == "diverged":
        return "the standard model diverged in training: no reference, regime undefined"
    needed = ["accuracy", "alignment"] + (["on_manifold"] if min_on_manifold_ratio is not None else [])
    absent = [q for q in needed if not np.isfinite(reference.get(q, math.nan))]
    if absent:
        return f"the standard model's {' and '.join(absent)} is not measured: no reference, regime undefined"
    return None


def label_regimes(
    curve: pd.DataFrame,
    reference: dict[str, float],
    max_accuracy_drop: float,
    min_on_manifold_ratio: float | None,
    aligned_fraction: float,
    noise_k: float,
) -> pd.DataFrame:
    """``curve``: one objective, one row per strength, columns strength_value, accuracy,
    on_manifold, alignment, alignment_se, status. ``reference``: the standard model's
    accuracy, on_manifold, alignment, alignment_se and status. Returns ``curve`` sorted
    by strength with columns alignment_gain, gain_se (the gain's standard error), regime
    and reason."""
    out = curve.sort_values("strength_value").reset_index(drop=True).copy()
    out["alignment_gain"] = out["alignment"] - reference["alignment"]
    out["gain_se"] = np.sqrt(
        out["alignment_se"].fillna(0.0) ** 2 + np.nan_to_num(reference.get("alignment_se", 0.0)) ** 2
    )
    regime = pd.Series("", index=out.index, dtype=object)
    reason = pd.Series("", index=out.index, dtype=object)
    ok = out["status"] != "diverged"
    regime[~ok], reason[~ok] = "diverged", "training diverged"

    why = missing_reference(reference, min_on_manifold_ratio)
    if why is not None:
        regime[ok], reason[ok] = "undefined", why
        return out.assign(regime=regime, reason=reason)
    needed = ["accuracy", "alignment"] + (["on_manifold"] if min_on_manifold_ratio is not None else [])
    unmeasured = ok & out[needed].isna().any(axis=1)
    regime[unmeasured] = "undefined"
    reason[unmeasured] = [
        f"{' and '.join(q for q in needed if pd.isna(out.at[i, q]))} not measured" for i in out.index[unmeasured]
    ]
    ok &= ~unmeasured

    drop = reference["accuracy"] - out["accuracy"]
    inaccurate = ok & (drop > max_accuracy_drop)
    regime[inaccurate] = "excessive"
    reason[inaccurate] = [f"accuracy fell by {d:.3g} > {max_accuracy_drop:g}" for d in drop[inaccurate]]
    if min_on_manifold_ratio is not None:
        ratio = out["on_manifold"] / reference["on_manifold"]
        rigid = ok & ~inaccurate & (ratio < min_on_manifold_ratio)
        regime[rigid] = "excessive"
        reason[rigid] = [
            f"on-manifold change {r:.3g} x the standard's < {min_on_manifold_ratio:g}" for r in ratio[rigid]
        ]

    rest = ok & (regime == "")
    noise = noise_k * out["gain_se"]
    beyond = rest & (out["alignment_gain"] > noise)
    if not beyond.any():
        regime[rest] = "weak"
        reason[rest] = [
            f"no strength aligns better than the standard model beyond noise: gain {out.at[i, 'alignment_gain']:.3g} "
            f"<= {noise_k:g} x s.e. {out.at[i, 'gain_se']:.3g}"
            for i in out.index[rest]
        ]
        return out.assign(regime=regime, reason=reason)
    top = out.loc[beyond, "alignment_gain"].idxmax()
    peak, peak_strength, peak_se = out.at[top, "alignment_gain"], out.at[top, "strength_value"], out.at[top, "gain_se"]
    for i in out.index[rest]:
        gain, se = out.at[i, "alignment_gain"], out.at[i, "gain_se"]
        near_peak = peak - gain <= noise_k * math.hypot(se, peak_se)
        if beyond[i] and (gain >= aligned_fraction * peak or near_peak):
            regime[i], reason[i] = (
                "Bayes-aligned",
                (
                    f"alignment gain {gain:.3g} > {noise_k:g} x s.e. {se:.3g}, and >= {aligned_fraction:g} x peak "
                    f"{peak:.3g} or within noise of it"
                ),
            )
        else:
            where = "below" if out.at[i, "strength_value"] < peak_strength else "above"
            regime[i] = "weak" if where == "below" else "excessive"
            reason[i] = (
                f"alignment gain {gain:.3g} (s.e. {se:.3g}) short of {aligned_fraction:g} x peak {peak:.3g} "
                f"or within noise of the standard model's, {where} the peak"
            )
    return out.assign(regime=regime, reason=reason)


def seed_curves(models: pd.DataFrame) -> pd.DataFrame:
    """Per (objective, strength): the seed means of accuracy, on_manifold and alignment,
    alignment_se, seeds and status (a strength counts as diverged if any seed diverged)."""
    keys = ["objective", "strength", "strength_value"]
    curves = seed_average(models, keys, "alignment", "alignment_sem")
    means = models.groupby(keys, sort=False, dropna=False)[["accuracy", "on_manifold"]].mean().reset_index()
    return curves.merge(means, on=keys, validate="one_to_one")


def regime_table(
    models: pd.DataFrame,
    max_accuracy_drop: float,
    min_on_manifold_ratio: float | None,
    aligned_fraction: float,
    noise_k: float,
) -> pd.DataFrame:
    """Regimes of every swept objective from per-model rows (objective, strength,
    strength_value, seed, accuracy, on_manifold, alignment, alignment_sem, status),
    averaged over seeds. Adds the reference's accuracy, alignment, standard error and
    status, its seeds, the standard deviation of its alignment over them (NaN for one), and
    ``noise_k``, which the figures draw as the standard model's noise band."""
    curves = seed_curves(models)
    standard = curves[curves["objective"] == "standard"]
    if standard.empty:
        raise ValueError(
            "the regimes are defined relative to the standard model: add objective 'standard' to the sweep"
        )
    reference = standard.iloc[0][[*MEASURED, "alignment_se", "status", "seeds"]].to_dict()
    # the spread between the standard model's training runs (NaN for one seed): what the
    # claims give a model of one seed (pags.claims.SeedSpread)
    seed_sd = models.loc[models["objective"] == "standard", "alignment"].std()
    parts = [
        label_regimes(curve, reference, max_accuracy_drop, min_on_manifold_ratio, aligned_fraction, noise_k)
        for objective, curve in curves.groupby("objective", sort=False)
        if objective != "standard"
    ]
    out = pd.concat(parts, ignore_index=True)
    return out.assign(
        reference_accuracy=reference["accuracy"],
        reference_alignment=reference["alignment"],
        reference_se=reference["alignment_se"],
        reference_status=reference["status"],
        reference_seeds=reference["seeds"],
        reference_seed_sd=seed_sd,
        noise_k=noise_k,
    )
