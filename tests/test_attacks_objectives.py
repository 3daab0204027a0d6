"""L2 PGD under both eps conventions, and the training objectives built on it."""

import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from pags.attacks import l2_norm, pgd_l2
from pags.checkpoint import Checkpoint
from pags.datasets import ImageSplit
from pags.models import build_model
from pags.objectives import make_objective
from pags.objectives.pgd import PGD
from pags.objectives.spec import draw
from pags.objectives.standard import Standard
from pags.train import TrainSettings, train_loop
from torch import nn

PGD_OPTIONS = {"steps": 5, "step_size": 0.5, "random_start": 0.5, "eps_convention": "per_example"}


def linear_model(in_features=16, classes=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(in_features, classes))


def interior_batch(n=8, seed=0, classes=3):
    """Images in [0.3, 0.7], so a perturbation of L2 norm <= 0.2 is never clipped."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 + 0.4 * torch.rand(n, 1, 4, 4, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return x, y


def per_image_loss(model, x, y):
    return F.cross_entropy(model(x), y, reduction="none")


@pytest.mark.parametrize("convention", ["per_example", "batch"])
def test_pgd_stays_in_eps_ball_and_image_domain(convention):
    model = linear_model()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 1, 4, 4, generator=g)  # many pixels near 0 and 1, so clipping matters
    y = torch.randint(0, 3, (32,), generator=g)
    eps = 1.5
    x_adv = pgd_l2(model, x, y, eps, steps=10, step_size=0.5, random_start=eps, convention=convention, generator=g)
    delta = x_adv - x
    if convention == "per_example":
        assert (delta.flatten(1).norm(dim=1) <= eps + 1e-5).all()
    else:
        assert delta.norm() <= eps + 1e-5
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert delta.abs().max() > 0


@pytest.mark.parametrize("convention", ["per_example", "batch"])
def test_pgd_increases_the_loss(convention):
    model = linear_model()
    x, y = interior_batch(n=16)
    x_adv = pgd_l2(model, x, y, eps=0.2, steps=10, step_size=0.05, random_start=0, convention=convention)
    assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y) + 1e-3


def test_one_pgd_step_increases_every_images_loss():
    # Cross-entropy of a linear model is convex in the input, so one unclipped step along
    # each image's own gradient must raise each image's loss.
    model = linear_model()
    x, y = interior_batch(n=16)
    x_adv = pgd_l2(model, x, y, eps=0.2, steps=1, step_size=0.2, random_start=0, convention="per_example")
    assert (per_image_loss(model, x_adv, y) > per_image_loss(model, x, y)).all()
    assert torch.allclose(l2_norm(x_adv - x, "per_example").flatten(), torch.full((16,), 0.2), atol=1e-6)


def test_a_step_inside_the_ball_is_not_stretched_to_its_boundary():
    model = linear_model()
    x, y = interior_batch(n=16)
    x_adv = pgd_l2(model, x, y, eps=0.2, steps=1, step_size=0.05, random_start=0, convention="per_example")
    assert torch.allclose(l2_norm(x_adv - x, "per_example").flatten(), torch.full((16,), 0.05), atol=1e-6)


def test_pgd_finds_the_optimal_attack_on_a_two_class_linear_model():
    # For logits W x with two classes the worst L2 perturbation of radius eps is
    # -eps * (w_y - w_other) / ||w_y - w_other||, whatever x is.
    model = linear_model(classes=2)
    x, y = interior_batch(n=8, classes=2)
    w = model[1].weight.detach()
    direction = (w[y] - w[1 - y]).view(-1, 1, 4, 4)
    expected = -0.2 * direction / direction.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    x_adv = pgd_l2(model, x, y, eps=0.2, steps=3, step_size=0.1, random_start=0, convention="per_example")
    assert torch.allclose(x_adv - x, expected, atol=1e-6)


def test_batch_convention_shares_eps_across_the_batch():
    model = linear_model()
    x, y = interior_batch(n=64)
    eps = 0.2
    x_adv = pgd_l2(model, x, y, eps, steps=5, step_size=0.1, random_start=0, convention="batch")
    per_image = (x_adv - x).flatten(1).norm(dim=1)
    assert torch.isclose((x_adv - x).norm(), torch.tensor(eps), atol=1e-6)  # on the boundary: nothing clipped
    # Squared per-image norms sum to eps^2, so their RMS is eps / sqrt(B) = eps / 8.
    assert torch.isclose(per_image.pow(2).mean().sqrt(), torch.tensor(eps / 8), atol=1e-6)
    assert per_image.max() < eps / 2


def test_pgd_with_zero_eps_returns_the_input():
    model = linear_model()
    x, y = interior_batch()
    assert torch.equal(pgd_l2(model, x, y, 0.0, 10, 0.1, 0.1, "per_example"), x)


def test_pgd_random_start_is_deterministic_given_the_generator():
    model = linear_model()
    x, y = interior_batch()

    def attack(seed):
        g = torch.Generator().manual_seed(seed)
        return pgd_l2(model, x, y, 0.2, 2, 0.05, 0.2, "per_example", generator=g)

    assert torch.equal(attack(1), attack(1))
    assert not torch.equal(attack(1), attack(2))


def batchnorm_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3))


def test_pgd_restores_training_mode_and_leaves_batchnorm_statistics_alone():
    model = batchnorm_model().train()
    x, y = interior_batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pgd_l2(model, x, y, 0.2, 3, 0.1, 0.1, "per_example", mode="eval")
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("was_training", [True, False])
def test_pgd_in_train_mode_updates_batchnorm_statistics_once_per_step(was_training):
    model = batchnorm_model().train(was_training)
    x, y = interior_batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pgd_l2(model, x, y, 0.2, 3, 0.1, 0.1, "per_example", mode="train")
    assert model.training == was_training
    after = model.state_dict()
    assert not torch.equal(after["1.running_mean"], before["1.running_mean"])
    assert not torch.equal(after["1.running_var"], before["1.running_var"])
    assert after["1.num_batches_tracked"].item() == 3  # one forward pass per attack step
    for k in ("0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"):
        assert torch.equal(after[k], before[k]), k  # the attack moves no parameter


def test_pgd_in_train_mode_attacks_the_batch_normalised_model():
    # With batch statistics the first step follows the gradient of the train-mode
    # network, which differs from the eval-mode one's while running stats are at their
    # initial values (mean 0, var 1) and the batch's are not.
    x, y = interior_batch(n=16)
    steps = {
        mode: pgd_l2(batchnorm_model(), x, y, 0.2, 1, 0.05, 0, "per_example", mode=mode) - x
        for mode in ("eval", "train")
    }
    assert not torch.allclose(steps["eval"], steps["train"])
    model = batchnorm_model().train()
    delta = torch.zeros_like(x, requires_grad=True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x + delta), y, reduction="sum"), delta)
    expected = 0.05 * grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    assert torch.allclose(steps["train"], expected, atol=1e-6)


def test_unknown_attack_mode_is_rejected():
    x, y = interior_batch()
    with pytest.raises(ValueError, match="attack mode"):
        pgd_l2(linear_model(), x, y, 0.2, 1, 0.1, 0, "per_example", mode="inference")
    with pytest.raises(ValueError, match="attack_mode"):
        make_objective("pgd", 0.2, {**PGD_OPTIONS, "attack_mode": "inference"})


def train_with_pgd(attack_mode, seed=0):
    """One epoch of PGD training of a small BatchNorm CNN; the final state dict."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (48, 1, 8, 8), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 2, (48,), generator=g)
    settings = TrainSettings(
        epochs=1,
        batch_size=16,
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        milestones=(),
        gamma=0.1,
        augment="none",
        amp=False,
    )
    torch.manual_seed(seed)
    model = build_model("small_cnn", 1, 2, width=4)
    objective = make_objective("pgd", [0.5, 1.0], {**PGD_OPTIONS, "steps": 2, "attack_mode": attack_mode})
    with tempfile.TemporaryDirectory() as folder:
        train_loop(
            model,
            objective,
            ImageSplit(x, y),
            settings,
            torch.Generator().manual_seed(seed),
            Checkpoint(Path(folder) / "ckpt.pt", "code 0", f"pgd-{attack_mode}"),
            torch.device("cpu"),
            progress_seconds=None,
        )
    return model.state_dict()


