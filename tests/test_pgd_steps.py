"""Every PGD step has length step_size wherever the gradient is nonzero, however small the
gradient: confident images (large logit margins) have loss gradients of about e^-margin,
far below any absolute floor on the norm."""

import math

import pytest
import torch
import torch.nn.functional as F
from pags.attacks import pgd_l2, project
from pags.norms import l2_norm, unit_direction
from torch import nn

SHAPE = (3, 4, 4)
D = math.prod(SHAPE)
CLASSES = 10
STEP = 0.1
OLD_FLOOR = 1e-12  # the absolute floor the norm of the batch-mean loss's gradient was clamped to
# Margins per image, cycled over the batch. MIXED starts with 80 so that a batch of one
# is confident; in SATURATED every image is, so the batch-shared gradient is tiny too.
MIXED = (80.0, 0.5, 49.0, 3.0, 15.0)
SATURATED = (49.0, 80.0, 65.0)


def confident_batch(margins, n, dtype, seed=0):
    """A linear classifier and n images in [0.15, 0.85] with logit margins (top logit minus
    the runner-up, that of the label y) margins[i % len(margins)]."""
    g = torch.Generator().manual_seed(seed)
    w = 30 * torch.randn(CLASSES, D, generator=g, dtype=torch.float64)
    x, y = [], []
    for i in range(n):
        label = i % CLASSES
        direction = w[label] / w[label].abs().max()  # in [-1, 1], favours the label's class
        logits = w @ direction
        gap = logits[label] - logits[torch.arange(CLASSES) != label].max()
        radius = margins[i % len(margins)] / gap
        assert gap > 0 and radius <= 0.35
        x.append(0.5 + radius * direction)
        y.append(label)
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, CLASSES)).to(dtype)
    with torch.no_grad():
        model[1].weight.copy_(w)
        model[1].bias.copy_(-w @ torch.full((D,), 0.5, dtype=torch.float64))
    return model, torch.stack(x).view(n, *SHAPE).to(dtype), torch.tensor(y)


def input_gradient(model, x, y, reduction):
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction=reduction), x)
    return grad


def first_step(model, x, y, convention):
    return pgd_l2(model, x, y, eps=100.0, steps=1, step_size=STEP, random_start=0, convention=convention) - x


def unit_lengths(convention, n):
    return torch.ones(n) if convention == "per_example" else torch.ones(1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("margins", [MIXED, SATURATED], ids=["mixed", "saturated"])
@pytest.mark.parametrize("n", [1, 7, 128])
@pytest.mark.parametrize("convention", ["per_example", "batch"])
def test_first_step_has_length_step_size_whatever_the_margin(convention, n, margins, dtype):
    model, x, y = confident_batch(margins, n, dtype)
    logits = model(x).double()
    top2 = logits.topk(2, dim=1).values
    assert (logits.argmax(1) == y).all()
    torch.testing.assert_close(top2[:, 0] - top2[:, 1], torch.tensor(margins * n)[:n].double(), rtol=1e-3, atol=1e-3)
    model64 = confident_batch(margins, n, torch.float64)[0]
    nonzero = input_gradient(model64, x.double(), y, "sum").flatten(1).abs().amax(1) > 0
    if convention == "batch":
        nonzero = nonzero.any().view(1)
    assert nonzero.all()

    length = l2_norm(first_step(model, x, y, convention), convention).flatten()
    torch.testing.assert_close(length.double() / STEP, unit_lengths(convention, n).double(), rtol=1e-5, atol=0)


@pytest.mark.parametrize("n", [1, 7, 128])
@pytest.mark.parametrize(
    "convention,margins",
    [("per_example", MIXED), ("per_example", SATURATED), ("batch", SATURATED)],
    ids=["per_example-mixed", "per_example-saturated", "batch-saturated"],
)
def test_these_margins_are_below_an_absolute_floor_on_the_gradient_norm(convention, n, margins):
    """The cases above that an absolute floor (grad / max(||grad||, 1e-12), grad that of the
    batch-mean loss) would shrink: their steps would have been far shorter than step_size."""
    model, x, y = confident_batch(margins, n, torch.float32)
    norm = l2_norm(input_gradient(model, x, y, "mean").double(), convention).flatten()
    assert (norm > 0).all()
    assert (norm < OLD_FLOOR).any()
    shrunk = norm.clamp_max(OLD_FLOOR) / OLD_FLOOR  # the old step length / step_size
    assert shrunk.min() < 1e-6


@pytest.mark.parametrize("convention", ["per_example", "batch"])
def test_steps_for_normal_gradients_follow_the_normalised_gradient(convention):
    """For ordinary margins the step is step_size * g / ||g||, the norm per image or shared by
    the batch (the authors' convention), with g the gradient of the batch-mean loss."""
    model, x, y = confident_batch((0.5, 2.0, 4.0), 16, torch.float32)
    g = input_gradient(model, x, y, "mean").double()
    norm = g.flatten(1).norm(dim=1).view(-1, 1, 1, 1) if convention == "per_example" else g.norm()
    torch.testing.assert_close(first_step(model, x, y, convention).double(), STEP * g / norm, rtol=0, atol=1e-6)


def test_per_image_steps_do_not_depend_on_the_batch_size():
    model, x, y = confident_batch(MIXED, 128, torch.float32)
    alone = torch.cat([first_step(model, x[i : i + 1], y[i : i + 1], "per_example") for i in range(7)])
    torch.testing.assert_close(first_step(model, x, y, "per_example")[:7], alone, rtol=0, atol=1e-6)


class Constant(nn.Module):
    """Logits that do not depend on the input: every input gradient is exactly 0."""

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor([[2.0, -1.0, 0.5]]))

    def forward(self, x):
        return self.logits.expand(len(x), -1) + 0 * x.flatten(1).sum(1, keepdim=True)


