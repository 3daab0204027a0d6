"""The training objectives' scales, each against an answer derived by hand: the PGD
objective's step and start as fractions of eps (paper: 10 steps of 2 eps / 10 from a start
of norm eps / 2), the gradient-norm penalty's batch reduction and the authors' convention,
the smoothness penalty's noise std, and TRADES's KL direction and batch mean."""

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from pags.objectives import get_spec, make_objective
from pags.objectives import pgd as pgd_module
from pags.objectives import trades as trades_module
from pags.objectives.trades import kl_from
from torch import nn

F64 = torch.float64
D = 8


def two_class_linear(seed=0):
    """logits = W x + b on flattened [1, 2, 4] images; the cross-entropy's input gradient
    of image i points along w_other - w_label whatever x is, so an L2 attack's steps are
    straight lines."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, 2)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(2, D, generator=g, dtype=F64))
        model[1].bias.zero_()
    return model


def interior_images(n, seed=0):
    """Pixels in [0.45, 0.55]: a perturbation of L2 norm <= 0.3 moves no pixel out of [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return 0.45 + 0.1 * torch.rand(n, 1, 2, 4, generator=g, dtype=F64), torch.randint(2, (n,), generator=g)


def attack_direction(model, y):
    """Unit vector per image along which the cross-entropy grows fastest: w_other - w_label."""
    w = model[1].weight.detach()
    d = w[1 - y] - w[y]
    return d / d.norm(dim=1, keepdim=True)


def attack_arguments(function, args, kwargs, *names):
    """The arguments ``names`` of a call ``function(*args, **kwargs)``, by name."""
    bound = inspect.signature(function).bind(*args, **kwargs)
    return {name: bound.arguments[name] for name in names}


def loss_at(model, x, y):
    return F.cross_entropy(model(x), y)


def test_pgd_defaults_are_the_papers_ten_steps_of_two_tenths_eps_from_half_eps():
    options = get_spec("pgd").options
    assert options["steps"]["default"] == 10
    assert math.isclose(options["step_size"]["default"], 2 / 10)
    assert math.isclose(options["random_start"]["default"], 1 / 2)


def test_trades_defaults_are_pgds_steps_from_zhang_et_als_start():
    """10 steps of 2 eps / 10, as PGD; a start of 0.1 eps (Zhang et al.: 0.001 per pixel,
    0.11 eps at their eps 0.5 on CIFAR-10)."""
    options = get_spec("trades").options
    assert options["steps"]["default"] == 10
    assert math.isclose(options["step_size"]["default"], 2 / 10)
    assert math.isclose(options["random_start"]["default"], 0.1)


def test_penalty_defaults_are_the_papers_noise_std_and_the_plain_batch_mean():
    """smooth: noise std 0.1 (the paper); gnorm: penalty_scale 1, lambda times the batch
    mean itself (the authors' axis needs 1e5 / B^2, set explicitly)."""
    assert get_spec("smooth").options["noise_std"]["default"] == 0.1
    assert get_spec("gnorm").options["penalty_scale"]["default"] == 1.0


@pytest.mark.parametrize("eps", [0.1, 1.5])
def test_pgd_objective_takes_one_step_of_step_size_times_eps(eps):
    """One step without a random start: x_adv = x + 0.2 eps d, d the unit attack direction
    (inside the ball, so no projection), and the objective is the cross-entropy there."""
    model = two_class_linear()
    x, y = interior_images(6)
    options = {"steps": 1, "step_size": 0.2, "random_start": 0.0, "eps_convention": "per_example"}
    loss = make_objective("pgd", eps, options)(model, x, y, torch.Generator())
    x_adv = x + 0.2 * eps * attack_direction(model, y).view_as(x)
    assert torch.allclose(loss, loss_at(model, x_adv, y), rtol=1e-10)
    assert not torch.allclose(loss, loss_at(model, x + 0.2 * attack_direction(model, y).view_as(x), y))


def test_pgd_objective_ends_on_the_eps_sphere_after_enough_steps():
    """Three steps of 0.5 eps along a fixed direction overshoot the ball: projected back,
    x_adv = x + eps d."""
    model = two_class_linear()
    x, y = interior_images(6)
    eps = 0.25
    options = {"steps": 3, "step_size": 0.5, "random_start": 0.0, "eps_convention": "per_example"}
    loss = make_objective("pgd", eps, options)(model, x, y, torch.Generator())
    assert torch.allclose(loss, loss_at(model, x + eps * attack_direction(model, y).view_as(x), y), rtol=1e-10)


def test_pgd_objective_passes_eps_fractions_as_lengths_to_the_attack(monkeypatch):
    """The attack gets absolute lengths: step_size * eps and random_start * eps, and the
    objective's eps drawn from its strengths."""
    seen = {}
    real = pgd_module.pgd_l2

    def spy(*args, **kwargs):
        seen.update(attack_arguments(real, args, kwargs, "eps", "steps", "step_size", "random_start", "convention"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pgd_module, "pgd_l2", spy)
    model = two_class_linear()
    x, y = interior_images(4)
    options = {"steps": 2, "step_size": 0.2, "random_start": 0.5, "eps_convention": "batch"}
    make_objective("pgd", 0.3, options)(model, x, y, torch.Generator().manual_seed(0))
    assert seen == pytest.approx(
        {"eps": 0.3, "steps": 2, "step_size": 0.06, "random_start": 0.15, "convention": "batch"}
    )


def test_gnorm_penalty_is_a_batch_mean_times_lambda_and_scale():
    """Four copies of one image give the penalty of the one image (a mean, not a sum), and
    the penalty grows linearly with lambda * penalty_scale."""
    model = two_class_linear()
    x, y = interior_images(1)
    ce = loss_at(model, x, y)
    p = model(x).softmax(-1)
    grad = (p - F.one_hot(y, 2).double()) @ model[1].weight  # d l / dx of a linear model
    one = make_objective("gnorm", 0.5, {"penalty_scale": 3.0})(model, x, y, torch.Generator())
    assert torch.allclose(one, ce + 0.5 * 3.0 * grad.pow(2).sum(), rtol=1e-10)
    four = make_objective("gnorm", 0.5, {"penalty_scale": 3.0})(model, x.expand(4, -1, -1, -1), y.expand(4), None)
    assert torch.allclose(four, one, rtol=1e-10)


def test_gnorm_with_the_authors_scale_reproduces_their_penalty():
    """Their penalty: 1e5 * ||grad_x of the batch-mean loss||^2 / B; ours with
    penalty_scale = 1e5 / B^2 is the same number."""
    model = two_class_linear()
    x, y = interior_images(5)
    B = len(x)
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_at(model, xr, y), xr)
    theirs = loss_at(model, x, y) + 0.01 * 1e5 * grad.pow(2).sum() / B
    ours = make_objective("gnorm", 0.01, {"penalty_scale": 1e5 / B**2})(model, x, y, torch.Generator())
    assert torch.allclose(ours, theirs, rtol=1e-10)


def test_smooth_penalty_has_the_expected_size_of_its_noise_std():
    """For logits W x, f(x + e) - f(x) = W e with e ~ N(0, s^2 I): the penalty's mean is
    s^2 ||W||_F^2, whatever the draw order (many images average it)."""
    model = two_class_linear()
    x, y = interior_images(4000)
    s, lam = 0.1, 2.0
    loss = make_objective("smooth", lam, {"noise_std": s})(model, x, y, torch.Generator().manual_seed(0))
    penalty = (loss - loss_at(model, x, y)) / lam
    expected = s**2 * model[1].weight.pow(2).sum()
    assert abs(penalty / expected - 1) < 0.05  # 4000 draws of a chi-square-like sum: ~2% s.d.


def test_randsmooth_noise_has_std_sigma():
    """The randomised-smoothing loss equals the cross-entropy at x + sigma n for the
    generator's standard normal draw n, and not at x + n."""
    model = two_class_linear()
    x, y = interior_images(6)
    sigma = 0.3
    loss = make_objective("randsmooth", sigma, {})(model, x, y, torch.Generator().manual_seed(1))
    n = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
    assert torch.allclose(loss, loss_at(model, x + sigma * n, y), rtol=1e-10)


def test_kl_from_is_the_sum_of_kl_of_the_fixed_distribution_to_the_logits():
    """KL(p || q) = sum_k p_k log(p_k / q_k), summed over the batch, p first (KL is not
    symmetric: the reverse direction gives another number here)."""
    p = torch.tensor([[0.98, 0.01, 0.01], [0.1, 0.1, 0.8]], dtype=F64)
    logits = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], dtype=F64)
    q = logits.softmax(-1)
    forward = (p * (p / q).log()).sum()
    reverse = (q * (q / p).log()).sum()
    assert torch.allclose(kl_from(p.log(), logits), forward, rtol=1e-12)
    assert not torch.allclose(forward, reverse, rtol=1e-2)


