"""Where the paper is silent: each convention option (docs/conventions.md) against a known
answer worked out by hand, not by the code under test.

(a) the attack's BatchNorm mode and (d) the smoothness penalty's BatchNorm passes on a
one-layer BatchNorm model; (b) the random start's distribution; (c) the pixel box at
its corner; (e) the gradient-norm scale on a batch of 80; (f) the authors' resize order
on constant and checkerboard maps; (g) the authors' letter and Fig. 5's noise draws.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pags.alignment import metric_functions
from pags.attacks import pgd_l2
from pags.config import validated_config
from pags.datasets.distractor import letter_image, render_authors_letter, render_letter
from pags.errors import ConfigError
from pags.grid import format_strength
from pags.noise_robustness import masked_noise_change
from pags.objectives import make_objective
from pags.plan import Plan
from pags.resize import RESCALED_AFTER, gradient_for_alignment
from torch import nn
from workflow_helpers import TinyRun, tiny_config

BN_EPS = 1e-5  # torch's BatchNorm default


def batchnorm_linear(weight: torch.Tensor) -> nn.Module:
    """BN(x) without affine parameters, then the fixed linear map ``weight`` [C, D]."""
    model = nn.Sequential(nn.BatchNorm1d(weight.shape[1], affine=False), nn.Linear(weight.shape[1], len(weight)))
    model = model.double()
    with torch.no_grad():
        model[1].weight.copy_(weight)
        model[1].bias.zero_()
    return model


def batch(n=6, d=4, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = 0.3 + 0.4 * torch.rand(n, d, generator=g, dtype=torch.float64)
    y = torch.randint(0, classes, (n,), generator=g)
    w = torch.randn(classes, d, generator=g, dtype=torch.float64)
    return x, y, w


def softmax_minus_onehot(z: np.ndarray, w: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dCE/dz for logits w z: W^T (softmax - onehot), per example [N, D]."""
    logits = z @ w.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return p @ w


def unit_rows(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# ---- (a) BatchNorm mode during the attack ------------------------------------------


def test_attack_mode_known_first_steps_on_a_batchnorm_model():
    """One step from x, per image. eval: BN is x / sqrt(1 + eps) (initial running stats),
    so the step follows W^T (p - e_y). train: z = (x - mean) / sqrt(var + eps) over the
    batch, and the gradient is BatchNorm's backward, (g - mean(g) - z mean(g z)) / sigma
    per feature (Ioffe & Szegedy 2015)."""
    x, y, w = batch()
    xn, wn, yn = x.numpy(), w.numpy(), y.numpy()
    eval_grad = softmax_minus_onehot(xn / math.sqrt(1 + BN_EPS), wn, yn)
    sigma = np.sqrt(xn.var(0) + BN_EPS)
    z = (xn - xn.mean(0)) / sigma
    g = softmax_minus_onehot(z, wn, yn)
    train_grad = (g - g.mean(0) - z * (g * z).mean(0)) / sigma
    step = 0.05
    for mode, grad in (("eval", eval_grad), ("train", train_grad)):
        delta = pgd_l2(batchnorm_linear(w), x, y, 1.0, 1, step, 0, "per_example", mode=mode) - x
        np.testing.assert_allclose(delta.numpy(), step * unit_rows(grad), rtol=1e-9, atol=1e-12)
    # the two modes attack in different directions: the option matters
    assert (unit_rows(eval_grad) * unit_rows(train_grad)).sum(1).min() < 0.99


# ---- (b) the random start ------------------------------------------------------------


@pytest.mark.parametrize("start, expected_cosine", [("uniform", math.sqrt(3) / 2), ("gaussian", 0.0)])
def test_random_start_distribution(start, expected_cosine):
    """No step: x + the start. Its norm is random_start per image. Uniform noise in
    [0, 1)^D has all entries positive and cosine with the all-ones direction near
    E[u] / sqrt(E[u^2]) = (1/2) / sqrt(1/3) = sqrt(3)/2 (a brightness shift); a Gaussian
    direction's cosine is 0 with std 1/sqrt(D)."""
    x = torch.full((64, 3, 32, 32), 0.5)
    y = torch.zeros(64, dtype=torch.long)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2))
    g = torch.Generator().manual_seed(0)
    delta = (pgd_l2(model, x, y, 1.0, 0, 0.1, 0.4, "per_example", g, start=start, clamp=False) - x).flatten(1)
    torch.testing.assert_close(delta.norm(dim=1), torch.full((64,), 0.4), rtol=1e-5, atol=0)
    cosine = delta.sum(1) / delta.norm(dim=1) / math.sqrt(delta.shape[1])
    assert abs(cosine.mean().item() - expected_cosine) < 4 / math.sqrt(delta.shape[1]), cosine.mean()
    assert bool((delta > 0).all()) == (start == "uniform")