class DeadBelowHalf(nn.Module):
    """Logits W relu(x - 0.5): images below 0.5 everywhere have an input gradient of exactly 0."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(D, 3)

    def forward(self, x):
        return self.linear(torch.relu(x.flatten(1) - 0.5))


@pytest.mark.parametrize("convention", ["per_example", "batch"])
def test_a_zero_gradient_gives_a_zero_step_and_no_nan(convention):
    x = 0.3 + 0.4 * torch.rand(5, *SHAPE, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1])
    x_adv = pgd_l2(Constant(), x, y, eps=1.0, steps=3, step_size=STEP, random_start=0, convention=convention)
    assert torch.equal(x_adv, x)
    g = torch.Generator().manual_seed(1)
    x_adv = pgd_l2(
        Constant(), x, y, eps=1.0, steps=3, step_size=STEP, random_start=0.05, convention=convention, generator=g
    )
    assert torch.isfinite(x_adv).all()
    torch.testing.assert_close(
        l2_norm(x_adv - x, convention).flatten(), 0.05 * unit_lengths(convention, 5), rtol=1e-5, atol=0
    )


@pytest.mark.parametrize("convention", ["per_example", "batch"])
def test_images_with_zero_gradient_take_no_step_beside_images_that_do(convention):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    dead = 0.1 + 0.3 * torch.rand(3, *SHAPE, generator=g)
    live = 0.6 + 0.3 * torch.rand(3, *SHAPE, generator=g)
    x, y = torch.cat([dead, live]), torch.tensor([0, 1, 2, 0, 1, 2])
    step = first_step(DeadBelowHalf(), x, y, convention)
    assert torch.isfinite(step).all()
    assert torch.equal(step[:3], torch.zeros_like(step[:3]))
    if convention == "per_example":
        torch.testing.assert_close(l2_norm(step[3:], convention).flatten(), torch.full((3,), STEP), rtol=1e-5, atol=0)
    else:
        torch.testing.assert_close(l2_norm(step, convention), torch.tensor(STEP), rtol=1e-5, atol=0)
    step = first_step(DeadBelowHalf(), dead, y[:3], convention)  # a batch of zero gradients only
    assert torch.equal(step, torch.zeros_like(step))


@pytest.mark.parametrize("scale", [1e-40, 1e-30, 1e-12, 1.0, 1e30])
@pytest.mark.parametrize("convention", ["per_example", "batch"])
def test_unit_direction_has_length_one_at_any_scale(convention, scale):
    v = torch.randn(4, *SHAPE, generator=torch.Generator().manual_seed(0))
    tiny = v * scale
    assert (tiny != 0).any(dim=1).all()
    length = l2_norm(unit_direction(tiny, convention), convention).flatten()
    torch.testing.assert_close(length, unit_lengths(convention, 4), rtol=1e-5, atol=0)
    if scale >= 1e-30:  # normal floats: the direction, not only the length, is v's
        torch.testing.assert_close(
            unit_direction(tiny, convention), unit_direction(v, convention), rtol=1e-5, atol=1e-7
        )
    zero = torch.zeros_like(v)
    assert torch.equal(unit_direction(zero, convention), zero)


@pytest.mark.parametrize("convention", ["per_example", "batch"])
def test_l2_norm_and_project_at_tiny_scales(convention):
    v = torch.randn(4, *SHAPE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = l2_norm(v, convention) * 1e-25
    tiny = (v * 1e-25).float()  # squares of 1e-25 underflow in float32
    torch.testing.assert_close(l2_norm(tiny, convention).double(), expected, rtol=1e-5, atol=0)
    projected = project(tiny, 1e-26, convention)
    torch.testing.assert_close(
        l2_norm(projected, convention).flatten(), 1e-26 * unit_lengths(convention, 4), rtol=1e-5, atol=0
    )
    assert torch.equal(project(tiny, 1.0, convention), tiny)  # inside the ball: unchanged
    zero = torch.zeros(4, *SHAPE)
    assert torch.equal(project(zero, 0.0, convention), zero)
    assert torch.equal(project(tiny, 0.0, convention), zero)
