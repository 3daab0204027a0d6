"""The paper's claims, checked on a run's tables: one verdict per claim, data set and objective.

Each check is a pure function of the tables the workflow writes and of thresholds from
the config (``claims``); it returns rows of the tidy claims table (``COLUMNS``): the
claim, the paper's figure and reference value, the verdict, the statistic and the
numbers behind it. Verdicts:

- ``holds``: every part of the claim is measured and true, each difference beyond noise
  (more than ``noise_k`` standard errors: over images, and over seeds where there are
  several, ``pags.stats.seed_average``; a model trained with one seed has no measured
  spread between training runs, so it is given the standard model's, measured over that
  model's seeds where it has several, else assumed, ``seed_spread``, and the verdict's
  detail says which, ``SeedSpread``);
- ``fails``: measured, and a part is false or within noise;
- ``not measured``: the run cannot measure it (no such data set or model, a diverged
  reference, NaN values), with the reason. A NaN is never compared: it never holds.

The paper's values (Srinivas, Bordt & Lakkaraju, NeurIPS 2023) are read from its figures
and approximate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .stats import seed_average

VERDICTS = ("holds", "fails", "not measured")
COLUMNS = [
    "claim",
    "figure",
    "dataset",
    "objective",
    "strength",
    "verdict",
    "statistic",
    "value",
    "threshold",
    "paper",
    "detail",
]

# claim -> (figure, the paper's statement with its values)
CLAIMS = {
    "noise_robustness": (
        "Fig. 5",
        (
            "PGD-L2 model's signal/distractor noise-robustness ratio well above 1 at small "
            "noise (axis to 12), above the standard model's (near 1)"
        ),
    ),
    "off_manifold_robustness": (
        "Fig. 3 top",
        (
            "as strength grows, models become off-manifold robust faster than on-manifold robust: "
            "the off-manifold change falls well below the standard model's while the "
            "on-manifold change is near it (gnorm λ 1e-2 to 3e-2)"
        ),
    ),
    "excessive_robustness": ("Fig. 3 top", "at the largest strengths both on- and off-manifold change fall"),
    "alignment_peak": (
        "Fig. 3 bottom",
        (
            "1-LPIPS with the EDM score 0.75 (weak) -> 0.86 (gnorm λ 1e-2 to 1e-1) -> "
            "0.72 (excessive); accuracy near the standard's at the peak"
        ),
    ),
    "imagenet64_alignment_peak": (
        "Fig. 4 left",
        ("own ImageNet-64 ResNet18s: accuracy falls with eps, 1-LPIPS peaks at an intermediate eps"),
    ),
    "pretrained_alignment_rises": (
        "Fig. 4 right",
        "pretrained L2-robust ResNet-18s: 1-LPIPS rises with eps over {0 .. 5}",
    ),
    "pretrained_top1": ("Fig. 4 right", "measured top-1 within 0.5 points of the published (Salman et al. 2020)"),
    "imagenet64_regimes": (
        "Fig. 6",
        (
            "eps {0.01, 0.1, 5} weak (1-LPIPS 0.25, 0.20, 0.43), {20, 50, 200} Bayes-aligned "
            "(0.58, 0.71, 0.69), {500, 2500, 5000} excessive (0.57, 0.47, 0.46)"
        ),
    ),
    "theorem3": ("Theorem 3", "off-manifold small-noise ratio = 1 - the gradient's tangent fraction, per model"),
    "theorem4": ("Theorem 4", "the Bayes-optimal gradient lies in the signal space (fraction 1)"),
}

# Fig. 6: the regime of each eps of the authors' ImageNet-64 models.
PAPER_IMAGENET64_REGIMES = {
    0.01: "weak",
    0.1: "weak",
    5: "weak",
    20: "Bayes-aligned",
    50: "Bayes-aligned",
    200: "Bayes-aligned",
    500: "excessive",
    2500: "excessive",
    5000: "excessive",
}
CURVE_KEYS = ["objective", "strength", "strength_value"]


def row(
    claim: str,
    dataset: str,
    objective: str,
    verdict: str,
    statistic: str = "",
    value: float = math.nan,
    threshold: float = math.nan,
    detail: str = "",
    strength: str = "",
) -> dict:
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {VERDICTS}")
    figure, paper = CLAIMS[claim]
    return {
        "claim": claim,
        "figure": figure,
        "dataset": dataset,
        "objective": objective,
        "strength": strength,
        "verdict": verdict,
        "statistic": statistic,
        "value": value,
        "threshold": threshold,
        "paper": paper,
        "detail": detail,
    }


def not_measured(claim: str, dataset: str, why: str, objective: str = "", strength: str = "") -> dict:
    return row(claim, dataset, objective, "not measured", detail=why, strength=strength)


def beyond(difference: float, se: float, noise_k: float) -> bool:
    """Whether ``difference`` > 0 exceeds ``noise_k`` standard errors (False for NaN)."""
    return bool(difference > noise_k * np.nan_to_num(se))


def finite(*values: float) -> bool:
    return all(np.isfinite(v) for v in values)


@dataclass(frozen=True)
class SeedSpread:
    """The relative standard deviation between training runs given to a model of one seed
    (>= 0): measured over the standard model's seeds where it has two or more
    (``measured_over`` of them), else assumed (the config's ``claims.seed_spread``)."""

    relative: float
    measured_over: int = 0

    @classmethod
    def of(cls, reference: pd.DataFrame, columns: list[str], assumed: float) -> SeedSpread:
        """From the standard model's rows, one per seed: the largest over ``columns`` of
        std / |mean| (sample std), or ``assumed`` where fewer than two seeds measured all."""
        values = reference[columns].astype(float)
        values = values[np.isfinite(values).all(axis=1)]
        if len(values) < 2 or (values.mean() == 0).any():
            return cls(assumed)
        return cls(float((values.std() / values.mean().abs()).max()), len(values))

    def note(self, seeds: int) -> str:
        """The caveat of a verdict whose fewest-seeded model has ``seeds`` seeds."""
        if seeds >= 2:
            return f"{seeds} seeds"
        if self.measured_over:
            return (
                f"rests on one seed: a between-run spread of {self.relative:.0%}, measured over the standard "
                f"model's {self.measured_over} seeds"
            )
        return f"rests on one seed: a between-run spread of {self.relative:.0%} assumed (claims.seed_spread)"


def with_seed_spread(curves: pd.DataFrame, value: str, spread: SeedSpread, seeds: str = "seeds") -> pd.DataFrame:
    """``curves`` (seed-averaged, ``pags.stats.seed_average``) with the spread between
    training runs in ``<value>_se`` where it was not measured: a row of fewer than two
    seeds gets ``spread.relative`` x |value| added in quadrature. Rows of several seeds
    keep their measured spread."""
    one_seed = curves[seeds] < 2
    se = curves[f"{value}_se"]
    assumed = np.hypot(np.nan_to_num(se), spread.relative * curves[value].abs())
    return curves.assign(**{f"{value}_se": se.where(~one_seed, assumed)})


def reference_problem(reference: pd.DataFrame, columns: list[str], what: str = "the standard model") -> str | None:
    """Why a seed-averaged reference row cannot serve (absent, diverged, NaN), or None."""
    if reference.empty:
        return f"{what} is not in the table"
    ref = reference.iloc[0]
    if ref["status"] == "diverged":
        return f"{what} diverged in training: no reference"
    absent = [c for c in columns if not np.isfinite(ref[c])]
    if absent:
        return f"{what}'s {', '.join(absent)} is not measured (NaN): no reference"
    return None


# ---- Fig. 5 ---------------------------------------------------------------------


def noise_robustness_claims(
    table: pd.DataFrame, dataset: str, noise_std: float, min_ratio: float, noise_k: float, seed_spread: float = 0.0
) -> list[dict]:
    """Fig. 5 from the distractor experiment's noise-robustness table (columns objective,
    strength, strength_value, seed, status, noise_std, signal_change, signal_sem,
    distractor_change, distractor_sem, ratio): at the measured noise std nearest
    ``noise_std`` (> 0), each robust model's ratio exceeds ``min_ratio`` and the standard
    model's, beyond noise. The ratio's standard error is the delta method's; a model of one
    seed gets the standard model's measured between-run spread, or the relative
    ``seed_spread`` assumed where it has one seed too (``SeedSpread``)."""
    claim = "noise_robustness"
    stds = np.sort(table.loc[table["noise_std"] > 0, "noise_std"].unique())
    if not len(stds):
        return [not_measured(claim, dataset, "no noise std > 0 is measured")]
    std = float(stds[np.argmin(np.abs(np.log(stds / noise_std)))])
    at = table[np.isclose(table["noise_std"], std)]
    relative_se = np.sqrt(
        (at["signal_sem"] / at["signal_change"]) ** 2 + (at["distractor_sem"] / at["distractor_change"]) ** 2
    )
    curves = seed_average(at.assign(ratio_sem=at["ratio"] * relative_se), CURVE_KEYS, "ratio", "ratio_sem")
    spread = SeedSpread.of(at[at["objective"] == "standard"], ["ratio"], seed_spread)
    curves = with_seed_spread(curves, "ratio", spread)
    robust = curves[curves["objective"] != "standard"]
    if robust.empty:
        return [not_measured(claim, dataset, "no robust model in the table")]
    standard = curves[curves["objective"] == "standard"]
    problem = reference_problem(standard, ["ratio"])
    rows = []
    for r in robust.itertuples():
        objective = r.objective
        if problem:
            rows.append(not_measured(claim, dataset, problem, objective, r.strength))
            continue
        if r.status == "diverged" or not np.isfinite(r.ratio):
            why = "training diverged" if r.status == "diverged" else "ratio undefined (no change on the distractor)"
            rows.append(not_measured(claim, dataset, why, objective, r.strength))
            continue
        ref = standard.iloc[0]
        above_min = beyond(r.ratio - min_ratio, r.ratio_se, noise_k)
        above_standard = beyond(r.ratio - ref.ratio, math.hypot(r.ratio_se, ref.ratio_se), noise_k)
        detail = (
            f"at noise std {std:.3g}: robust ratio {r.ratio:.3g} ± {r.ratio_se:.2g}, standard {ref.ratio:.3g} "
            f"± {ref.ratio_se:.2g}; {spread.note(min(r.seeds, ref.seeds))}"
        )
        misses = unmet(
            (f"not above {min_ratio:g} beyond noise", above_min),
            ("not above the standard model's beyond noise", above_standard),
        )
        rows.append(
            row(
                claim,
                dataset,
                objective,
                "holds" if not misses else "fails",
                f"signal/distractor ratio at std {std:.3g}",
                r.ratio,
                max(min_ratio, ref.ratio),
                "; ".join([detail, *misses]),
                r.strength,
            )
        )
    return rows


# ---- Fig. 3 top -------------------------------------------------------------------

MANIFOLD_CLAIMS = ("off_manifold_robustness", "excessive_robustness")


def manifold_curves(table: pd.DataFrame, plot_step: float, assumed: float = 0.0) -> tuple[pd.DataFrame, SeedSpread]:
    """Seed-averaged on- and off-manifold change (autoencoder tangents, ``plot_step``), and
    the between-run spread given where a model has one seed (``with_seed_spread``): the
    larger of the two changes' relative spreads over the standard model's seeds, or
    ``assumed`` where it has one."""
    at = table[(table["tangent"] == "autoencoder") & np.isclose(table["step_size"], plot_step)]
    spread = SeedSpread.of(at[at["objective"] == "standard"], ["on_change", "off_change"], assumed)
    on = with_seed_spread(seed_average(at, CURVE_KEYS, "on_change", "on_sem"), "on_change", spread)
    off = with_seed_spread(seed_average(at, CURVE_KEYS, "off_change", "off_sem"), "off_change", spread)
    curves = on.merge(off[[*CURVE_KEYS, "off_change", "off_change_se"]], on=CURVE_KEYS, validate="one_to_one")
    return curves, spread


def log_slope(x: np.ndarray, y: np.ndarray, x_se: np.ndarray, y_se: np.ndarray) -> tuple[float, float]:
    """The least-squares slope of ``x`` against ``y`` (x = a + c y) and its standard error
    by the delta method from the points' own standard errors ``x_se``, ``y_se`` (both
    axes; errors independent). Arrays of shape (n,), n >= 2; NaN for both where the ``y``
    do not vary. Its own misfit (a curve that is no straight line) is not noise and does
    not enter the error."""
    x, y, x_se, y_se = (np.asarray(a, dtype=float) for a in (x, y, x_se, y_se))
    dx, dy = x - x.mean(), y - y.mean()
    syy = float(dy @ dy)
    if len(x) < 2 or syy == 0:
        return math.nan, math.nan
    c = float(dx @ dy) / syy
    # d c / d x_i = dy_i / syy; d c / d y_i = (dx_i - 2 c dy_i) / syy (the centring terms cancel)
    variance = ((dy / syy) ** 2 * x_se**2).sum() + (((dx - 2 * c * dy) / syy) ** 2 * y_se**2).sum()
    return c, float(np.sqrt(variance))


def before_accuracy_falls(curve: pd.DataFrame, reference_accuracy: float, max_accuracy_drop: float) -> pd.DataFrame:
    """The strengths of ``curve`` (sorted by strength, column accuracy) below the first
    whose accuracy is more than ``max_accuracy_drop`` below ``reference_accuracy`` or not
    measured."""
    falls = ~(reference_accuracy - curve["accuracy"] <= max_accuracy_drop)
    first = int(np.argmax(falls.to_numpy())) if falls.any() else len(curve)
    return curve.iloc[:first]


def fell(r, ref: pd.Series, column: str, fraction: float, noise_k: float) -> bool:
    """Whether the change ``column`` of curve row ``r`` is below ``fraction`` times the
    reference's and below it beyond noise."""
    se = math.hypot(getattr(r, f"{column}_se"), ref[f"{column}_se"])
    return getattr(r, column) < fraction * ref[column] and beyond(ref[column] - getattr(r, column), se, noise_k)


def unmet(*checks: tuple[str, bool]) -> list[str]:
    """The messages of the ``(message, ok)`` checks that failed, in order."""
    return [message for message, ok in checks if not ok]


def relative_changes(r, ref: pd.Series) -> str:
    """The on- and off-manifold change of curve row ``r`` as fractions of the reference's."""
    return (
        f"off-manifold change {r.off_change / ref['off_change']:.2f} x the standard's "
        f"({r.off_change:.3g} vs {ref['off_change']:.3g}), on-manifold {r.on_change / ref['on_change']:.2f} x "
        f"({r.on_change:.3g} vs {ref['on_change']:.3g})"
    )


def separation_claim(
    curve: pd.DataFrame,
    ref: pd.Series,
    dataset: str,
    objective: str,
    max_slope: float,
    noise_k: float,
    spread: SeedSpread,
) -> dict:
    """``off_manifold_robustness`` of one objective: over ``curve`` (its strengths before
    accuracy falls, sorted) and the standard model ``ref``, the slope c of log on-manifold
    change against log off-manifold change (on ~ off^c) is below ``max_slope`` beyond
    noise, and the off-manifold change falls below the standard's beyond noise. Both are
    free of the changes' scale (a factor on either is an offset of its logarithm) and of
    where the grid's points fall (any points along the same curve give the same slope);
    c = 1 is both changes falling in proportion, as a model that only grows less
    confident does."""
    claim = "off_manifold_robustness"
    if curve.empty:
        why = "accuracy falls at the weakest strength already: the grid has no strength before it"
        return not_measured(claim, dataset, why, objective)
    points = pd.concat([ref.to_frame().T, curve], ignore_index=True)
    on, off = points["on_change"].astype(float), points["off_change"].astype(float)
    if (on <= 0).any() or (off <= 0).any():
        return not_measured(claim, dataset, "a change of 0: its logarithm is undefined", objective)
    log_on_se = points["on_change_se"].astype(float) / on
    log_off_se = points["off_change_se"].astype(float) / off
    c, c_se = log_slope(np.log(on), np.log(off), log_on_se, log_off_se)
    falls = np.log(off.iloc[0]) - np.log(off.iloc[1:])
    deepest = int(np.argmax(falls.to_numpy())) + 1
    off_falls = beyond(falls.max(), math.hypot(log_off_se.iloc[0], log_off_se.iloc[deepest]), noise_k)
    faster = finite(c) and beyond(max_slope - c, c_se, noise_k)
    best = min(curve.itertuples(), key=lambda r: (r.off_change / r.on_change) if r.on_change > 0 else math.inf)
    strengths = ", ".join(curve["strength"].astype(str))
    detail = (
        f"slope of log on- against log off-manifold change {c:.2f} ± {c_se:.2g} over the standard model and "
        f"{len(curve)} strength(s) before accuracy falls ({strengths}); at strength {best.strength}: "
        f"{relative_changes(best, ref)}; {spread.note(int(points['seeds'].min()))}"
    )
    misses = unmet(
        (f"the slope is not below {max_slope:g} beyond {noise_k:g} s.e.", faster),
        ("the off-manifold change does not fall below the standard's beyond noise", off_falls),
    )
    return row(
        claim,
        dataset,
        objective,
        "fails" if misses else "holds",
        "slope of log on-manifold change against log off-manifold change, before accuracy falls",
        c,
        max_slope,
        "; ".join([detail, *misses]),
    )


def excessive_claim(
    last,
    ref: pd.Series,
    dataset: str,
    objective: str,
    off_below: float,
    on_near: float,
    noise_k: float,
    spread: SeedSpread,
) -> dict:
    """``excessive_robustness``: at the strongest strength ``last`` both changes are below
    ``on_near`` and ``off_below`` times the standard's, beyond noise."""
    both = fell(last, ref, "on_change", on_near, noise_k) and fell(last, ref, "off_change", off_below, noise_k)
    on_rel, off_rel = last.on_change / ref["on_change"], last.off_change / ref["off_change"]
    detail = (
        f"at the strongest strength {last.strength}: on-manifold change {on_rel:.2f} x the standard's, "
        f"off-manifold {off_rel:.2f} x (both must be below {on_near:g} and {off_below:g} beyond noise); "
        f"{spread.note(min(int(last.seeds), int(ref['seeds'])))}"
    )
    return row(
        "excessive_robustness",
        dataset,
        objective,
        "holds" if both else "fails",
        "on-manifold change / the standard's at the strongest",
        on_rel,
        on_near,
        detail,
    )


def manifold_claims(
    table: pd.DataFrame,
    regimes: pd.DataFrame,
    dataset: str,
    plot_step: float,
    max_slope: float,
    off_below: float,
    on_near: float,
    max_accuracy_drop: float,
    noise_k: float,
    seed_spread: float = 0.0,
) -> list[dict]:
    """Fig. 3 top per objective, from a manifold-robustness table at ``plot_step`` and the
    regime table (for accuracy: columns objective, strength, accuracy, reference_accuracy):
    ``off_manifold_robustness`` by ``separation_claim`` over the strengths before accuracy
    falls by more than ``max_accuracy_drop``; ``excessive_robustness`` by
    ``excessive_claim`` at the strongest strength that trained. ``seed_spread``: the
    relative spread between training runs assumed for a model of one seed where the
    standard model has one seed too (``manifold_curves``)."""
    curves, spread = manifold_curves(table, plot_step, seed_spread)
    if curves.empty:
        return [
            not_measured(c, dataset, f"no rows at step size {plot_step:g} with autoencoder tangents")
            for c in MANIFOLD_CLAIMS
        ]
    standard = curves[curves["objective"] == "standard"]
    problem = reference_problem(standard, ["on_change", "off_change"])
    accuracy = regimes[["objective", "strength", "accuracy"]].astype({"strength": str})
    reference_accuracy = regimes["reference_accuracy"].iloc[0] if len(regimes) else math.nan
    curves = curves.astype({"strength": str}).merge(accuracy, on=["objective", "strength"], how="left")
    rows = []
    for objective, curve in curves[~curves["objective"].isin(["standard", "bayes"])].groupby("objective", sort=False):
        if problem:
            rows += [not_measured(c, dataset, problem, objective) for c in MANIFOLD_CLAIMS]
            continue
        ref = standard.iloc[0]
        ok = curve[(curve["status"] == "ok") & np.isfinite(curve["on_change"]) & np.isfinite(curve["off_change"])]
        ok = ok.sort_values("strength_value")
        if ok.empty:
            rows += [not_measured(c, dataset, "every strength diverged", objective) for c in MANIFOLD_CLAIMS]
            continue
        if np.isfinite(reference_accuracy):
            before = before_accuracy_falls(ok, reference_accuracy, max_accuracy_drop)
            rows.append(separation_claim(before, ref, dataset, objective, max_slope, noise_k, spread))
        else:
            rows.append(
                not_measured(MANIFOLD_CLAIMS[0], dataset, "the standard model's accuracy is not measured", objective)
            )
        last = list(ok.itertuples())[-1]
        rows.append(excessive_claim(last, ref, dataset, objective, off_below, on_near, noise_k, spread))
    return rows


# ---- Fig. 3 bottom, Fig. 4 left --------------------------------------------------


def alignment_spread(regime_row: pd.Series, assumed: float) -> SeedSpread:
    """The between-run spread of alignment from a regime table's row: the standard model's
    standard deviation over its seeds relative to its alignment, or ``assumed``."""
    sd, seeds = regime_row.get("reference_seed_sd", math.nan), int(regime_row["reference_seeds"])
    if seeds < 2 or not finite(sd) or regime_row["reference_alignment"] == 0:
        return SeedSpread(assumed)
    return SeedSpread(float(sd / abs(regime_row["reference_alignment"])), seeds)


def alignment_claims(
    regimes: pd.DataFrame,
    dataset: str,
    claim: str,
    max_accuracy_drop: float,
    noise_k: float,
    accuracy_falls: bool = False,
    seed_spread: float = 0.0,
) -> list[dict]:
    """Per objective of a regime table (seed-averaged: strength, strength_value,
    accuracy, alignment, alignment_se, status, reference_accuracy, reference_alignment,
    reference_se, reference_status, metric, score): the alignment peaks above the
    standard model's beyond noise at a strength below the strongest, falls from the peak
    beyond noise at the strongest, with accuracy at the peak within ``max_accuracy_drop``
    of the standard's; with ``accuracy_falls`` (Fig. 4 left), accuracy at the strongest is
    also more than ``max_accuracy_drop`` below the standard's. Alignments of one seed
    (``seeds``, ``reference_seeds``) get the standard model's relative spread over its
    seeds (``reference_seed_sd``), or the assumed ``seed_spread`` where it has one seed."""
    rows = []
    for objective, curve in regimes.groupby("objective", sort=False):
        first = curve.iloc[0]
        if first["reference_status"] == "diverged" or not finite(
            first["reference_alignment"], first["reference_accuracy"]
        ):
            why = "diverged in training" if first["reference_status"] == "diverged" else "is not measured (NaN)"
            rows.append(not_measured(claim, dataset, f"the standard model {why}: no reference", objective))
            continue
        ok = curve[(curve["status"] == "ok") & np.isfinite(curve["alignment"]) & np.isfinite(curve["accuracy"])]
        spread = alignment_spread(first, seed_spread)
        ok = with_seed_spread(ok.sort_values("strength_value").reset_index(drop=True), "alignment", spread)
        if len(ok) < 2:
            rows.append(not_measured(claim, dataset, f"{len(ok)} strength(s) trained: a peak needs two", objective))
            continue
        ref_alignment, ref_accuracy = first["reference_alignment"], first["reference_accuracy"]
        ref_seeds = int(first["reference_seeds"])
        ref_se = np.nan_to_num(first["reference_se"])
        ref_se = ref_se if ref_seeds >= 2 else math.hypot(ref_se, spread.relative * abs(ref_alignment))
        peak = ok.loc[ok["alignment"].idxmax()]
        last = ok.iloc[-1]
        rises = beyond(peak["alignment"] - ref_alignment, math.hypot(peak["alignment_se"], ref_se), noise_k)
        falls = peak.name != last.name and beyond(
            peak["alignment"] - last["alignment"], math.hypot(peak["alignment_se"], last["alignment_se"]), noise_k
        )
        accurate = ref_accuracy - peak["accuracy"] <= max_accuracy_drop
        checks = [
            (f"the peak is not above the standard's beyond {noise_k:g} s.e.", rises),
            ("alignment does not fall from the peak at the strongest beyond noise", falls),
            (f"accuracy at the peak more than {max_accuracy_drop:g} below the standard's", accurate),
        ]
        if accuracy_falls:
            checks.append(
                (
                    f"accuracy at the strongest not more than {max_accuracy_drop:g} below the standard's",
                    ref_accuracy - last["accuracy"] > max_accuracy_drop,
                )
            )
        detail = (
            f"{first['metric']} with the {first['score']} score: standard {ref_alignment:.3f} ± {ref_se:.2g} -> "
            f"peak {peak['alignment']:.3f} ± {peak['alignment_se']:.2g} at {peak['strength']} -> "
            f"{last['alignment']:.3f} at the strongest, {last['strength']}; accuracy {peak['accuracy']:.3f} at the "
            f"peak, {last['accuracy']:.3f} at the strongest, standard {ref_accuracy:.3f}; "
            f"{spread.note(min(int(ok['seeds'].min()), ref_seeds))}"
        )
        misses = [m for m, ok_ in checks if not ok_]
        rows.append(
            row(
                claim,
                dataset,
                objective,
                "fails" if misses else "holds",
                f"peak {first['metric']}",
                peak["alignment"],
                ref_alignment,
                "; ".join([detail, *misses]),
            )
        )
    return rows


# ---- Fig. 4 right ------------------------------------------------------------------


def pretrained_claims(
    regimes: pd.DataFrame,
    top1: pd.DataFrame,
    dataset: str,
    min_rank_correlation: float,
    tolerance: float,
    noise_k: float,
) -> list[dict]:
    """Fig. 4 right, from the pretrained family's regime table (objective pgd, eps > 0,
    with the eps-0 model as reference) and its top-1 table: alignment rises with eps
    (Spearman correlation over eps, 0 included, at least ``min_rank_correlation``, and the
    largest eps above eps 0 beyond noise); measured top-1 within ``tolerance`` points of
    the published for every eps."""
    rows = []
    curve = regimes[(regimes["status"] == "ok") & np.isfinite(regimes["alignment"])].sort_values("strength_value")
    first = regimes.iloc[0] if len(regimes) else None
    claim = "pretrained_alignment_rises"
    if first is None or first["reference_status"] == "diverged" or not np.isfinite(first["reference_alignment"]):
        rows.append(not_measured(claim, dataset, "the eps-0 model's alignment is not measured: no reference", "pgd"))
    elif len(curve) < 2:
        rows.append(not_measured(claim, dataset, "fewer than two robust models measured", "pgd"))
    else:
        eps = np.concatenate([[0.0], curve["strength_value"]])
        values = np.concatenate([[first["reference_alignment"]], curve["alignment"]])
        rho = pd.Series(eps).corr(pd.Series(values), method="spearman")
        last = curve.iloc[-1]
        rises = beyond(
            last["alignment"] - first["reference_alignment"],
            math.hypot(last["alignment_se"], first["reference_se"]),
            noise_k,
        )
        detail = (
            f"{first['metric']} over eps {', '.join(f'{e:g}' for e in eps)}: "
            f"{', '.join(f'{v:.3f}' for v in values)}; Spearman {rho:.2f}"
        )
        misses = unmet(
            (f"Spearman below {min_rank_correlation:g}", rho >= min_rank_correlation),
            ("the largest eps not above eps 0 beyond noise", rises),
        )
        rows.append(
            row(
                claim,
                dataset,
                "pgd",
                "fails" if misses else "holds",
                "Spearman correlation with eps",
                rho,
                min_rank_correlation,
                "; ".join([detail, *misses]),
            )
        )
    claim = "pretrained_top1"
    measured = top1[np.isfinite(top1["measured_top1"]) & np.isfinite(top1["published_top1"])]
    if measured.empty:
        rows.append(not_measured(claim, dataset, "no measured top-1 with a published value", "pgd"))
    else:
        gap = (measured["measured_top1"] - measured["published_top1"]).abs()
        worst = measured.loc[gap.idxmax()]
        detail = "; ".join(
            f"eps {r.eps:g}: {r.measured_top1:.2f} vs {r.published_top1:.2f}" for r in measured.itertuples()
        )
        unmeasured = sorted(set(top1["eps"]) - set(measured["eps"]))
        verdict = "fails" if gap.max() > tolerance else ("not measured" if unmeasured else "holds")
        if unmeasured:
            detail += f"; eps {', '.join(f'{e:g}' for e in unmeasured)} not measured"
        rows.append(
            row(
                claim,
                dataset,
                "pgd",
                verdict,
                f"largest |measured - published| top-1 (eps {worst['eps']:g})",
                gap.max(),
                tolerance,
                detail,
            )
        )
    return rows


# ---- Fig. 6 --------------------------------------------------------------------------


def imagenet64_regime_claims(regimes: pd.DataFrame, dataset: str) -> list[dict]:
    """Fig. 6: the run's regime of each of the paper's eps against the paper's. Holds if
    every one is in the grid and agrees; fails if any measured one disagrees."""
    claim = "imagenet64_regimes"
    pgd = regimes[regimes["objective"] == "pgd"]
    agree, disagree, missing = [], [], []
    for eps, paper in PAPER_IMAGENET64_REGIMES.items():
        match = pgd[np.isclose(pgd["strength_value"], eps)]
        ours = match["regime"].iloc[0] if len(match) else None
        if ours not in ("weak", "Bayes-aligned", "excessive"):
            missing.append(f"eps {eps:g} ({'not in the grid' if ours is None else ours})")
        elif ours == paper:
            agree.append(f"eps {eps:g} {ours}")
        else:
            disagree.append(f"eps {eps:g}: paper {paper}, run {ours}")
    measured = len(agree) + len(disagree)
    verdict = "fails" if disagree else ("not measured" if missing else "holds")
    detail = "; ".join(
        filter(
            None,
            [
                f"agree: {', '.join(agree)}" if agree else "",
                f"disagree: {', '.join(disagree)}" if disagree else "",
                f"unlabelled: {', '.join(missing)}" if missing else "",
            ],
        )
    )
    value = len(agree) / measured if measured else math.nan
    return [row(claim, dataset, "pgd", verdict, "fraction of the paper's eps in the same regime", value, 1.0, detail)]


# ---- Theorems 3 and 4 ---------------------------------------------------------------


def theorem3_claims(table: pd.DataFrame, dataset: str, tolerance: float) -> list[dict]:
    """Per objective of a manifold-robustness table (the exact tangent spaces where
    known, else the autoencoder's): every model's off-manifold small-noise ratio is within
    ``tolerance`` of 1 - its gradient's tangent fraction."""
    tangent = "true" if (table["tangent"] == "true").any() else "autoencoder"
    models = table[table["tangent"] == tangent].drop_duplicates(["objective", "strength", "seed"])
    rows = []
    for objective, part in models.groupby("objective", sort=False):
        ok = part[
            (part["status"] == "ok")
            & np.isfinite(part["small_noise_ratio"])
            & np.isfinite(part["gradient_tangent_fraction"])
        ]
        if ok.empty:
            rows.append(not_measured("theorem3", dataset, "no model of it trained and measured", objective))
            continue
        deviation = (ok["small_noise_ratio"] - (1 - ok["gradient_tangent_fraction"])).abs()
        worst = ok.loc[deviation.idxmax()]
        within = int((deviation <= tolerance).sum())
        detail = (
            f"{tangent} tangent spaces: {within} of {len(ok)} models within {tolerance:g}; worst strength "
            f"{worst['strength']} seed {worst['seed']}: ratio {worst['small_noise_ratio']:.4f} vs "
            f"1 - tangent fraction {1 - worst['gradient_tangent_fraction']:.4f}"
        )
        if len(ok) < len(part):
            detail += f"; {len(part) - len(ok)} diverged or unmeasured left out"
        rows.append(
            row(
                "theorem3",
                dataset,
                objective,
                "holds" if within == len(ok) else "fails",
                "largest |ratio - (1 - tangent fraction)|",
                deviation.max(),
                tolerance,
                detail,
            )
        )
    return rows


def theorem4_claims(table: pd.DataFrame, dataset: str, tolerance: float) -> list[dict]:
    """The Bayes-optimal classifier's gradient fraction in the exact signal space is at
    least 1 - ``tolerance`` (synthetic data)."""
    bayes = table[(table["objective"] == "bayes") & (table["tangent"] == "true")]
    if bayes.empty or not np.isfinite(bayes["gradient_signal_fraction"].iloc[0]):
        return [not_measured("theorem4", dataset, "no Bayes-optimal model with an exact signal space", "bayes")]
    fraction = float(bayes["gradient_signal_fraction"].iloc[0])
    return [
        row(
            "theorem4",
            dataset,
            "bayes",
            "holds" if fraction >= 1 - tolerance else "fails",
            "gradient fraction in the signal space",
            fraction,
            1 - tolerance,
            f"{fraction:.6f} of the Bayes-optimal gradient's squared norm lies in span(U_s)",
        )
    ]


# ---- the whole table -------------------------------------------------------------------


def evaluate_claims(distractor: dict, sweeps: dict[str, dict], pretrained: dict | None, settings: dict) -> pd.DataFrame:
    """Every claim on a run's tables, as the tidy claims table.

    ``distractor``: {"dataset", "noise_robustness": table}. ``sweeps[dataset]``:
    {"manifold_robustness", "regimes": tables, "plot_step"}. ``pretrained``: None or
    {"dataset", "regimes", "top1": tables, "tolerance": top-1 points}. ``settings``: the
    config's ``claims`` section. A claim whose data set the run lacks is "not measured"."""
    k, spread = settings["noise_k"], settings["seed_spread"]
    rows = noise_robustness_claims(
        distractor["noise_robustness"],
        distractor["dataset"],
        noise_k=k,
        seed_spread=spread["scale_free"],
        **settings["noise_robustness"],
    )
    image_sweeps = [d for d in sweeps if d != "imagenet64"]
    for dataset in image_sweeps:
        tables = sweeps[dataset]
        rows += manifold_claims(
            tables["manifold_robustness"],
            tables["regimes"],
            dataset,
            tables["plot_step"],
            noise_k=k,
            seed_spread=spread["magnitude"],
            max_accuracy_drop=settings["alignment"]["max_accuracy_drop"],
            **settings["manifold"],
        )
        rows += alignment_claims(
            tables["regimes"],
            dataset,
            "alignment_peak",
            noise_k=k,
            seed_spread=spread["scale_free"],
            **settings["alignment"],
        )
    if "cifar10" not in sweeps:
        rows += [
            not_measured(c, "cifar10", "the run has no CIFAR-10 sweep (sweep.cifar10)")
            for c in ("off_manifold_robustness", "excessive_robustness", "alignment_peak")
        ]
    if "imagenet64" in sweeps:
        tables = sweeps["imagenet64"]
        rows += alignment_claims(
            tables["regimes"],
            "imagenet64",
            "imagenet64_alignment_peak",
            noise_k=k,
            accuracy_falls=True,
            seed_spread=spread["scale_free"],
            **settings["alignment"],
        )
        rows += imagenet64_regime_claims(tables["regimes"], "imagenet64")
    else:
        rows += [
            not_measured(c, "imagenet64", "the run has no ImageNet-64 sweep (sweep.imagenet64)")
            for c in ("imagenet64_alignment_peak", "imagenet64_regimes")
        ]
    if pretrained is not None:
        rows += pretrained_claims(
            pretrained["regimes"],
            pretrained["top1"],
            pretrained["dataset"],
            noise_k=k,
            tolerance=pretrained["tolerance"],
            **settings["pretrained"],
        )
    else:
        rows += [
            not_measured(c, "imagenet", "the run has no pretrained family (pretrained.imagenet)")
            for c in ("pretrained_alignment_rises", "pretrained_top1")
        ]
    for dataset, tables in sweeps.items():
        rows += theorem3_claims(tables["manifold_robustness"], dataset, **settings["theorem3"])
    if not sweeps:
        rows.append(not_measured("theorem3", "", "the run has no sweep: no manifold metrics"))
    if "synthetic" in sweeps:
        rows += theorem4_claims(sweeps["synthetic"]["manifold_robustness"], "synthetic", **settings["theorem4"])
    else:
        rows.append(not_measured("theorem4", "synthetic", "the run has no synthetic sweep (sweep.synthetic)"))
    return pd.DataFrame(rows, columns=COLUMNS)


def claims_markdown(table: pd.DataFrame) -> str:
    """The claims table as Markdown: one line per verdict, the numbers behind it."""
    lines = ["| figure | claim | data set | objective | verdict | value | detail |", "|---|---|---|---|---|---|---|"]
    table = table.assign(objective=[f"{o} {s}".strip() for o, s in zip(table["objective"], table["strength"])])
    for r in table.itertuples():
        value = "" if not np.isfinite(r.value) else f"{r.value:.3g}"
        detail = str(r.detail).replace("|", "/")
        lines.append(f"| {r.figure} | {r.claim} | {r.dataset} | {r.objective} | **{r.verdict}** | {value} | {detail} |")
    return "\n".join([f"Claims: {verdict_counts(table)}.", "", *lines, ""])


def verdict_counts(table: pd.DataFrame) -> str:
    """How many rows of the claims table hold, fail and are not measured, in words:
    ``"15 holds, 9 fails, 7 not measured"`` (every verdict named, 0 included)."""
    counts = table["verdict"].value_counts()
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
