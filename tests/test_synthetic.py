"""The synthetic ground-truth manifold: basis, sampling, closed-form densities and scores
(checked against dense Gaussian-mixture formulas), and the Bayes-optimal classifier."""

import math

import pytest
import torch
from pags.datasets.synthetic import BayesOptimal, SyntheticManifold, make_manifold
from pags.errors import ConfigError, DataError
from pags.gradients import input_gradient
from pags.io import load_torch, save_torch

F64 = torch.float64


@pytest.fixture(scope="module")
def default():
    return make_manifold(seed=0)


@pytest.fixture(scope="module")
def tiny():
    # D = 16: small enough for dense D x D covariances. A larger tau keeps them well conditioned.
    return make_manifold((1, 4, 4), k_signal=2, k_distractor=2, n_classes=3, components=2, noise_std=0.1, seed=3)


def points(manifold, n=12, seed=0):
    """Samples plus a few far off-manifold points, in float64."""
    x = manifold.sample(n, torch.Generator().manual_seed(seed)).x.double()
    x[: n // 3] += 0.5 * torch.randn(x[: n // 3].shape, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    return x


def dense_log_likelihood(manifold, x, sigma):
    """log p_sigma(x|c) [B, n_classes] from full D x D covariances, no structure used."""
    u_s, u_d = manifold.signal_basis(), manifold.distractor_basis()
    cov = (
        manifold.signal_std**2 * u_s @ u_s.T
        + manifold.distractor_std**2 * u_d @ u_d.T
        + (manifold.noise_std**2 + sigma**2) * torch.eye(manifold.dim, dtype=F64)
    )
    centres = manifold.mean_image.reshape(1, 1, -1) + manifold.means @ u_s.T  # [n_classes, J, D]
    gauss = torch.distributions.MultivariateNormal(centres, covariance_matrix=cov)
    log_p = gauss.log_prob(x.reshape(x.shape[0], 1, 1, -1))  # [B, n_classes, J]
    return torch.logsumexp(log_p, dim=2) - math.log(manifold.components)


def dense_log_density(manifold, x, sigma):
    return torch.logsumexp(dense_log_likelihood(manifold, x, sigma), dim=1) - math.log(manifold.n_classes)


def autograd(fn, x):
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(fn(x).sum(), x)
    return grad


def relative_error(a, b):
    return ((a - b).norm() / b.norm()).item()


def off_span_fraction(v, basis):
    """||v - P v|| / ||v|| per row, P the orthogonal projector onto span(basis)."""
    v = v.reshape(v.shape[0], -1).to(F64)
    residual = v - (v @ basis) @ basis.T
    return residual.norm(dim=1) / v.norm(dim=1)


# ---- basis -----------------------------------------------------------------------------


def test_basis_is_orthonormal_and_smooth(default):
    u = default.tangent_basis()
    assert u.shape == (768, 16) and default.signal_basis().shape == (768, 8)
    assert torch.allclose(u.T @ u, torch.eye(16, dtype=F64), atol=1e-5)

    def roughness(v):  # squared neighbouring-pixel differences of unit-norm images
        v = v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        dh, dw = v[..., 1:, :] - v[..., :-1, :], v[..., :, 1:] - v[..., :, :-1]
        return dh.square().sum((1, 2, 3)) + dw.square().sum((1, 2, 3))

    patterns = u.T.reshape(16, 3, 16, 16)
    noise = torch.randn(64, 3, 16, 16, generator=torch.Generator().manual_seed(0), dtype=F64)
    assert roughness(patterns).max() < 0.1 * roughness(noise).mean()


def test_manifold_is_deterministic_given_seed(default):
    again, other = make_manifold(seed=0), make_manifold(seed=1)
    assert torch.equal(default.basis, again.basis) and torch.equal(default.means, again.means)
    assert not torch.allclose(default.basis, other.basis) and not torch.allclose(default.means, other.means)
    a = default.sample(8, torch.Generator().manual_seed(5))
    b = again.sample(8, torch.Generator().manual_seed(5))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_no_distractor_and_one_component_work():
    m = make_manifold((2, 4, 4), k_signal=3, k_distractor=0, n_classes=2, components=1, noise_std=0.1)
    x = points(m)
    assert m.distractor_basis().shape == (32, 0)
    assert relative_error(m.score(x, 0.2), autograd(lambda v: dense_log_density(m, v, 0.2), x)) < 1e-6


def test_invalid_parameters_raise_config_error():
    with pytest.raises(ConfigError, match="noise_std"):
        make_manifold(noise_std=0.0)
    with pytest.raises(ConfigError, match="exceeds"):
        make_manifold((1, 2, 2), k_signal=3, k_distractor=2)


# ---- sampling --------------------------------------------------------------------------


def test_samples_lie_near_the_manifold_and_classes_are_balanced(default):
    split = default.sample(5000, torch.Generator().manual_seed(1))
    assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64 and split.x.shape == (5000, 3, 16, 16)
    counts = torch.bincount(split.y, minlength=10)
    assert counts.min() > 400 and counts.max() < 600  # uniform: 500 +- 4.5 standard deviations
    centred = split.x.double().reshape(5000, -1) - 0.5
    u = default.tangent_basis()
    off = centred - (centred @ u) @ u.T
    assert off.std().item() == pytest.approx(default.noise_std, rel=0.02)
    # The stored latent is the image's coordinate along U, up to the noise.
    assert (centred @ u - split.extras["z"].double()).std().item() == pytest.approx(default.noise_std, rel=0.05)
    assert ((split.x < 0) | (split.x > 1)).float().mean() < 0.005


# ---- closed forms against dense formulas -----------------------------------------------


@pytest.mark.parametrize("sigma", [0.0, 0.3])
def test_log_densities_match_dense_gaussian_mixture(tiny, sigma):
    x = points(tiny)
    assert torch.allclose(tiny.log_likelihood(x, sigma), dense_log_likelihood(tiny, x, sigma), rtol=1e-10, atol=1e-8)
    assert torch.allclose(tiny.log_density(x, sigma), dense_log_density(tiny, x, sigma), rtol=1e-10, atol=1e-8)


@pytest.mark.parametrize("sigma", [0.0, 0.3])
def test_score_matches_autograd_of_dense_density(tiny, sigma):
    x = points(tiny)
    expected = autograd(lambda v: dense_log_density(tiny, v, sigma), x)
    assert relative_error(tiny.score(x, sigma), expected) < 1e-6
    for c in range(tiny.n_classes):
        expected_c = autograd(lambda v, c=c: dense_log_likelihood(tiny, v, sigma)[:, c], x)
        assert relative_error(tiny.class_score(x, sigma, c), expected_c) < 1e-6


def test_noised_score_matches_finite_differences(tiny):
    x, sigma, h = points(tiny, n=4), 0.3, 1e-5
    directions = torch.randn(5, *x.shape[1:], generator=torch.Generator().manual_seed(2), dtype=F64)
    score = tiny.score(x, sigma)
    for d in directions:
        fd = (tiny.log_density(x + h * d, sigma) - tiny.log_density(x - h * d, sigma)) / (2 * h)
        assert torch.allclose(fd, (score * d).sum((1, 2, 3)), rtol=1e-6, atol=1e-6)


def test_per_image_classes_in_class_score(tiny):
    x = points(tiny, n=6)
    c = torch.tensor([0, 1, 2, 2, 1, 0])
    expected = torch.stack([tiny.class_score(x[i : i + 1], 0.1, int(c[i]))[0] for i in range(6)])
    assert torch.allclose(tiny.class_score(x, 0.1, c), expected, rtol=1e-12, atol=1e-12)


def test_float32_inputs_give_float32_outputs(default):
    x = default.sample(4, torch.Generator().manual_seed(0)).x
    for out in (default.score(x), default.log_likelihood(x), default.posterior_logits(x), BayesOptimal(default)(x)):
        assert out.dtype == torch.float32 and torch.isfinite(out).all()


# ---- Bayes-optimal classifier ----------------------------------------------------------


def test_bayes_gradients_lie_in_the_signal_span(default):
    model = BayesOptimal(default).float()  # casting the module must not round its float64 maths
    x = points(default, n=16)
    u_s = default.signal_basis()
    for c in range(default.n_classes):
        grad = input_gradient(model, x, torch.full((16,), c), target="label")
        assert off_span_fraction(grad, u_s).max() < 1e-6
    grad = input_gradient(model, x, model(x).argmax(1), target="predicted")
    assert off_span_fraction(grad, u_s).max() < 1e-6
    # The marginal score is not: it also points along the distractor and off the manifold.
    assert off_span_fraction(default.score(x), u_s).min() > 0.1


def test_bayes_gradient_is_the_theorem_4_combination_of_class_scores(tiny):
    # grad log p(y|x) = grad log p(x|y) - sum_c p(c|x) grad log p(x|c)
    x = points(tiny)
    y = torch.arange(x.shape[0]) % tiny.n_classes
    grad = input_gradient(BayesOptimal(tiny), x, y, target="label")
    posterior = tiny.posterior_logits(x).exp()
    scores = torch.stack([tiny.class_score(x, 0.0, c) for c in range(tiny.n_classes)], dim=1)
    expected = tiny.class_score(x, 0.0, y) - (posterior.view(*posterior.shape, 1, 1, 1) * scores).sum(1)
    assert relative_error(grad, expected) < 1e-8


def test_bayes_accuracy_matches_its_expected_value(default):
    split = default.sample(4000, torch.Generator().manual_seed(7))
    logits = BayesOptimal(default)(split.x.double())
    assert torch.allclose(logits.exp().sum(1), torch.ones(4000, dtype=F64))  # normalised log-posterior
    accuracy = (logits.argmax(1) == split.y).double().mean().item()
    expected = logits.exp().max(1).values.mean().item()  # E[max_c p(c|x)]
    assert accuracy == pytest.approx(expected, abs=0.02)
    assert 0.85 < accuracy < 0.98  # separable, but not trivially (chance is 0.1)


def test_noised_bayes_classifier_matches_dense_posterior(tiny):
    x, sigma = points(tiny), 0.3
    expected = torch.log_softmax(dense_log_likelihood(tiny, x, sigma), dim=1)
    assert torch.allclose(BayesOptimal(tiny, sigma=sigma)(x), expected, rtol=1e-10, atol=1e-10)


# ---- saving ----------------------------------------------------------------------------


def test_save_load_round_trip_reproduces_everything(default, tmp_path):
    save_torch(default.to_dict(), tmp_path / "manifold.pt")
    loaded = SyntheticManifold.from_dict(load_torch(tmp_path / "manifold.pt"))  # weights_only=True
    x = points(default)
    assert torch.equal(BayesOptimal(loaded)(x), BayesOptimal(default)(x))
    assert torch.equal(loaded.score(x, 0.1), default.score(x, 0.1))
    a = loaded.sample(8, torch.Generator().manual_seed(3))
    b = default.sample(8, torch.Generator().manual_seed(3))
    assert torch.equal(a.x, b.x) and loaded.image_shape == default.image_shape


def test_from_dict_rejects_foreign_data(default):
    with pytest.raises(DataError, match="not a synthetic manifold"):
        SyntheticManifold.from_dict({"x": torch.zeros(1)})
    broken = {**default.to_dict(), "image_shape": [1, 4, 4]}
    with pytest.raises(DataError, match="inconsistent"):
        SyntheticManifold.from_dict(broken)
