"""The robust objectives against their definitions, on linear models with known gradients."""

import pytest
import torch
import torch.nn.functional as F
from pags.objectives import make_objective, scaled_lr
from pags.objectives.gnorm import GradNorm
from pags.objectives.randsmooth import RandSmooth
from pags.objectives.smooth import Smooth
from torch import nn


def linear_problem(seed=0, n=6, d=5, k=3):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, k)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(k, d, generator=g, dtype=torch.float64))
    x = torch.randn(n, 1, 1, d, generator=g, dtype=torch.float64)
    y = torch.randint(k, (n,), generator=g)
    return model, x, y


def test_gnorm_penalty_is_mean_squared_input_gradient_norm():
    model, x, y = linear_problem()
    W = model[1].weight
    p = model(x).softmax(-1)
    # d l / dx = W^T (softmax - onehot) for a linear model
    grads = (p - F.one_hot(y, 3).double()) @ W
    expected = F.cross_entropy(model(x), y) + 0.3 * 2.0 * grads.pow(2).sum(1).mean()
    loss = GradNorm([0.3], penalty_scale=2.0)(model, x, y, torch.Generator())
    assert torch.allclose(loss, expected, atol=1e-12)


def test_gnorm_backpropagates_through_the_penalty():
    model, x, y = linear_problem()
    GradNorm([0.3], 1.0)(model, x, y, torch.Generator()).backward()
    autograd_grad = model[1].weight.grad.clone()

    W = model[1].weight.detach().clone().requires_grad_(True)
    logits = x.flatten(1) @ W.T + model[1].bias.detach()
    grads = (logits.softmax(-1) - F.one_hot(y, 3).double()) @ W
    explicit = F.cross_entropy(logits, y) + 0.3 * grads.pow(2).sum(1).mean()
    (expected,) = torch.autograd.grad(explicit, W)
    assert torch.allclose(autograd_grad, expected, atol=1e-10)
    model[1].weight.grad = None
    F.cross_entropy(model(x), y).backward()
    assert not torch.allclose(model[1].weight.grad, expected)  # the penalty did contribute


def test_smooth_penalty_is_squared_logit_change_under_its_noise():
    model, x, y = linear_problem()
    W = model[1].weight
    g = torch.Generator().manual_seed(5)
    noise = 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(5), dtype=x.dtype)
    expected = F.cross_entropy(model(x), y) + 4.0 * (noise.flatten(1) @ W.T).pow(2).sum(1).mean()
    assert torch.allclose(Smooth([4.0], noise_std=0.1)(model, x, y, g), expected, atol=1e-12)


def test_randsmooth_is_cross_entropy_at_noised_inputs():
    model, x, y = linear_problem()
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(7), dtype=x.dtype)
    expected = F.cross_entropy(model(x + 0.5 * noise), y)
    assert torch.allclose(RandSmooth([0.5])(model, x, y, torch.Generator().manual_seed(7)), expected)
    assert torch.allclose(RandSmooth([0.0])(model, x, y, torch.Generator()), F.cross_entropy(model(x), y))


@pytest.mark.parametrize(
    "name, options",
    [("gnorm", {"penalty_scale": 1.0}), ("smooth", {"noise_std": 0.1}), ("randsmooth", {})],
)
def test_zero_strength_reduces_to_cross_entropy(name, options):
    model, x, y = linear_problem()
    loss = make_objective(name, 0.0, options)(model, x, y, torch.Generator())
    assert torch.allclose(loss, F.cross_entropy(model(x), y), atol=1e-12)


def test_objectives_ignore_options_that_are_not_theirs():
    objective = make_objective("randsmooth", 0.25, {"grid": [0.25], "lr_threshold": 10})
    assert objective == RandSmooth([0.25])


@pytest.mark.parametrize(
    "lr, strength, threshold, expected",
    [
        (0.1, 0.001, 0.01, 0.1),  # below the threshold: unchanged
        (0.1, 0.01, 0.01, 0.1),
        (0.1, 1.0, 0.01, 0.001),  # lr / (1 / 0.01)
        (0.025, 1000.0, 100.0, 0.0025),  # the authors' PGD rule at eps = 1000
        (0.1, [1, 4, 8], 2.0, 0.025),  # a list: its largest value counts
        (0.1, 50.0, None, 0.1),  # no rule
    ],
)
def test_scaled_lr_follows_the_authors_rule(lr, strength, threshold, expected):
    assert scaled_lr(lr, strength, threshold) == pytest.approx(expected)
