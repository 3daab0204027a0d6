"""Score backends at a known scale: Bayes' rule's direction (conditional minus
unconditional score) against the closed-form grad log p(y | x) of a two-class Gaussian
mixture, and the trained denoiser's EDM preconditioning (Karras et al. 2022, Table 1)
against the ideal denoiser of N(0, sigma_data^2) data."""

import math
from types import SimpleNamespace

import pytest
import torch
from pags.score import batched_scores, score_difference
from pags.score.denoiser import PreconditionedDenoiser, denoiser_score
from torch import nn

F64 = torch.float64
V = 0.3**2  # each class's variance, sigma included
MEANS = torch.tensor([[0.2, -0.1, 0.4, 0.0], [-0.3, 0.5, 0.1, 0.2]], dtype=F64).view(2, 1, 2, 2)


def class_score(x, sigma, labels):
    return (MEANS[labels] - x) / V


def marginal_score(x, sigma, labels):
    """Score of the equal-weight mixture: sum_c p(c | x) (mu_c - x) / v."""
    posterior = posteriors(x)
    return sum(posterior[:, c].view(-1, 1, 1, 1) * (MEANS[c] - x) / V for c in range(2))


def posteriors(x):
    log_lik = torch.stack([-(x - MEANS[c]).pow(2).flatten(1).sum(1) / (2 * V) for c in range(2)], 1)
    return log_lik.softmax(1)


def test_score_difference_is_grad_log_p_of_the_label_given_x():
    """For two Gaussians of equal variance, grad_x log p(y | x) = (1 - p(y | x)) (mu_y -
    mu_other) / v: toward the label's mean, shrinking as the label becomes certain."""
    x = torch.randn(6, 1, 2, 2, generator=torch.Generator().manual_seed(0), dtype=F64) * 0.3
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    p_y = posteriors(x).gather(1, y[:, None]).view(-1, 1, 1, 1)
    expected = (1 - p_y) * (MEANS[y] - MEANS[1 - y]) / V
    got = score_difference(class_score, marginal_score)(x, 0.1, y)
    assert torch.allclose(got, expected, rtol=1e-10)


def test_batched_scores_pass_sigma_and_each_batchs_labels():
    x = torch.randn(7, 1, 2, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    y = torch.tensor([0, 1, 1, 0, 1, 0, 1])
    got = batched_scores(class_score, x, 0.1, y, batch_size=3, device=torch.device("cpu"))
    assert got.dtype == torch.float32
    assert torch.allclose(got, ((MEANS[y] - x) / V).float(), rtol=1e-6)


class ConstantNet(nn.Module):
    """Stands in for the U-Net F, to expose the preconditioning around it: returns
    ``value`` everywhere and keeps what it was called with."""

    def __init__(self, value):
        super().__init__()
        self.value, self.calls = value, []

    def forward(self, x, noise, class_labels=None):
        self.calls.append((x, noise))
        return SimpleNamespace(sample=torch.full_like(x, self.value))


SD = 0.5


@pytest.fixture(scope="module")
def denoiser():
    spec = {"shape": [1, 4, 4], "sigma_data": SD, "block_channels": [8], "layers_per_block": 1, "num_classes": 0}
    return PreconditionedDenoiser(spec).double()


@pytest.mark.parametrize("sigma", [0.05, 0.5, 3.0])
def test_with_a_zero_network_the_denoiser_is_the_ideal_one_for_its_data_std(denoiser, sigma):
    """D = c_skip x = sd^2 / (sigma^2 + sd^2) x, E[x0 | x] for x0 ~ N(0, sd^2): the score is
    -x / (sigma^2 + sd^2), that of the noised data N(0, sd^2 + sigma^2)."""
    denoiser.net = ConstantNet(0.0)
    x = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(2), dtype=F64)
    assert torch.allclose(denoiser_score(denoiser)(x, sigma, None), -x / (sigma**2 + SD**2), rtol=1e-10)


def test_the_network_sees_unit_variance_inputs_and_log_sigma_over_four(denoiser):
    """c_in = 1 / sqrt(sigma^2 + sd^2), c_noise = ln(sigma) / 4, and the network's output
    enters scaled by c_out = sigma sd / sqrt(sigma^2 + sd^2)."""
    net = denoiser.net = ConstantNet(1.0)
    sigma = 1.2
    x = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(3), dtype=F64)
    out = denoiser(x, torch.full((2,), sigma, dtype=F64))
    total = (sigma**2 + SD**2) ** 0.5
    seen, noise = net.calls[-1]
    assert torch.allclose(seen, x / total, rtol=1e-12)
    assert torch.allclose(noise, torch.full((2,), math.log(sigma) / 4, dtype=F64), rtol=1e-12)
    assert torch.allclose(out, SD**2 / total**2 * x + sigma * SD / total, rtol=1e-12)