def test_trades_adds_beta_times_the_batch_mean_kl_at_the_attacks_point(monkeypatch):
    """loss = CE(f(x), y) + beta * mean_i KL(f(x_i) || f(x_adv,i)); the attack gets per-example
    balls of radius eps, steps of step_size * eps from a start of random_start * eps."""
    seen = {}
    real = trades_module.pgd_l2

    def spy(*args, **kwargs):
        seen.update(
            attack_arguments(real, args, kwargs, "eps", "steps", "step_size", "random_start", "convention", "loss")
        )
        seen["x_adv"] = real(*args, **kwargs)
        return seen["x_adv"]

    monkeypatch.setattr(trades_module, "pgd_l2", spy)
    model = two_class_linear()
    x, y = interior_images(5)
    options = {"eps": 0.25, "steps": 2, "step_size": 0.2, "random_start": 0.1}
    loss = make_objective("trades", 3.0, options)(model, x, y, torch.Generator().manual_seed(0))
    assert {k: v for k, v in seen.items() if k not in ("x_adv", "loss")} == pytest.approx(
        {"eps": 0.25, "steps": 2, "step_size": 0.05, "random_start": 0.025, "convention": "per_example"}
    )
    p, q = model(x).softmax(-1), model(seen["x_adv"]).softmax(-1)
    kl = (p * (p / q).log()).sum(1)
    assert kl.min() > 0  # the attack moved every image
    assert torch.allclose(loss, loss_at(model, x, y) + 3.0 * kl.mean(), rtol=1e-10)
    # the attack maximises KL(f(x) || f(x + delta)): zero at x, positive where it ended
    target = seen["loss"]
    assert target(model(x), y).abs() < 1e-12 and target(model(seen["x_adv"]), y) > 0


