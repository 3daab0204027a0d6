"""On- and off-manifold robustness at known step lengths: the directions are unit vectors,
so a step of size eps moves the input by exactly eps on (or off) the manifold.

A model whose second logit is c ||Q^T x||^2 (zero at images x orthogonal to span(Q))
reads that length: at x + eps d with d a unit vector in span(Q) its logits are
[0, c eps^2], so the softmax-L1 change is 2 |sigmoid(c eps^2) - 1/2| whatever the random
direction, and 0 along any direction orthogonal to span(Q). Without the unit
normalisation the step would be about sqrt(k) eps on the manifold and sqrt(D - k) eps off it.
"""

import math

import pytest
import torch
from pags.manifold import on_off_manifold_change, principal_angles, small_noise_ratio
from torch import nn

F64 = torch.float64
SHAPE = (2, 4, 4)
D = math.prod(SHAPE)
K = 5
C = 0.3
STEPS = [0.5, 1.0, 2.637]


def gen(seed):
    return torch.Generator().manual_seed(seed)


def basis(seed=0):
    return torch.linalg.qr(torch.randn(D, K, generator=gen(seed), dtype=F64))[0]


class SquaredLength(nn.Module):
    """logits [0, c ||M x||^2] with M the projection onto span(Q) (``on``) or onto its
    orthogonal complement (``off``)."""

    def __init__(self, Q, part):
        super().__init__()
        P = Q @ Q.T
        self.M = P if part == "on" else torch.eye(len(Q), dtype=Q.dtype) - P

    def forward(self, x):
        squared = (x.flatten(1) @ self.M).pow(2).sum(1)
        return torch.stack([torch.zeros_like(squared), C * squared], 1)


def change_at(step):
    """2 |sigmoid(c eps^2) - 1/2|: the softmax moves from (1/2, 1/2) to sigmoid's."""
    return 2 * abs(1 / (1 + math.exp(-C * step**2)) - 0.5)


def images(Q, part, n=6, seed=1):
    """Images where the model reads 0: off span(Q) for the ``on`` model, in it for ``off``."""
    x = torch.randn(n, D, generator=gen(seed), dtype=F64)
    P = Q @ Q.T
    x = x - x @ P if part == "on" else x @ P
    return x.view(n, *SHAPE)


@pytest.mark.parametrize("part", ["on", "off"])
def test_a_step_of_eps_moves_the_input_by_exactly_eps_on_or_off_the_manifold(part):
    Q = basis()
    model = SquaredLength(Q, part)
    x = images(Q, part)
    change = on_off_manifold_change(model, x, Q.expand(len(x), D, K), STEPS, gen(2))
    expected = torch.tensor([change_at(s) for s in STEPS], dtype=F64)[:, None].expand(len(STEPS), len(x))
    other = "off" if part == "on" else "on"
    assert torch.allclose(change[part], expected, rtol=1e-9)
    assert change[other].abs().max() < 1e-12


def test_the_step_length_does_not_depend_on_the_draw_or_the_basis_size():
    """The same change for any seed and any k: only the direction is random."""
    for seed, k in ((3, 1), (4, 12)):
        Q = torch.linalg.qr(torch.randn(D, k, generator=gen(seed), dtype=F64))[0]
        x = images(Q, "on", n=3, seed=seed)
        change = on_off_manifold_change(SquaredLength(Q, "on"), x, Q.expand(3, D, k), [1.0], gen(seed))
        assert torch.allclose(change["on"], torch.full((1, 3), change_at(1.0), dtype=F64), rtol=1e-9)


class LinearLogit(nn.Module):
    """logits [w . x + 10, 0]: class 0 is predicted, and f(x + u) - f(x) = w . u exactly."""

    def __init__(self, w):
        super().__init__()
        self.w = w

    def forward(self, x):
        f = x.flatten(1) @ self.w + 10
        return torch.stack([f, torch.zeros_like(f)], 1)