def test_batch_convention_scales_the_uniform_start_for_the_whole_batch():
    x, y = torch.full((8, 16), 0.5), torch.zeros(8, dtype=torch.long)
    g = torch.Generator().manual_seed(1)
    delta = pgd_l2(nn.Linear(16, 2), x, y, 1.0, 0, 0.1, 0.4, "batch", g, start="uniform", clamp=False) - x
    u = torch.rand((8, 16), generator=torch.Generator().manual_seed(1))  # the same draw
    torch.testing.assert_close(delta, 0.4 * u / u.norm())


# ---- (c) the pixel box ---------------------------------------------------------------


def test_pixel_box_at_its_corner():
    """x = 0, a corner of [0, 1]^D. Logits [0, w.x] with y = 1: the loss rises along -w,
    so one step is -step * w / ||w||. With w = (+1, -1, ...), clamping keeps the
    coordinates moving into the box (+step / sqrt(D)) and zeroes those moving out."""
    d, step = 8, 0.2
    w = torch.tensor([1.0, -1.0] * (d // 2))
    model = nn.Linear(d, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.stack([torch.zeros(d), w]))
    x, y = torch.zeros(1, d), torch.ones(1, dtype=torch.long)
    free = pgd_l2(model, x, y, 1.0, 1, step, 0, "per_example", clamp=False)
    boxed = pgd_l2(model, x, y, 1.0, 1, step, 0, "per_example", clamp=True)
    torch.testing.assert_close(free, -step * w.view(1, d) / math.sqrt(d))
    torch.testing.assert_close(boxed, (w < 0).float().view(1, d) * step / math.sqrt(d))


# ---- (d) the smoothness penalty's BatchNorm passes ------------------------------------


@pytest.mark.parametrize("passes", [1, 2])
def test_smoothness_batchnorm_passes_known_loss_and_running_mean(passes):
    """Noise n = std * randn from the generator, drawn first. One pass: BN normalises x and
    x + n with the statistics of both (biased variance), and the running mean moves once,
    0.1 * mean([x, x + n]). Two passes: each batch with its own, and the running mean
    moves twice: 0.9 * 0.1 * mean(x) + 0.1 * mean(x + n)."""
    x, y, w = batch(n=8, d=4)
    std, lam = 0.3, 2.0
    n = (std * torch.randn(x.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)).numpy()
    xn, wn = x.numpy(), w.numpy()

    def bn(v):
        return (v - v.mean(0)) / np.sqrt(v.var(0) + BN_EPS)

    if passes == 1:
        both = bn(np.concatenate([xn, xn + n]))
        clean, noisy = both[:8] @ wn.T, both[8:] @ wn.T
        running = 0.1 * np.concatenate([xn, xn + n]).mean(0)
    else:
        clean, noisy = bn(xn) @ wn.T, bn(xn + n) @ wn.T
        running = 0.9 * 0.1 * xn.mean(0) + 0.1 * (xn + n).mean(0)
    ce = F.cross_entropy(torch.from_numpy(clean), y).item()
    expected = ce + lam * ((noisy - clean) ** 2).sum(1).mean()
    model = batchnorm_linear(w).train()
    options = {"noise_std": std, "batchnorm_passes": passes}
    loss = make_objective("smooth", lam, options)(model, x, y, torch.Generator().manual_seed(5))
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(model[0].running_mean.numpy(), running, rtol=1e-10)


# ---- (e) the gradient-norm scale on a partial batch ----------------------------------


def test_gradient_norm_scale_on_a_batch_of_80():
    """The authors' penalty, 1e5 * ||grad_x of the batch-mean loss||^2 / b, computed here
    as they write it. With penalty_scale_batch 128 ours equals it on batches of 128 and
    80; without, the batch of 80 gets (80 / 128)^2 of it: their scale is 2.56x ours."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    lam, scale = 0.01, 1e5 / 128**2
    for b in (128, 80):
        g = torch.Generator().manual_seed(b)
        x = torch.rand(b, 12, generator=g, dtype=torch.float64).requires_grad_(True)
        y = torch.randint(0, 3, (b,), generator=g)
        ce = F.cross_entropy(model(x), y)
        (grad,) = torch.autograd.grad(ce, x)
        authors = ce.item() + lam * 1e5 * grad.pow(2).sum().item() / b
        ours = make_objective("gnorm", lam, {"penalty_scale": scale, "penalty_scale_batch": 128})
        fixed = make_objective("gnorm", lam, {"penalty_scale": scale})
        assert ours(model, x, y, g).item() == pytest.approx(authors, rel=1e-10)
        penalty_fixed = fixed(model, x, y, g).item() - ce.item()
        assert (authors - ce.item()) / penalty_fixed == pytest.approx((128 / b) ** 2, rel=1e-10)


# ---- the released CIFAR-10 training's accumulated attack gradients -------------------


def test_accumulated_attack_gradients_add_each_steps_parameter_gradient():
    """One attack step from x (no start): the attack's loss is taken at x, so with
    accumulation the parameter gradient is G(x_adv) + G(x), with G(v) = (p - e_y)^T v / B
    for logits W v, the batch-mean cross-entropy's gradient in W; the loss is unchanged."""
    x, y, w = batch(n=5, d=4)
    model = nn.Linear(4, 3, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(w)

    def weight_gradient(v):
        logits = v @ w.numpy().T
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(y)), y.numpy()] -= 1
        return p.T @ v / len(v)

    options = {"steps": 1, "step_size": 0.5, "random_start": 0, "eps_convention": "per_example"}
    results = {}
    for accumulate in (False, True):
        model.zero_grad()
        loss = make_objective("pgd", 0.2, {**options, "accumulate_attack_gradients": accumulate})(
            model, x, y, torch.Generator()
        )
        loss.backward()
        results[accumulate] = (loss.item(), model.weight.grad.numpy().copy())
    x_adv = pgd_l2(model, x, y, 0.2, 1, 0.1, 0, "per_example").numpy()
    np.testing.assert_allclose(results[False][1], weight_gradient(x_adv), rtol=1e-9)
    np.testing.assert_allclose(results[True][1], weight_gradient(x_adv) + weight_gradient(x.numpy()), rtol=1e-9)
    assert results[True][0] == pytest.approx(results[False][0], rel=1e-12)


# ---- (f) Fig. 4 right: resize and scale order -----------------------------------------


def test_scaled_aliased_on_a_constant_and_a_checkerboard_map():
    """A constant map c stays constant under bilinear resizing: c (units kept) where the
    metrics rescale after, sign(c) where the map is scaled first (the authors'). A +-1
    checkerboard sampled from 224 to 64 px lands at fractions 1/4 and 3/4 between pixels
    in each axis: 0.75 - 0.25 = 0.5 per axis, a peak of 0.25, never rescaled to 1."""
    constant = torch.full((1, 3, 224, 224), -3.0)
    for how in ("antialiased", "aliased"):
        torch.testing.assert_close(gradient_for_alignment(constant, 64, how), torch.full((1, 3, 64, 64), -3.0))
    torch.testing.assert_close(gradient_for_alignment(constant, 64, "scaled_aliased"), torch.full((1, 3, 64, 64), -1.0))
    i = torch.arange(224)
    board = (2.0 * ((i.view(-1, 1) + i.view(1, -1)) % 2) - 1).expand(1, 3, 224, 224) * 7
    resized = gradient_for_alignment(board, 64, "scaled_aliased")
    torch.testing.assert_close(resized.abs(), torch.full_like(resized, 0.25))
    assert RESCALED_AFTER == {"antialiased": True, "aliased": True, "scaled_aliased": False}


def test_metrics_take_the_gradient_as_it_is_without_rescaling():
    """SSIM of a map with itself is 1; with a quarter of it, taken as it is, less."""
    g = torch.Generator().manual_seed(0)
    score = torch.randn(2, 3, 16, 16, generator=g)
    quarter = 0.25 * score / score.flatten(1).abs().amax(1).view(-1, 1, 1, 1)
    rescaled = metric_functions(["ssim"])["ssim"](quarter, score)
    as_is = metric_functions(["ssim"], rescale_a=False)["ssim"](quarter, score)
    torch.testing.assert_close(rescaled, torch.ones(2), atol=1e-6, rtol=0)
    assert (as_is < 0.9).all(), as_is


# ---- (g) the authors' letter and Fig. 5's noise draws ---------------------------------

FREEMONO = Path("/usr/share/fonts/truetype/freefont/FreeMono.ttf")


def test_authors_letter_asset_ink_and_bounding_box():
    """The asset's known answers: 27741 / 255 = 108.79 pixels of ink (DejaVu Sans Bold's
    "A" has 130.24), inked rows 6 to 21 and columns 5 to 21 of 28."""
    a = letter_image("A", "freemono")
    assert a.shape == (1, 28, 28) and a.dtype == torch.uint8
    assert int(a.sum()) == 27741
    rows, cols = torch.nonzero(a[0], as_tuple=True)
    assert (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())) == (6, 21, 5, 21)
    dejavu = letter_image("A", "dejavu_sans_bold")
    assert torch.equal(dejavu, render_letter("A"))
    corr = np.corrcoef(a.flatten().double().numpy(), dejavu.flatten().double().numpy())[0, 1]
    assert corr < 0.9, corr  # the two glyphs differ: the option matters