def test_pgd_training_in_train_mode_is_deterministic_given_the_seed():
    first, again, evaluated = train_with_pgd("train"), train_with_pgd("train"), train_with_pgd("eval")
    assert first.keys() == again.keys()
    for k in first:
        assert torch.equal(first[k], again[k]), k
    # the attack's batches moved the BatchNorm statistics: the two modes train different models
    assert first["1.num_batches_tracked"].item() == 3 * 3  # 3 batches, 2 attack steps + 1 training pass each
    assert evaluated["1.num_batches_tracked"].item() == 3
    assert not torch.equal(first["1.running_mean"], evaluated["1.running_mean"])


def test_unknown_eps_convention_is_rejected():
    with pytest.raises(ValueError, match="eps convention"):
        l2_norm(torch.ones(2, 3), "per_pixel")


def test_draw_picks_each_listed_value_and_only_those():
    g = torch.Generator().manual_seed(0)
    values = [1.0, 4.0, 8.0]
    drawn = [draw(values, g) for _ in range(200)]
    assert set(drawn) == set(values)


def test_draw_is_reproducible_and_single_values_consume_no_randomness():
    a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert [draw([1.0, 2.0, 3.0], a) for _ in range(20)] == [draw([1.0, 2.0, 3.0], b) for _ in range(20)]
    state = a.get_state()
    assert draw([7.0], a) == 7.0
    assert torch.equal(a.get_state(), state)


def test_make_objective_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown objective 'no_such_objective'"):
        make_objective("no_such_objective", 1.0, {})


def test_standard_objective_is_cross_entropy():
    model = linear_model()
    x, y = interior_batch()
    objective = make_objective("standard", 0, {})
    assert isinstance(objective, Standard)
    assert torch.equal(objective(model, x, y, torch.Generator()), F.cross_entropy(model(x), y))


def test_make_objective_builds_pgd_with_all_listed_strengths():
    objective = make_objective("pgd", [1, 4, 8], PGD_OPTIONS)
    assert objective == PGD(
        strengths=[1.0, 4.0, 8.0], steps=5, step_size=0.5, random_start=0.5, eps_convention="per_example"
    )
    assert objective.attack_mode == "eval"  # the key is optional: models trained without it keep their params
    assert make_objective("pgd", 1, {**PGD_OPTIONS, "attack_mode": "train"}).attack_mode == "train"


def test_pgd_objective_is_at_least_the_clean_loss():
    model = linear_model()
    x, y = interior_batch(n=16)
    objective = make_objective("pgd", 0.2, {**PGD_OPTIONS, "random_start": 0.0})
    assert objective(model, x, y, torch.Generator().manual_seed(0)) > F.cross_entropy(model(x), y)
