"""Relative noise robustness at a known scale: the noise std multiplies a standard normal
draw, the mask selects the pixels it lands on, draws are averaged (not summed), and the
softmax-L1 change is the L1 distance of the two probability vectors."""

import math

import pytest
import torch
from pags.noise_robustness import masked_noise_change, softmax_l1_change
from torch import nn

F64 = torch.float64
N, H, W = 3000, 4, 2
D = H * W


class Linear2(nn.Module):
    """logits [0, a . x]: near a . x = 0 the softmax-L1 change is |sigmoid(a . u) - 1/2| * 2
    ~ |a . u| / 2 for a small perturbation u."""

    def __init__(self, a):
        super().__init__()
        self.a = a

    def forward(self, x):
        z = x.flatten(1) @ self.a
        return torch.stack([torch.zeros_like(z), z], 1)


def masks(n):
    top = torch.zeros(n, 1, H, W, dtype=F64)
    top[:, :, : H // 2] = 1
    return {"signal": top, "distractor": 1 - top}


def test_the_change_grows_as_the_noise_std_times_the_masked_weights_norm():
    """With u = s M n, n ~ N(0, I): a . u ~ N(0, s^2 ||M a||^2), so the mean change is
    (1/2) s ||M a|| sqrt(2 / pi) to first order (s small); 3000 images average it."""
    a = torch.arange(1.0, D + 1, dtype=F64)
    x = torch.zeros(N, 1, H, W, dtype=F64)
    stds = [1e-4, 1e-3]
    changes = masked_noise_change(Linear2(a), x, masks(N), stds, torch.Generator().manual_seed(0))
    for region, weights in (("signal", a[: D // 2]), ("distractor", a[D // 2 :])):
        for j, s in enumerate(stds):
            expected = 0.5 * s * weights.norm().item() * math.sqrt(2 / math.pi)
            assert changes[region][j].mean().item() == pytest.approx(expected, rel=0.05)


def test_draws_are_averaged_each_a_fresh_standard_normal_per_image():
    """The change over two draws is the mean of the changes at x + s M n_1 and x + s M n_2,
    n_d the generator's d-th standard normal draw of the images' shape; by default one draw."""
    a = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0, 2.0, 0.0, 1.0], dtype=F64)
    x = torch.rand(5, 1, H, W, generator=torch.Generator().manual_seed(1), dtype=F64)
    stds = [0.0, 0.3, 2.0]
    model, m = Linear2(a), masks(5)
    changes = masked_noise_change(model, x, m, stds, torch.Generator().manual_seed(2), draws=2)
    one_draw = masked_noise_change(model, x, m, stds, torch.Generator().manual_seed(2))  # the default
    g = torch.Generator().manual_seed(2)
    noises = [torch.randn(x.shape, generator=g, dtype=F64) for _ in range(2)]
    for region, mask in m.items():
        for j, s in enumerate(stds):
            per_draw = [(model(x + s * mask * n).softmax(1) - model(x).softmax(1)).abs().sum(1) for n in noises]
            assert torch.allclose(changes[region][j].double(), sum(per_draw) / 2, rtol=1e-5, atol=1e-7)
            assert torch.allclose(one_draw[region][j].double(), per_draw[0], rtol=1e-5, atol=1e-7)


def test_softmax_l1_change_is_the_l1_distance_of_the_probabilities():
    clean = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])  # (1/2, 1/2) and (3/4, 1/4)
    moved = torch.tensor([[math.log(3.0), 0.0], [0.0, math.log(3.0)]])  # (3/4, 1/4) and (1/4, 3/4)
    assert torch.allclose(softmax_l1_change(clean, moved), torch.tensor([0.5, 1.0]), rtol=1e-6)