@pytest.mark.skipif(not FREEMONO.exists(), reason="FreeMono is not installed (Debian: fonts-freefont-ttf)")
def test_authors_letter_asset_matches_a_rendering_made_the_authors_way():
    fresh = render_authors_letter(FREEMONO).flatten().double().numpy()
    asset = letter_image("A", "freemono").flatten().double().numpy()
    assert np.corrcoef(fresh, asset)[0, 1] >= 0.99


def test_the_config_check_refuses_another_letter_in_the_authors_font():
    config = tiny_config()
    config["distractor"].update(font="freemono", letter="B")
    with pytest.raises(ConfigError, match="distractor.font.*Fix"):
        validated_config(config)


def test_authors_letter_is_an_a_at_28_px_only():
    with pytest.raises(ValueError, match="distractor.font"):
        letter_image("B", "freemono")
    with pytest.raises(ValueError, match="distractor.font"):
        letter_image("A", "comic_sans")


def test_shared_noise_scales_with_std_and_independent_noise_does_not():
    """A model linear in the input with tiny weights: the softmax-L1 change is
    proportional to |w . (s m n)|. Shared draws make each image's change at std 2s twice
    that at s; independent draws do not (their ratios scatter around 2)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 2)).double()
    with torch.no_grad():
        model[1].weight.copy_(1e-4 * torch.randn(2, 8, generator=torch.Generator().manual_seed(0)))
    x = torch.rand(50, 1, 2, 4, dtype=torch.float64)
    masks = {"signal": torch.ones_like(x)}
    for shared in (True, False):
        g = torch.Generator().manual_seed(0)
        change = masked_noise_change(model, x, masks, [0.1, 0.2], g, shared=shared)["signal"]
        ratio = change[1] / change[0]
        if shared:
            torch.testing.assert_close(ratio, torch.full_like(ratio, 2.0), rtol=1e-4, atol=0)
        else:
            assert ratio.std() > 0.5, ratio


# ---- the options reach the jobs' params only where they change something -------------


def test_options_enter_params_only_when_set():
    """An option left out is no param (the jobs of configs written before it are not
    rerun); set, it is one of the jobs it changes."""
    config = tiny_config()
    plan = Plan(validated_config(copy.deepcopy(config)))
    assert plan.distractor_letter() == "A" and plan.noise_draws(TinyRun.dataset) == 1
    w = SimpleNamespace(dataset=TinyRun.dataset, objective="pgd", strength=format_strength([1, 4, 8]), seed=0)
    left_out = plan.train_hparams(w)
    # set to what leaving them out means: the same params
    same = copy.deepcopy(config)
    same["distractor"].update(font="dejavu_sans_bold")
    same["distractor"]["noise_robustness"]["shared_noise"] = True
    same["distractor"]["objectives"]["pgd"].update(
        attack_mode="eval", random_start_noise="gaussian", clamp_pixels=True, accumulate_attack_gradients=False
    )
    same_plan = Plan(validated_config(same))
    assert same_plan.train_hparams(w) == left_out
    assert same_plan.distractor_letter() == "A" and same_plan.noise_draws(TinyRun.dataset) == 1
    d = config["distractor"]
    d["font"] = "freemono"
    d["noise_robustness"]["shared_noise"] = False
    d["objectives"]["pgd"]["clamp_pixels"] = False
    plan = Plan(validated_config(config))
    assert plan.distractor_letter() == {"letter": "A", "font": "freemono"}
    assert plan.noise_draws(TinyRun.dataset) == {"draws": 1, "shared": False}
    assert plan.train_hparams(w)["objective_options"] == {**left_out["objective_options"], "clamp_pixels": False}
