"""The regime rule's thresholds and the seed statistics at known numbers: standard errors
add in quadrature, accuracy counts only when it falls, the on-manifold change is
compared as a ratio to the standard model's, and a strength within noise of the peak is
aligned with it. Values are exact binary fractions, so every boundary is exact."""

import math

import pandas as pd
import pytest
import torch
from pags.regimes import label_regimes
from pags.stats import mean_and_sem, seed_average

REFERENCE = {"accuracy": 0.75, "on_manifold": 2.0, "alignment": 0.25, "alignment_se": 0.0, "status": "ok"}
RULE = {"max_accuracy_drop": 0.25, "min_on_manifold_ratio": 0.5, "aligned_fraction": 0.75, "noise_k": 2.0}


def curve(alignment, se=0.0, accuracy=0.75, on_manifold=2.0):
    n = len(alignment)
    column = lambda v: v if isinstance(v, list) else [v] * n  # noqa: E731
    return pd.DataFrame(
        {
            "strength_value": [10.0**k for k in range(n)],
            "accuracy": column(accuracy),
            "on_manifold": column(on_manifold),
            "alignment": alignment,
            "alignment_se": column(se),
            "status": "ok",
        }
    )


def regimes(frame, reference=REFERENCE, **rule):
    return list(label_regimes(frame, reference, **{**RULE, **rule})["regime"])


def test_the_gains_standard_error_adds_the_strengths_and_the_references_in_quadrature():
    """se 0.375 and the reference's 0.5 give 0.625 (a 3-4-5 triangle, times 1/8): with
    noise_k 2 a gain must exceed 1.25; a sum of the two (0.875) would ask for 1.75."""
    reference = {**REFERENCE, "alignment_se": 0.5}
    out = label_regimes(curve([1.25, 1.25 + 0.25, 0.25 + 1.5], se=0.375), reference, **RULE)
    assert list(out["gain_se"]) == pytest.approx([0.625] * 3)
    assert list(out["alignment_gain"]) == pytest.approx([1.0, 1.25, 1.5])
    # 1.0 and 1.25 are not beyond 2 x 0.625; 1.5 is, and is the peak
    assert list(out["regime"]) == ["weak", "weak", "Bayes-aligned"]


def test_accuracy_makes_a_strength_excessive_only_when_it_falls_by_more_than_the_drop():
    accuracy = [0.5, 0.4375, 1.0]  # drops 0.25 (not more than 0.25), 0.3125, and a rise
    out = regimes(curve([1.0, 1.0, 1.0], accuracy=accuracy))
    assert out == ["Bayes-aligned", "excessive", "Bayes-aligned"]


def test_on_manifold_change_is_compared_as_a_fraction_of_the_standards():
    """The standard's change is 2: 0.75 is 0.375 of it (< 0.5, rigid); 1 is exactly 0.5 of
    it (not below); 1.5 is 0.75 of it, and 3 is more than it."""
    out = regimes(curve([1.0] * 4, on_manifold=[0.75, 1.0, 1.5, 3.0]))
    assert out == ["excessive", "Bayes-aligned", "Bayes-aligned", "Bayes-aligned"]


def test_a_strength_within_noise_of_the_peak_is_aligned_with_it():
    """Peak gain 1.0 (se 0.375); a gain of 0.5 (se 0.125, beyond its noise) is below 0.75 x
    the peak but within 2 x hypot(0.375, 0.125) = 0.79 of it; with noise_k 0.5 (0.20) it is not."""
    frame = curve([0.25 + 0.5, 0.25 + 1.0], se=[0.125, 0.375])
    assert regimes(frame) == ["Bayes-aligned", "Bayes-aligned"]
    assert regimes(frame, noise_k=0.5) == ["weak", "Bayes-aligned"]


