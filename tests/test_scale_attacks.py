"""L2 PGD's lengths in input space against answers derived by hand: the random start's
norm, the projection onto the ball, the batch-shared ball (eps / sqrt(B) per image for B
identical images), clipping to [0, 1], and the norms they are measured with."""

import math

import pytest
import torch
from pags.attacks import cross_entropy_sum, pgd_l2, project
from pags.norms import l2_norm, max_abs, unit_direction
from torch import nn

F64 = torch.float64


def constant_model():
    """Logits that do not depend on x: every attack step has a zero gradient."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 3)).double()
    with torch.no_grad():
        model[1].weight.zero_()
    return model


def two_class_linear(seed=0):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 2)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(2, 6, generator=g, dtype=F64))
    return model


def interior(n, seed=0):
    """Pixels in [0.4, 0.6]: a perturbation of L2 norm <= 0.4 is never clipped."""
    g = torch.Generator().manual_seed(seed)
    return 0.4 + 0.2 * torch.rand(n, 1, 2, 3, generator=g, dtype=F64), torch.randint(2, (n,), generator=g)


def norms(delta):
    return delta.flatten(1).norm(dim=1)


@pytest.mark.parametrize("convention", ["per_example", "batch"])
def test_the_random_start_has_norm_random_start(convention):
    x, y = interior(5)
    g = torch.Generator().manual_seed(0)
    delta = pgd_l2(constant_model(), x, y, 1.0, 2, 0.1, 0.3, convention, g) - x
    if convention == "per_example":
        assert torch.allclose(norms(delta), torch.full((5,), 0.3, dtype=F64), rtol=1e-12)
    else:
        assert math.isclose(delta.norm().item(), 0.3, rel_tol=1e-12)
        assert norms(delta).max() < 0.3  # shared by the batch: no image gets all of it


def test_a_random_start_outside_the_ball_is_projected_onto_it():
    x, y = interior(4)
    delta = pgd_l2(constant_model(), x, y, 0.2, 1, 0.1, 0.5, "per_example", torch.Generator().manual_seed(0)) - x
    assert torch.allclose(norms(delta), torch.full((4,), 0.2, dtype=F64), rtol=1e-12)


@pytest.mark.parametrize("batch", [1, 4, 9])
def test_identical_images_share_the_batch_ball_equally(batch):
    """B copies of one image under the batch convention: each gets eps / sqrt(B), along
    the same direction as the per-example attack, which gets eps."""
    model = two_class_linear()
    x, y = interior(1)
    xs, ys = x.expand(batch, -1, -1, -1), y.expand(batch)
    eps = 0.3
    shared = pgd_l2(model, xs, ys, eps, 4, 0.2, 0, "batch") - xs
    own = pgd_l2(model, xs, ys, eps, 4, 0.2, 0, "per_example") - xs
    assert torch.allclose(norms(own), torch.full((batch,), eps, dtype=F64), rtol=1e-12)
    assert torch.allclose(shared, own / math.sqrt(batch), rtol=1e-10)


def test_steps_are_clipped_to_the_image_domain():
    """White images attacked along d: x_adv = clamp(1 + eps d, 0, 1) after one full step."""
    model = two_class_linear()
    x = torch.ones(3, 1, 2, 3, dtype=F64)
    y = torch.tensor([0, 1, 0])
    w = model[1].weight.detach()
    d = unit_direction((w[1 - y] - w[y]).view_as(x), "per_example")
    x_adv = pgd_l2(model, x, y, 0.5, 1, 0.5, 0, "per_example")
    assert torch.allclose(x_adv, (x + 0.5 * d).clamp(0, 1), rtol=1e-12)
    assert (x_adv < 1).any() and (x_adv == 1).any()


@pytest.mark.parametrize("convention", ["per_example", "batch"])
def test_project_scales_only_what_lies_outside_the_ball(convention):
    delta = torch.tensor([[3.0, 4.0], [0.3, 0.4]], dtype=F64)  # norms 5 and 0.5; together sqrt(25.25)
    out = project(delta, 1.0, convention)
    if convention == "per_example":
        assert torch.allclose(out, torch.tensor([[0.6, 0.8], [0.3, 0.4]], dtype=F64), rtol=1e-12)
    else:
        assert torch.allclose(out, delta / math.sqrt(25.25), rtol=1e-12)
    assert torch.equal(project(delta, 10.0, convention), delta)


def test_norms_and_peaks_per_image_and_for_the_batch():
    delta = torch.tensor([[[3.0, -4.0]], [[0.0, 12.0]]], dtype=F64)  # [2, 1, 2]
    assert torch.equal(l2_norm(delta, "per_example").flatten(), torch.tensor([5.0, 12.0], dtype=F64))
    assert l2_norm(delta, "per_example").shape == (2, 1, 1)
    assert torch.isclose(l2_norm(delta, "batch"), torch.tensor(13.0, dtype=F64))
    assert torch.equal(max_abs(delta, "per_example").flatten(), torch.tensor([4.0, 12.0], dtype=F64))
    assert max_abs(delta, "batch").item() == 12.0
    unit = unit_direction(delta, "per_example")
    assert torch.allclose(unit, torch.tensor([[[0.6, -0.8]], [[0.0, 1.0]]], dtype=F64), rtol=1e-12)
    assert torch.allclose(unit_direction(delta, "batch"), delta / 13, rtol=1e-12)


def test_the_attack_loss_is_a_sum_over_the_batch():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=F64)
    y = torch.tensor([0, 0])
    expected = math.log(1 + math.exp(-2)) + math.log(1 + math.exp(1))
    assert math.isclose(cross_entropy_sum(logits, y).item(), expected, rel_tol=1e-12)


class CountingModel(nn.Module):
    """A linear model that counts its forward passes."""

    def __init__(self):
        super().__init__()
        self.inner, self.calls = two_class_linear(), 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_a_zero_eps_attack_runs_no_forward_pass():
    model = CountingModel()
    x, y = interior(3)
    assert torch.equal(pgd_l2(model, x, y, 0.0, 5, 0.1, 0.1, "per_example", torch.Generator()), x)
    assert model.calls == 0
    pgd_l2(model, x, y, 0.1, 5, 0.1, 0.1, "per_example", torch.Generator())
    assert model.calls == 5


def test_an_attack_without_random_start_draws_no_random_numbers():
    """The training generator's later draws must not depend on whether PGD started at x."""
    g = torch.Generator().manual_seed(0)
    before = g.get_state()
    x, y = interior(3)
    pgd_l2(two_class_linear(), x, y, 0.1, 2, 0.1, 0.0, "per_example", g)
    assert torch.equal(g.get_state(), before)


@pytest.mark.parametrize("convention", ["per_example", "batch"])
def test_the_random_start_is_the_generators_draw_scaled_and_clipped(convention):
    """x + r n / ||n|| (per image or for the batch), n the generator's first standard normal
    draw, clipped to [0, 1]: with zero steps the attack returns exactly that."""
    x, y = interior(4)
    x[:, :, 0] = 0.99  # a row near white, where the start is clipped
    n = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=F64)
    norm = norms(n).view(-1, 1, 1, 1) if convention == "per_example" else n.norm()
    expected = (x + 0.3 * n / norm).clamp(0, 1)
    got = pgd_l2(constant_model(), x, y, 1.0, 0, 0.1, 0.3, convention, torch.Generator().manual_seed(3))
    assert torch.allclose(got, expected, rtol=1e-12)
    assert (got == 1).any()
