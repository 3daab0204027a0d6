"""The claims' numbers at known values: which measured noise std is nearest (in log
space), the ratio's standard error by the delta method, the relative changes a Fig. 3
verdict reports, and the deviations of the theorems, each at an exact boundary."""

import math

import pandas as pd
import pytest
from pags.claims import manifold_claims, noise_robustness_claims, theorem3_claims

CURVE = {"seed": 0, "status": "ok"}


def noise_rows(objective, strength_value, std, signal, signal_sem, distractor, distractor_sem):
    return {
        **CURVE,
        "objective": objective,
        "strength": f"{strength_value:g}",
        "strength_value": strength_value,
        "noise_std": std,
        "signal_change": signal,
        "signal_sem": signal_sem,
        "distractor_change": distractor,
        "distractor_sem": distractor_sem,
        "ratio": signal / distractor,
    }


def test_fig5_reads_the_measured_std_nearest_in_log_space():
    """At 0.35, 1.0 is nearer than 0.1 in log space (ln 2.86 < ln 3.5), though not in
    linear distance: the claim reads the ratio at std 1 (3, holds), not at 0.1 (0.5)."""
    rows = [
        noise_rows(objective, value, std, ratio * 0.1, 0.0, 0.1, 0.0)
        for objective, value, ratios in (("standard", 0.0, (1.0, 1.0)), ("pgd", 1.0, (0.5, 3.0)))
        for std, ratio in zip((0.1, 1.0), ratios)
    ]
    (row,) = noise_robustness_claims(pd.DataFrame(rows), "d", noise_std=0.35, min_ratio=1.0, noise_k=2.0)
    assert row["verdict"] == "holds" and row["value"] == pytest.approx(3.0)
    assert "noise std 1" in row["detail"]


@pytest.mark.parametrize(("noise_k", "verdict"), [(1.25, "holds"), (1.4, "fails")])
def test_fig5_ratio_standard_error_is_the_delta_methods(noise_k, verdict):
    """Ratio 0.15 / 0.1 = 1.5 with relative errors 0.15 and 0.2: s.e. 1.5 x 0.25 = 0.375.
    Its margin over min_ratio 1 (and the exact standard ratio 1) is 0.5: beyond 1.25 s.e.
    (0.469), not beyond 1.4 s.e. (0.525)."""
    rows = [
        noise_rows("standard", 0.0, 0.01, 0.1, 0.0, 0.1, 0.0),
        noise_rows("pgd", 1.0, 0.01, 0.15, 0.15 * 0.15, 0.1, 0.1 * 0.2),
    ]
    (row,) = noise_robustness_claims(pd.DataFrame(rows), "d", noise_std=0.01, min_ratio=1.0, noise_k=noise_k)
    assert row["verdict"] == verdict
    assert row["value"] == pytest.approx(1.5) and row["threshold"] == 1.0


def manifold_rows(models):
    return pd.DataFrame(
        [
            {
                **CURVE,
                "objective": objective,
                "strength": f"{value:g}",
                "strength_value": value,
                "tangent": "autoencoder",
                "step_size": 2.637,
                "on_change": on,
                "on_sem": 0.0,
                "off_change": off,
                "off_sem": 0.0,
                "gradient_tangent_fraction": fraction,
                "gradient_signal_fraction": math.nan,
                "small_noise_ratio": ratio,
            }
            for objective, value, on, off, fraction, ratio in models
        ]
    )


def test_fig3_top_reports_changes_as_fractions_of_the_standards():
    """Standard: on 2, off 4, accuracy 0.9. gnorm 0.1: on 1.75 (0.875 x), off 1 (0.25 x),
    accuracy 0.9; gnorm 1: on 0.5 (0.25 x), off 0.5 (0.125 x), accuracy 0.5 (fallen by
    more than 0.1, so outside the slope's fit). The slope over the standard and gnorm 0.1
    is ln(1.75 / 2) / ln(1 / 4) = 0.0963; the strongest's on-manifold fraction is 0.25."""
    table = manifold_rows(
        [("standard", 0.0, 2.0, 4.0, 0.5, 0.5), ("gnorm", 0.1, 1.75, 1.0, 0.5, 0.5), ("gnorm", 1.0, 0.5, 0.5, 0.5, 0.5)]
    )
    regimes = pd.DataFrame(
        {"objective": ["gnorm", "gnorm"], "strength": ["0.1", "1"], "accuracy": [0.9, 0.5], "reference_accuracy": 0.9}
    )
    off, excessive = manifold_claims(
        table, regimes, "c", 2.637, max_slope=1.0, off_below=0.5, on_near=0.75, max_accuracy_drop=0.1, noise_k=2.0
    )
    assert off["verdict"] == "holds" and off["threshold"] == 1.0
    assert off["value"] == pytest.approx(math.log(1.75 / 2) / math.log(1 / 4))
    assert "off-manifold change 0.25 x" in off["detail"] and "on-manifold 0.88 x" in off["detail"]
    assert "1 strength(s) before accuracy falls (0.1)" in off["detail"]
    assert (excessive["verdict"], excessive["value"], excessive["threshold"]) == ("holds", 0.25, 0.75)


def test_theorem3_deviation_is_the_absolute_gap_to_one_minus_the_tangent_fraction():
    """Ratios 0.8125 and 0.625 against 1 - 0.25 = 0.75: gaps +0.0625 and -0.125."""
    table = manifold_rows([("standard", 0.0, 1.0, 1.0, 0.25, 0.8125), ("gnorm", 0.1, 1.0, 1.0, 0.25, 0.625)]).assign(
        tangent="true"
    )
    rows = {r["objective"]: r for r in theorem3_claims(table, "s", tolerance=0.0625)}
    assert (rows["standard"]["verdict"], rows["standard"]["value"]) == ("holds", 0.0625)
    assert (rows["gnorm"]["verdict"], rows["gnorm"]["value"]) == ("fails", 0.125)