def test_a_gain_of_at_least_the_aligned_fraction_of_the_peak_is_aligned():
    """Without noise: gains 0.75 and 0.5 of the peak 1.0, aligned fraction 0.75."""
    out = regimes(curve([0.25 + 0.75, 0.25 + 1.0, 0.25 + 0.5]))
    assert out == ["Bayes-aligned", "Bayes-aligned", "excessive"]


def test_mean_and_sem_of_four_values():
    """1, 2, 3, 4: mean 2.5, sample variance 5/3, s.e. sqrt(5/3) / 2; one value has none."""
    mean, sem = mean_and_sem(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert mean == 2.5 and sem == pytest.approx(math.sqrt(5 / 3) / 2, rel=1e-12)
    assert mean_and_sem(torch.tensor([1.0, 3.0])) == pytest.approx((2.0, 1.0))  # two values: std sqrt(2)
    assert math.isnan(mean_and_sem(torch.tensor([1.0]))[1])


def test_seed_average_adds_the_seed_spread_and_the_mean_image_error_in_quadrature():
    """Seeds 0.5 and 0.75 with per-image s.e. 0.25 and 0.5: mean 0.625; spread over seeds
    std 0.25 / sqrt(2) / sqrt(2) = 0.125; image error the mean 0.375 (the same images, so it
    does not average out): s.e. sqrt(0.125^2 + 0.375^2)."""
    frame = pd.DataFrame({"key": ["a", "a"], "value": [0.5, 0.75], "sem": [0.25, 0.5], "status": ["ok", "ok"]})
    out = seed_average(frame, ["key"], "value", "sem").iloc[0]
    assert out["value"] == 0.625 and out["seeds"] == 2 and out["status"] == "ok"
    assert out["value_se"] == pytest.approx(math.hypot(0.125, 0.375), rel=1e-12)
    one = seed_average(frame.iloc[:1], ["key"], "value", "sem").iloc[0]
    assert (one["value"], one["value_se"], one["seeds"]) == (0.5, 0.25, 1)  # no spread from one seed
    unknown = seed_average(frame.assign(sem=float("nan")), ["key"], "value", "sem").iloc[0]
    assert unknown["value_se"] == pytest.approx(0.125, rel=1e-12)  # a NaN image error counts as 0
    spread_only = seed_average(frame, ["key"], "value").iloc[0]  # no per-image error given
    assert spread_only["value_se"] == pytest.approx(0.125, rel=1e-12)


def test_the_on_manifold_reference_is_needed_only_by_a_rule_that_uses_it():
    reference = {**REFERENCE, "on_manifold": float("nan")}
    frame = curve([1.0, 1.0])
    assert regimes(frame, reference, min_on_manifold_ratio=None) == ["Bayes-aligned", "Bayes-aligned"]
    assert regimes(frame, reference) == ["undefined", "undefined"]


def test_an_unknown_standard_error_counts_as_zero():
    """A strength's NaN se (one image) and a reference without one add nothing to the gain's."""
    out = label_regimes(curve([1.0], se=float("nan")), {**REFERENCE, "alignment_se": 0.5}, **RULE)
    assert out["gain_se"].tolist() == [0.5]
    reference = {k: v for k, v in REFERENCE.items() if k != "alignment_se"}
    assert label_regimes(curve([1.0], se=0.375), reference, **RULE)["gain_se"].tolist() == [0.375]
    nan_reference = {**REFERENCE, "alignment_se": float("nan")}
    assert label_regimes(curve([1.0], se=0.375), nan_reference, **RULE)["gain_se"].tolist() == [0.375]


def test_a_gain_exactly_at_the_noise_from_the_peak_is_within_it():
    """Gains 0.5 (se 0.375) and peak 1.125 (se 0.5): 1.125 - 0.5 = 0.625 = 1 x hypot(0.375, 0.5)."""
    frame = curve([0.25 + 0.5, 0.25 + 1.125], se=[0.375, 0.5])
    assert regimes(frame, noise_k=1.0) == ["Bayes-aligned", "Bayes-aligned"]
