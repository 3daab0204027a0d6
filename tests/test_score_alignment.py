"""Score backends against closed forms, the weight-file hash check, the alignment metrics
on known pairs, and the regime rule on hand-made curves."""

from __future__ import annotations

import hashlib
import math
import pickle

import pandas as pd
import pytest
import torch
from pags.alignment import (
    alexnet_features_to_lpips,
    load_lpips,
    lpips_similarity,
    max_normalise,
    metric_functions,
    similarities,
    ssim,
)
from pags.datasets.synthetic import make_manifold
from pags.errors import CheckpointError, WeightsError
from pags.gradients import input_gradient, input_gradients
from pags.regimes import label_regimes, regime_table
from pags.score import analytic_score, batched_scores, score_difference, score_from_denoiser
from pags.score.denoiser import denoiser_score, denoising_error, load_denoiser, save_denoiser, train_denoiser
from pags.score.edm import edm_score, load_edm
from pags.weights import fetch, sha256_file, verify
from torch import nn

CPU = torch.device("cpu")


# ---- scores ---------------------------------------------------------------------


class GaussianDenoiser(nn.Module):
    """The ideal denoiser of N(mean_c, s^2 I) in EDM's convention (images in [-1, 1]):
    D(x; sigma) = (s^2 x + sigma^2 mean_c) / (s^2 + sigma^2), class c from a one-hot label."""

    def __init__(self, means: torch.Tensor, s: float):
        super().__init__()
        self.means, self.s = means, s  # means [n_classes or 1, C, H, W]

    def forward(self, x, sigma, class_labels=None):
        mean = self.means[0] if class_labels is None else torch.einsum("bk,kchw->bchw", class_labels, self.means)
        s2, v = self.s**2, sigma.view(-1, 1, 1, 1) ** 2
        return (s2 * x + v * mean) / (s2 + v)