class CountingModel(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_trades_with_beta_zero_is_cross_entropy_without_an_attack():
    model = CountingModel(two_class_linear())
    x, y = interior_images(4)
    options = {"eps": 0.25, "steps": 3, "step_size": 0.2, "random_start": 0.1}
    loss = make_objective("trades", 0.0, options)(model, x, y, torch.Generator())
    assert model.calls == 1 and torch.equal(loss, loss_at(model.inner, x, y))
    beta_one = make_objective("trades", 1.0, options)(model, x, y, torch.Generator().manual_seed(0))
    assert beta_one > loss_at(model.inner, x, y)  # beta 1 adds its KL term


@pytest.mark.parametrize(
    ("name", "options", "passes"),
    [
        ("standard", {}, 1),  # forward and backward
        ("randsmooth", {}, 1),  # the same, at noised inputs
        ("smooth", {}, 2),  # the clean and the noisy batch in one pass
        ("gnorm", {}, 3),  # and the backward of the backward
        ("pgd", {"steps": 10}, 11),  # every attack step a forward and backward, then the training step
        ("trades", {"steps": 10}, 10 + 2 + 1 / 3),  # the clean target pass, the attack, a double-size batch
    ],
)
def test_step_costs_count_forward_and_backward_passes(name, options, passes):
    assert get_spec(name).step_cost(options) == pytest.approx(passes)


def objective_errors(entry):
    """The schema's complaints about one ``objectives:`` entry (none if valid)."""
    import jsonschema
    from pags.schema import config_schema

    schema = config_schema()
    validator = jsonschema.Draft202012Validator({"$defs": schema["$defs"], **schema["$defs"]["objectives"]})
    return [e.message for e in validator.iter_errors(entry)]


def test_a_pgd_random_start_of_zero_means_none_and_trades_needs_one():
    pgd = {"grid": [1.0], "eps_convention": "per_example"}
    assert objective_errors({"pgd": {**pgd, "random_start": 0}}) == []
    assert objective_errors({"pgd": {**pgd, "random_start": -0.1}})
    assert objective_errors({"pgd": {**pgd, "steps": 1}}) == []  # a one-step attack is an attack
    assert objective_errors({"pgd": {**pgd, "steps": 0}})
    assert objective_errors({"trades": {"grid": [1.0], "eps": 0.5, "random_start": 0.05, "steps": 1}}) == []
    assert objective_errors({"trades": {"grid": [1.0], "eps": 0.5, "random_start": 0}})