@pytest.mark.parametrize(("part", "expected"), [("off", 1.0), ("on", 0.0)])
def test_small_noise_ratio_of_a_gradient_off_or_on_the_manifold_is_one_or_zero(part, expected):
    """Theorem 3's ratio E (f(x + u_off) - f(x))^2 / E (f(x + u) - f(x))^2 for f = w . x is
    1 when w is orthogonal to the tangent space (f sees only u_off) and 0 when w lies in it,
    exactly, for any draws and any sigma."""
    Q = basis(5)
    w = torch.randn(D, generator=gen(6), dtype=F64)
    w = w - Q @ (Q.T @ w) if part == "off" else Q @ (Q.T @ w)
    x = torch.rand(3, *SHAPE, generator=gen(7), dtype=F64)
    for sigma, draws in ((1e-3, 7), (2.0, 7), (0.5, 1)):
        ratio = small_noise_ratio(LinearLogit(w), x, Q.expand(3, D, K), sigma, draws=draws, generator=gen(8))
        assert torch.allclose(ratio, torch.full((3,), expected, dtype=F64), atol=1e-9)


def test_small_noise_ratio_of_a_linear_logit_is_its_off_manifold_fraction():
    """For f = w . x with w a mix of tangent and normal parts, the ratio averages to
    ||(I - P) w||^2 / ||w||^2 (the mirrored draws cancel the cross term; 20000 draws)."""
    Q = basis(9)
    w = torch.randn(D, generator=gen(10), dtype=F64)
    on = Q @ (Q.T @ w)
    w = 3 * on + (w - on)  # off fraction well inside (0, 1)
    off_fraction = ((w - Q @ (Q.T @ w)).pow(2).sum() / w.pow(2).sum()).item()
    assert 0.2 < off_fraction < 0.8
    x = torch.rand(1, *SHAPE, generator=gen(11), dtype=F64)
    ratio = small_noise_ratio(LinearLogit(w), x, Q[None], 0.5, draws=20000, generator=gen(12))
    assert abs(ratio.item() - off_fraction) < 0.02


def test_small_noise_ratio_pairs_each_draw_with_its_mirror_and_draws_per_image():
    """With the mirror draw u' = u_off - u_on beside u, a linear logit's single-draw ratio is
    (w.u_off)^2 / ((w.u_on)^2 + (w.u_off)^2), never above 1 (u alone could give more); and
    identical images get their own draws: 50 copies give 50 different ratios."""
    Q = basis(13)
    w = torch.randn(D, generator=gen(14), dtype=F64)
    x = torch.rand(1, *SHAPE, generator=gen(15), dtype=F64).expand(50, *SHAPE)
    ratio = small_noise_ratio(LinearLogit(w), x, Q.expand(50, D, K), 0.5, draws=1, generator=gen(16))
    assert (ratio <= 1 + 1e-12).all() and (ratio >= 0).all()
    assert len(set(ratio.tolist())) == 50


def tilted_plane(angle, dtype):
    """span(e0, e1) and span(cos t e0 + sin t e2, e1) in R^5: principal angles 0 and t."""
    e = torch.eye(5, dtype=dtype)
    tilted = torch.stack([math.cos(angle) * e[0] + math.sin(angle) * e[2], e[1]], dim=1)
    return e[:, :2][None], tilted[None]


@pytest.mark.parametrize("angle", [1e-4, 0.7, 0.9, math.pi / 2 - 1e-3])
def test_principal_angles_keep_float32_precision_from_zero_to_a_right_angle(angle):
    """arcsin is ill-conditioned near a right angle and arccos near zero: each estimate is
    used where it is accurate, so every angle comes out to ~1e-6 in float32 (either one
    alone misses by ~3e-5 at one end)."""
    Q, tilted = tilted_plane(angle, torch.float32)
    got = principal_angles(Q, tilted)
    assert got.dtype == torch.float32
    assert torch.allclose(got.double(), torch.tensor([[0.0, angle]], dtype=F64), atol=1.5e-6, rtol=0)


def test_half_precision_bases_are_compared_in_float32():
    Q, tilted = tilted_plane(1.2, torch.float16)
    got = principal_angles(Q, tilted)
    assert got.dtype == torch.float32
    assert torch.equal(got, principal_angles(Q.float(), tilted.float()))
    assert principal_angles(Q.float(), tilted.double()).dtype == torch.float64  # the finer of the two