def test_tweedie_recovers_the_gaussian_score():
    mean, s, sigma = torch.full((1, 2, 4, 4), 0.3), 0.2, 0.5
    x = torch.randn(5, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    denoised = GaussianDenoiser(mean, s)(x, torch.full((5,), sigma))
    torch.testing.assert_close(score_from_denoiser(denoised, x, sigma), (mean - x) / (s**2 + sigma**2))


def test_edm_adapter_gives_the_score_in_pixel_units():
    # Pixels in [0, 1] ~ N(mu, t^2): in EDM's [-1, 1] units N(2 mu - 1, (2 t)^2).
    mu, t, sigma = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1)), 0.15, 0.25
    net = GaussianDenoiser(2 * mu - 1, 2 * t)
    x = torch.rand(6, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    got = edm_score(net)(x, sigma, None)
    torch.testing.assert_close(got, (mu - x) / (t**2 + sigma**2))


def test_conditional_edm_adapter_uses_each_images_class():
    mu = torch.rand(3, 1, 4, 4, generator=torch.Generator().manual_seed(3))  # one mean per class
    t, sigma = 0.1, 0.3
    net = GaussianDenoiser(2 * mu - 1, 2 * t)
    x, labels = torch.rand(4, 1, 4, 4), torch.tensor([0, 2, 1, 2])
    torch.testing.assert_close(edm_score(net, num_classes=3)(x, sigma, labels), (mu[labels] - x) / (t**2 + sigma**2))
    with pytest.raises(ValueError, match="needs the labels"):
        edm_score(net, num_classes=3)(x, sigma, None)


def test_analytic_backend_matches_the_bayes_decomposition():
    """grad log p(y|x) = grad log p(x|y) - grad log p(x): class score minus marginal
    score is the gradient of the closed-form posterior."""
    manifold = make_manifold(image_shape=(1, 8, 8), k_signal=2, k_distractor=2, seed=0)
    x = manifold.sample(6, torch.Generator().manual_seed(0)).x.double().requires_grad_(True)
    y = torch.arange(6) % manifold.n_classes
    score = analytic_score(manifold)
    (posterior_grad,) = torch.autograd.grad(manifold.posterior_logits(x, 0.1).gather(1, y[:, None]).sum(), x)
    torch.testing.assert_close(score(x.detach(), 0.1, y) - score(x.detach(), 0.1, None), posterior_grad)


def test_batched_scores_equal_one_batch():
    manifold = make_manifold(image_shape=(1, 8, 8), k_signal=2, k_distractor=2, seed=0)
    x = manifold.sample(10, torch.Generator().manual_seed(0)).x
    score = analytic_score(manifold)
    torch.testing.assert_close(batched_scores(score, x, 0.2, None, 3, CPU), score(x, 0.2, None).float())


@pytest.fixture(scope="module")
def gaussian_data():
    g = torch.Generator().manual_seed(0)
    mean = 0.5 + 0.1 * torch.randn(1, 1, 8, 8, generator=g)
    return mean + 0.05 * torch.randn(512, 1, 8, 8, generator=g), mean


@pytest.mark.slow  # trains a denoiser for seconds
def test_trained_denoiser_beats_the_noisy_input_and_round_trips(gaussian_data, tmp_path):
    x, _ = gaussian_data
    kwargs = dict(
        num_classes=2,
        block_channels=[8, 16],
        layers_per_block=1,
        batch_size=32,
        lr=1e-2,
        p_mean=math.log(0.1),
        p_std=0.5,
        device=CPU,
    )
    model, history = train_denoiser(x, None, epochs=6, generator=torch.Generator().manual_seed(0), **kwargs)
    assert len(history) == 6 and all(math.isfinite(h["loss"]) for h in history)
    denoised, noisy = denoising_error(model, x[:128], None, 0.1, torch.Generator().manual_seed(1))
    assert denoised < 0.5 * noisy
    once, twice = (
        train_denoiser(x[:64], None, epochs=1, generator=torch.Generator().manual_seed(0), **kwargs)[0]
        for _ in range(2)
    )
    for a, b in zip(once.state_dict().values(), twice.state_dict().values()):
        assert torch.equal(a, b)  # same generator, same denoiser
    save_denoiser(model, tmp_path / "d.pt")
    loaded = load_denoiser(tmp_path / "d.pt")
    score, reloaded = denoiser_score(model), denoiser_score(loaded)
    with torch.no_grad():
        torch.testing.assert_close(score(x[:4], 0.1, None), reloaded(x[:4], 0.1, None))
    with pytest.raises(ValueError, match="conditioning"):
        score(x[:4], 0.1, torch.zeros(4, dtype=torch.long))


def test_preconditioning_leaves_clean_images_unchanged_at_tiny_sigma(gaussian_data):
    x, _ = gaussian_data
    model, _ = train_denoiser(x[:64], None, 2, [8, 16], 1, 1, 64, 1e-3, 0.0, 1.0, torch.Generator().manual_seed(0), CPU)
    with torch.no_grad():
        torch.testing.assert_close(model(x[:4], torch.full((4,), 1e-6)), x[:4], atol=1e-4, rtol=0)


def test_a_foreign_file_is_not_a_denoiser(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="not a denoiser file"):
        load_denoiser(tmp_path / "x.pt")


# ---- weight files ---------------------------------------------------------------


MARKER_NAME = "unpickled.txt"


class Trap:
    """Unpickling this runs code: it creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_tampered_pickle_is_refused_before_it_is_unpickled(tmp_path):
    good = tmp_path / "edm.pkl"
    good.write_bytes(pickle.dumps({"ema": nn.Linear(2, 2)}))
    digest = sha256_file(good)
    assert digest == hashlib.sha256(good.read_bytes()).hexdigest()
    assert isinstance(load_edm(good, digest, "weights.edm", None), nn.Linear)

    marker = tmp_path / MARKER_NAME
    good.write_bytes(pickle.dumps({"ema": Trap(marker)}))
    with pytest.raises(WeightsError, match=r"not the pinned .*weights\.edm\.sha256"):
        load_edm(good, digest, "weights.edm", None)
    assert not marker.exists()


def test_an_unpinned_file_is_refused_and_its_digest_shown(tmp_path):
    path = tmp_path / "w.pth"
    path.write_bytes(b"weights")
    with pytest.raises(WeightsError, match=f"set 'weights.w.sha256: {sha256_file(path)}'"):
        verify(path, None, "weights.w")
    with pytest.raises(WeightsError, match="does not exist"):
        verify(tmp_path / "absent", "0" * 64, "weights.w")


def test_fetch_keeps_only_a_matching_download(tmp_path):
    source = tmp_path / "published.pth"
    source.write_bytes(b"published weights")
    dest = tmp_path / "cache" / "w.pth"
    with pytest.raises(WeightsError, match="not the pinned"):
        fetch(source.as_uri(), "0" * 64, dest, "weights.w")
    assert not dest.exists() and not list(dest.parent.iterdir())  # no half-written file either
    fetch(source.as_uri(), sha256_file(source), dest, "weights.w")
    assert dest.read_bytes() == source.read_bytes()
    with pytest.raises(WeightsError, match="copy it to"):
        fetch((tmp_path / "missing.pth").as_uri(), None, tmp_path / "cache" / "m.pth", "weights.m")


def test_an_unpinned_download_waits_beside_its_target_until_pinned(tmp_path):
    source = tmp_path / "published.pkl"
    source.write_bytes(b"published network")
    dest = tmp_path / "cache" / "net"
    with pytest.raises(WeightsError, match=f"set 'weights.net.sha256: {sha256_file(source)}'"):
        fetch(source.as_uri(), None, dest, "weights.net")
    assert not dest.exists()
    source.unlink()  # pinned now: the kept copy is verified, nothing is downloaded again
    fetch(source.as_uri(), hashlib.sha256(b"published network").hexdigest(), dest, "weights.net")
    assert dest.read_bytes() == b"published network" and [p.name for p in dest.parent.iterdir()] == ["net"]


# ---- alignment metrics ----------------------------------------------------------


@pytest.fixture(scope="module")
def maps():
    g = torch.Generator().manual_seed(0)
    smooth = torch.nn.functional.avg_pool2d(torch.randn(4, 3, 36, 36, generator=g), 5, 1)  # [4, 3, 32, 32]
    return smooth, torch.randn(4, 3, 32, 32, generator=g)


@pytest.fixture(scope="module")
def fake_lpips(tmp_path_factory):
    """LPIPS with a randomly initialised AlexNet backbone saved as a pinned weight file."""
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "alexnet"
    torch.save(torchvision.models.alexnet().state_dict(), path)
    return path, load_lpips(path, sha256_file(path), "weights.alexnet")


def test_max_normalise_puts_every_map_in_unit_range(maps):
    a, _ = maps
    n = max_normalise(3 * a)
    assert torch.allclose(n.flatten(1).abs().amax(1), torch.ones(4))
    assert torch.equal(max_normalise(torch.zeros(2, 1, 3, 3)), torch.zeros(2, 1, 3, 3))


@pytest.mark.parametrize("name", ["cosine", "ssim", "lpips"])
def test_metrics_on_known_pairs(name, maps, fake_lpips):
    a, b = maps
    fn = metric_functions([name], fake_lpips[1])[name]
    identical = fn(a, a)
    torch.testing.assert_close(identical, torch.ones(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(fn(a, 7.5 * a), identical, atol=1e-5, rtol=0)  # scale invariant
    torch.testing.assert_close(fn(a, 0.1 * b), fn(a, b), atol=1e-5, rtol=0)
    flipped, unrelated = fn(a, -a), fn(a, b)
    assert (flipped < unrelated).all() and (unrelated < identical - 0.05).all(), (flipped, unrelated)
    if name == "cosine":
        torch.testing.assert_close(flipped, -torch.ones(4))


def test_ssim_is_not_fooled_by_sign_flips(maps):
    a, _ = maps
    assert (ssim(a, -a) < 0.2).all()


def test_lpips_backbone_is_the_pinned_file(fake_lpips):
    path, metric = fake_lpips
    state = torch.load(path, weights_only=True)
    loaded = metric.net.state_dict()
    mapping = alexnet_features_to_lpips(state, metric.net)
    assert len(mapping) == 10  # five convolutions, weight and bias
    for name, value in mapping.items():
        assert torch.equal(loaded[name], value)
    with pytest.raises(ValueError, match="not a torchvision AlexNet"):
        alexnet_features_to_lpips({"fc.weight": torch.zeros(1)}, metric.net)


def test_lpips_takes_grey_and_small_images(fake_lpips):
    fn = lpips_similarity(fake_lpips[1])
    a = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(fn(a, a), torch.ones(2), atol=1e-5, rtol=0)


def test_a_tampered_alexnet_is_refused(fake_lpips, tmp_path):
    path, _ = fake_lpips
    tampered = tmp_path / "alexnet"
    tampered.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(WeightsError, match="weights.alexnet.sha256"):
        load_lpips(tampered, sha256_file(path), "weights.alexnet")


def test_similarities_in_batches_equal_one_batch(maps):
    a, b = maps
    fns = metric_functions(["cosine", "ssim"])
    one, batched = similarities(fns, a, b), similarities(fns, a, b, batch_size=3)
    for name in fns:
        torch.testing.assert_close(one[name], batched[name])


def test_input_gradients_in_batches_equal_one_batch():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(7, 3, 2, 2), torch.tensor([0, 1, 2, 0, 1, 2, 0])
    for target in ("label", "predicted", "logit_sum"):
        torch.testing.assert_close(
            input_gradients(model, x, y, target, CPU, batch_size=3), input_gradient(model, x, y, target)
        )


# ---- regimes --------------------------------------------------------------------

REFERENCE = {"accuracy": 0.9, "on_manifold": 1.0, "alignment": 0.2, "alignment_se": 0.0, "status": "ok"}
RULE = {"max_accuracy_drop": 0.1, "min_on_manifold_ratio": 0.5, "aligned_fraction": 0.75, "noise_k": 2.0}


def curve(accuracy, on_manifold, alignment, status=None, se=0.0):
    n = len(accuracy)
    return pd.DataFrame(
        {
            "strength_value": [10.0**k for k in range(n)],
            "accuracy": accuracy,
            "on_manifold": on_manifold,
            "alignment": alignment,
            "alignment_se": se,
            "status": status or ["ok"] * n,
        }
    )


def test_regimes_of_a_textbook_curve():
    # alignment rises, peaks at the 4th strength, then accuracy and on-manifold change collapse
    out = label_regimes(
        curve(
            [0.9, 0.9, 0.89, 0.88, 0.87, 0.7, 0.5],
            [1, 1, 0.9, 0.8, 0.6, 0.4, 0.1],
            [0.2, 0.25, 0.45, 0.6, 0.55, 0.4, 0.1],
        ),
        REFERENCE,
        **RULE,
    )
    assert list(out["regime"]) == ["weak", "weak", "weak", "Bayes-aligned", "Bayes-aligned", "excessive", "excessive"]
    assert "accuracy fell" in out["reason"].iloc[5]
    assert list(out["alignment_gain"]) == pytest.approx([0, 0.05, 0.25, 0.4, 0.35, 0.2, -0.1])


def test_alignment_falling_after_its_peak_at_full_accuracy_is_excessive():
    out = label_regimes(curve([0.9] * 4, [1] * 4, [0.3, 0.6, 0.35, 0.3]), REFERENCE, **RULE)
    assert list(out["regime"]) == ["weak", "Bayes-aligned", "excessive", "excessive"]


def test_on_manifold_rigidity_alone_makes_a_strength_excessive():
    out = label_regimes(curve([0.9, 0.9], [1.0, 0.3], [0.5, 0.9]), REFERENCE, **RULE)
    assert list(out["regime"]) == ["Bayes-aligned", "excessive"]
    assert "on-manifold" in out["reason"].iloc[1]
    relaxed = label_regimes(
        curve([0.9, 0.9], [1.0, 0.3], [0.5, 0.9]), REFERENCE, **{**RULE, "min_on_manifold_ratio": None}
    )
    assert list(relaxed["regime"]) == ["weak", "Bayes-aligned"]


def test_no_gain_means_nothing_is_aligned_and_diverged_points_stay_marked():
    out = label_regimes(
        curve([0.9, 0.9, 0.9], [1, 1, 1], [0.2, 0.1, float("nan")], ["ok", "ok", "diverged"]), REFERENCE, **RULE
    )
    assert list(out["regime"]) == ["weak", "weak", "diverged"]


MODEL_COLUMNS = [
    "objective",
    "strength",
    "strength_value",
    "seed",
    "accuracy",
    "on_manifold",
    "alignment",
    "alignment_sem",
    "status",
]


def test_regime_table_averages_seeds_relative_to_the_standard_model():
    rows = [("standard", "0", 0.0, s, 0.9, 1.0, 0.2, 0.01, "ok") for s in (0, 1)]
    rows += [("gnorm", "0.1", 0.1, 0, 0.9, 1.0, 0.5, 0.01, "ok"), ("gnorm", "0.1", 0.1, 1, 0.9, 1.0, 0.4, 0.01, "ok")]
    rows += [
        ("gnorm", "1", 1.0, 0, 0.5, 0.2, 0.1, 0.01, "ok"),
        ("gnorm", "1", 1.0, 1, float("nan"), float("nan"), float("nan"), float("nan"), "diverged"),
    ]
    models = pd.DataFrame(rows, columns=MODEL_COLUMNS)
    out = regime_table(models, **RULE)
    assert list(out["objective"]) == ["gnorm", "gnorm"] and list(out["seeds"]) == [2, 2]
    assert out["alignment"].iloc[0] == pytest.approx(0.45)
    # spread over seeds (std 0.0707 / sqrt 2) and the images' s.e. (0.01) add in quadrature
    assert out["alignment_se"].iloc[0] == pytest.approx(math.hypot(0.05, 0.01))
    assert list(out["regime"]) == ["Bayes-aligned", "diverged"]
    with pytest.raises(ValueError, match="standard"):
        regime_table(models[models["objective"] != "standard"], **RULE)


def test_a_gain_within_noise_is_no_regime_change():
    # a gain of a twentieth of the standard model's standard error over images
    se = 0.0038
    reference = {**REFERENCE, "alignment_se": se}
    out = label_regimes(curve([0.9] * 3, [1] * 3, [0.2, 0.2 + se / 20, 0.2], se=se), reference, **RULE)
    assert list(out["regime"]) == ["weak"] * 3
    assert "beyond noise" in out["reason"].iloc[1]
    # the same curve with a gain well beyond noise is aligned
    out = label_regimes(curve([0.9] * 3, [1] * 3, [0.2, 0.2 + 10 * se, 0.2], se=se), reference, **RULE)
    assert list(out["regime"]) == ["weak", "Bayes-aligned", "excessive"]


def test_strengths_within_noise_of_the_peak_are_aligned_with_it():
    # 0.3 and 0.28 fall from the peak 0.5 well beyond noise (s.e. 0.02): excessive
    out = label_regimes(curve([0.9] * 4, [1] * 4, [0.2, 0.5, 0.3, 0.28], se=0.02), REFERENCE, **RULE)
    assert list(out["regime"]) == ["weak", "Bayes-aligned", "excessive", "excessive"]
    # within noise of the peak (0.46 vs 0.5) though short of 0.75 x its gain: aligned with it
    out = label_regimes(
        curve([0.9] * 4, [1] * 4, [0.2, 0.5, 0.46, 0.28], se=0.02), REFERENCE, **{**RULE, "aligned_fraction": 0.9}
    )
    assert list(out["regime"]) == ["weak", "Bayes-aligned", "Bayes-aligned", "excessive"]


def test_a_diverged_standard_model_leaves_every_regime_undefined():
    rows = [("standard", "0", 0.0, 0, float("nan"), float("nan"), float("nan"), float("nan"), "diverged")]
    rows += [("pgd", e, float(e), 0, acc, 1.0, 0.5, 0.01, "ok") for e, acc in (("0.1", 0.8), ("500", 0.001))]
    out = regime_table(pd.DataFrame(rows, columns=MODEL_COLUMNS), **RULE)
    assert list(out["regime"]) == ["undefined", "undefined"]
    assert out["reason"].str.contains("standard model diverged").all()
    assert (out["reference_status"] == "diverged").all()


def test_a_nan_reference_or_measurement_never_becomes_a_label():
    out = label_regimes(curve([0.9, 0.9], [1, 1], [0.3, 0.5]), {**REFERENCE, "alignment": float("nan")}, **RULE)
    assert list(out["regime"]) == ["undefined", "undefined"] and "alignment is not measured" in out["reason"].iloc[0]
    out = label_regimes(curve([0.9, 0.9], [1, float("nan")], [0.3, 0.5]), REFERENCE, **RULE)
    assert out["regime"].iloc[1] == "undefined" and "on_manifold not measured" in out["reason"].iloc[1]


@pytest.mark.slow  # trains a denoiser for seconds
def test_label_dropout_gives_both_scores_and_the_posterior_gradient():
    """One denoiser trained with a null class: its label's score minus its null class's
    estimates grad log p(y | x) of two Gaussian classes N(m_c, s^2 I), whose exact value at
    noise sigma is (m_y - sum_c p(c | x) m_c) / (s^2 + sigma^2)."""
    g = torch.Generator().manual_seed(0)
    means = 0.5 + 0.03 * torch.randn(2, 1, 8, 8, generator=g)  # close enough that p(y | x) is uncertain
    y, s, sigma = torch.arange(512) % 2, 0.05, 0.2
    x = means[y] + s * torch.randn(512, 1, 8, 8, generator=g)
    model, _ = train_denoiser(
        x,
        y,
        2,
        [8, 16],
        1,
        20,
        32,
        1e-2,
        math.log(sigma),
        0.5,
        torch.Generator().manual_seed(0),
        CPU,
        label_dropout=0.3,
    )
    assert model.null_class and model.net.class_embedding.num_embeddings == 3
    score = denoiser_score(model)
    noisy = x[:64] + sigma * torch.randn(64, 1, 8, 8, generator=g)
    with torch.no_grad():
        estimate = score_difference(score, score)(noisy, sigma, y[:64])
        unconditional = score(noisy, sigma, None)  # the null class
    v = s**2 + sigma**2
    logits = -((noisy[:, None] - means[None]) ** 2).flatten(2).sum(-1) / (2 * v)
    exact = (means[y[:64]] - torch.einsum("bc,cjhw->bjhw", logits.softmax(1), means)) / v
    cosine = torch.nn.functional.cosine_similarity(estimate.flatten(1), exact.flatten(1))
    assert cosine.mean() > 0.7, cosine.mean()  # 0.86
    assert torch.isfinite(unconditional).all()
    with pytest.raises(ValueError, match="needs the labels"):
        score_difference(score, score)(noisy, sigma, None)


def test_posterior_edm_is_the_conditional_minus_the_unconditional_edm_score():
    """Two classes N(mu_c, t^2) in pixels: EDM's conditional network gives each class's
    score, its unconditional one the mixture's (here: the mixture's exact denoiser), and
    their difference is grad log p(y | x) = (mu_y - sum_c p(c | x) mu_c) / (t^2 + sigma^2)."""
    mu = torch.rand(2, 1, 4, 4, generator=torch.Generator().manual_seed(4))
    t, sigma = 0.1, 0.3
    v = t**2 + sigma**2

    class MixtureDenoiser(torch.nn.Module):  # EDM units: means 2 mu - 1, std 2 t, equal weights
        def forward(self, x, sigmas, labels):
            logits = -((x[:, None] - (2 * mu - 1)[None]) ** 2).flatten(2).sum(-1) / (2 * 4 * v)
            mean = torch.einsum("bc,cjhw->bjhw", logits.softmax(1), 2 * mu - 1)
            s2, var = sigmas.view(-1, 1, 1, 1) ** 2, 4 * t**2
            return (var * x + s2 * mean) / (var + s2)

    x, labels = torch.rand(5, 1, 4, 4, generator=torch.Generator().manual_seed(5)), torch.tensor([0, 1, 1, 0, 1])
    estimate = score_difference(edm_score(GaussianDenoiser(2 * mu - 1, 2 * t), 2), edm_score(MixtureDenoiser()))
    p = (-((x[:, None] - mu[None]) ** 2).flatten(2).sum(-1) / (2 * v)).softmax(1)
    exact = (mu[labels] - torch.einsum("bc,cjhw->bjhw", p, mu)) / v
    torch.testing.assert_close(estimate(x, sigma, labels), exact, rtol=1e-4, atol=1e-4)


def test_ema_halves_the_old_weights_every_halflife_after_the_rampup():
    from pags.score.denoiser import EMA_RAMPUP, ema_average

    average, one, zero = ema_average(halflife=640, batch_size=64), torch.ones(3), torch.zeros(3)
    late = average(one, zero, torch.tensor(10**6))  # the ramp-up is long past: h = 640 images
    torch.testing.assert_close(late, torch.full((3,), 0.5 ** (64 / 640)))
    early = average(one, zero, torch.tensor(9))  # 10 steps seen: h = EMA_RAMPUP * 640 images
    torch.testing.assert_close(early, torch.full((3,), 0.5 ** (64 / (EMA_RAMPUP * 640))))


def test_the_ema_denoiser_is_seeded_and_not_the_last_weights(gaussian_data):
    x, _ = gaussian_data
    args = (x[:128], None, 0, [8, 16], 1, 2, 32, 1e-2, 0.0, 1.0)
    last, _ = train_denoiser(*args, torch.Generator().manual_seed(0), CPU)
    ema, _ = train_denoiser(*args, torch.Generator().manual_seed(0), CPU, ema_halflife=64)
    again, _ = train_denoiser(*args, torch.Generator().manual_seed(0), CPU, ema_halflife=64)
    assert type(ema) is type(last) and ema.spec == last.spec
    weights = [
        (a, b, c) for a, b, c in zip(last.state_dict().values(), ema.state_dict().values(), again.state_dict().values())
    ]
    assert any(not torch.equal(a, b) for a, b, _ in weights) and all(torch.equal(b, c) for _, b, c in weights)
