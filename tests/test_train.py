"""The training loop: learning, exact resumption from checkpoints, divergence, and ``fit``."""

import dataclasses
import math

import pytest
import torch
from pags.checkpoint import Checkpoint
from pags.datasets import ImageSplit
from pags.errors import TrainingDiverged
from pags.io import load_torch
from pags.models import build_model
from pags.objectives import make_objective
from pags.optim import LossSum
from pags.train import TrainSettings, TrainStep, fit, train_loop

CPU = torch.device("cpu")
SETTINGS = TrainSettings(
    epochs=3,
    batch_size=16,
    lr=0.1,
    momentum=0.9,
    weight_decay=5e-4,
    milestones=(2,),
    gamma=0.1,
    augment="none",
    amp=False,
)
PGD_OPTIONS = {"steps": 2, "step_size": 0.5, "random_start": 0.5, "eps_convention": "per_example"}


def two_class_split(n=64, seed=0):
    """Class 1 has a bright top half, class 0 a bright bottom half, plus noise: easy to learn."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randint(0, 80, (n, 1, 8, 8), generator=g)
    top = (y == 1).view(n, 1, 1, 1)
    x[:, :, :4] += torch.where(top, 150, 0)
    x[:, :, 4:] += torch.where(top, 0, 150)
    return ImageSplit(x.to(torch.uint8), y)


def tiny_cnn(seed=0):
    torch.manual_seed(seed)
    return build_model("small_cnn", 1, 2, width=4)


def ckpt(path, values="run"):
    """A checkpoint of the job with these values (and a fixed code, no input files)."""
    return Checkpoint(path, code="code 0", values=values)


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


class FailAtCall:
    """Wraps an objective; on call number ``at`` (1-based) it returns ``value`` or raises."""

    def __init__(self, objective, at, value=None):
        self.objective, self.at, self.value, self.calls = objective, at, value, 0

    def __call__(self, model, x, y, generator):
        self.calls += 1
        if self.calls == self.at:
            if self.value is None:
                raise KeyboardInterrupt("simulated kill")
            return torch.tensor(self.value, requires_grad=True)
        return self.objective(model, x, y, generator)


def without_timing(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


def test_training_reduces_the_loss_and_follows_the_schedule(tmp_path):
    model = tiny_cnn()
    history, resumed_after = train_loop(
        model,
        make_objective("standard", 0, {}),
        two_class_split(),
        SETTINGS,
        generator(),
        ckpt(tmp_path / "ckpt.pt", "run"),
        CPU,
    )
    assert resumed_after == 0
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert [h["lr"] for h in history] == pytest.approx([0.1, 0.1, 0.01])
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]
    checkpoint = load_torch(tmp_path / "ckpt.pt")
    assert checkpoint["state"]["epoch"] == 3 and checkpoint["identity"] == ckpt(tmp_path / "ckpt.pt").identity


@pytest.mark.parametrize("interrupted_epoch", [1, 2])
def test_resumed_run_ends_with_exactly_the_uninterrupted_weights(tmp_path, interrupted_epoch):
    # Augmentation, eps draws and PGD random starts all consume the generator, so an exact
    # match needs the model, optimizer, schedule and generator state all restored.
    settings = dataclasses.replace(SETTINGS, augment="crop_flip")
    objective = make_objective("pgd", [0.5, 1.0], PGD_OPTIONS)
    data = two_class_split()
    batches_per_epoch = len(data) // settings.batch_size

    reference = tiny_cnn()
    full_history, _ = train_loop(reference, objective, data, settings, generator(), ckpt(tmp_path / "a.pt", "run"), CPU)

    # Killed in the middle of epoch k + 1, after epoch k's checkpoint was written.
    killed = FailAtCall(objective, at=interrupted_epoch * batches_per_epoch + 2)
    with pytest.raises(KeyboardInterrupt):
        train_loop(tiny_cnn(), killed, data, settings, generator(), ckpt(tmp_path / "b.pt", "run"), CPU)
    assert load_torch(tmp_path / "b.pt")["state"]["epoch"] == interrupted_epoch

    # A fresh process: other initial weights and generator seed, both overwritten on resume.
    resumed = tiny_cnn(seed=1)
    history, resumed_after = train_loop(
        resumed, objective, data, settings, generator(seed=99), ckpt(tmp_path / "b.pt", "run"), CPU
    )
    assert resumed_after == interrupted_epoch
    assert without_timing(history) == without_timing(full_history)
    reference_state, resumed_state = reference.state_dict(), resumed.state_dict()
    assert reference_state.keys() == resumed_state.keys()
    for name in reference_state:
        assert torch.equal(reference_state[name], resumed_state[name]), name


def test_checkpoint_of_another_run_is_ignored(tmp_path):
    data, objective, settings = (
        two_class_split(),
        make_objective("standard", 0, {}),
        dataclasses.replace(SETTINGS, epochs=1),
    )
    checkpoint = tmp_path / "ckpt.pt"
    train_loop(tiny_cnn(seed=5), objective, data, settings, generator(5), ckpt(checkpoint, "other-run"), CPU)

    model = tiny_cnn()
    _, resumed_after = train_loop(model, objective, data, settings, generator(), ckpt(checkpoint, "this-run"), CPU)
    fresh = tiny_cnn()
    train_loop(fresh, objective, data, settings, generator(), ckpt(tmp_path / "fresh.pt", "this-run"), CPU)

    assert resumed_after == 0
    assert load_torch(checkpoint)["identity"] == ckpt(checkpoint, "this-run").identity
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)


def test_nan_loss_raises_and_leaves_only_the_last_good_checkpoint(tmp_path):
    data = two_class_split()
    checkpoint = tmp_path / "ckpt.pt"
    objective = FailAtCall(
        make_objective("standard", 0, {}), at=len(data) // SETTINGS.batch_size + 3, value=float("nan")
    )
    with pytest.raises(TrainingDiverged, match="epoch 2, batch 3"):
        train_loop(tiny_cnn(), objective, data, SETTINGS, generator(), ckpt(checkpoint, "run"), CPU)
    state = load_torch(checkpoint)["state"]
    assert state["epoch"] == 1 and len(state["history"]) == 1 and state["position"] is None
    assert all(torch.isfinite(v).all() for v in state["state"]["model"].values() if v.is_floating_point())


def test_divergence_is_read_back_every_check_every_batches_not_only_at_epoch_end(tmp_path, monkeypatch):
    # 4 batches an epoch; a NaN at batch 2 is seen at the check after batch 3, not later.
    monkeypatch.setattr("pags.optim.CHECK_EVERY", 3)
    objective = FailAtCall(make_objective("standard", 0, {}), at=2, value=float("nan"))
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch 2, became nan"):
        train_loop(
            tiny_cnn(), objective, two_class_split(), SETTINGS, generator(), ckpt(tmp_path / "ckpt.pt", "run"), CPU
        )
    assert objective.calls == 3


def test_loss_sum_on_the_device_equals_the_sum_of_python_floats():
    losses, weights = torch.rand(7) * 3, [5, 5, 5, 5, 5, 5, 2]
    tracked = LossSum(CPU)
    for loss, weight in zip(losses, weights):
        tracked.add(loss, weight)
    assert tracked.mean(str, "none") == sum(loss.item() * w for loss, w in zip(losses, weights)) / sum(weights)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["standard", "gnorm", "smooth", "randsmooth", "pgd"])
def test_a_training_step_never_waits_for_the_device(name):
    # torch raises at any host synchronisation (a .item(), a bool of a tensor, a copy to the host).
    cuda = torch.device("cuda")
    options = {"gnorm": {"penalty_scale": 1.0}, "smooth": {"noise_std": 0.1}, "pgd": PGD_OPTIONS}.get(name, {})
    model = tiny_cnn().to(cuda)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    settings = dataclasses.replace(SETTINGS, augment="crop_flip", amp=True)
    step = TrainStep(model, make_objective(name, 0.5, options), optimizer, settings, cuda)
    data, g, losses = two_class_split(), torch.Generator(device=cuda).manual_seed(0), LossSum(cuda)
    x, y = data.x[:16].to(cuda), data.y[:16].to(cuda)
    step(x, y, g)  # the first step: cuDNN times its algorithms
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            losses.add(step(x, y, g))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert losses.steps == 3 and math.isfinite(losses.mean(str, "none"))


@pytest.mark.parametrize("name", ["standard", "gnorm", "smooth", "randsmooth", "pgd"])
def test_the_channels_last_layout_changes_a_step_by_rounding_only(name):
    """Training runs in channels-last layout for speed; a step from the same weights, batch
    and random draws in the contiguous layout lands on the same weights up to rounding."""
    options = {"gnorm": {"penalty_scale": 1.0}, "smooth": {"noise_std": 0.1}, "pgd": PGD_OPTIONS}.get(name, {})
    data = two_class_split()
    weights = {}
    for layout in (torch.contiguous_format, torch.channels_last):
        model = tiny_cnn()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        step = TrainStep(model, make_objective(name, 0.5, options), optimizer, SETTINGS, CPU, memory_format=layout)
        g = generator()
        for start in (0, 16):
            step(data.x[start : start + 16], data.y[start : start + 16], g)
        assert model[3].weight.is_contiguous(memory_format=layout)  # the second conv: 4 channels in
        weights[layout] = [p.detach().clone() for p in model.parameters()]
    for contiguous, channels_last in zip(weights[torch.contiguous_format], weights[torch.channels_last]):
        torch.testing.assert_close(channels_last, contiguous, rtol=1e-4, atol=1e-5)


def test_divergence_in_the_first_epoch_writes_no_checkpoint(tmp_path):
    settings = dataclasses.replace(SETTINGS, lr=1e30)
    with pytest.raises(TrainingDiverged, match="lower training.lr"):
        train_loop(
            tiny_cnn(),
            make_objective("standard", 0, {}),
            two_class_split(),
            settings,
            generator(),
            ckpt(tmp_path / "c.pt", "run"),
            CPU,
        )
    assert not (tmp_path / "c.pt").exists()


def hparams(**overrides):
    base = {
        "arch": "small_cnn",
        "arch_options": {"width": 4},
        "seed": 0,
        "objective": "standard",
        "strength": 0,
        "objective_options": {},
        "training": {**dataclasses.asdict(SETTINGS), "milestones": [2]},
    }
    return {**base, **overrides}


def test_fit_returns_model_spec_and_record(tmp_path):
    hp = hparams()
    model, spec, record = fit(
        hp, two_class_split(n=128, seed=0), two_class_split(seed=1), ckpt(tmp_path / "ckpt.pt", hp), CPU
    )
    assert spec == {"arch": "small_cnn", "in_channels": 1, "num_classes": 2, "options": {"width": 4}}
    assert record["hparams"] == hp
    assert len(record["history"]) == record["epochs"] == 3
    assert record["final_loss"] == record["history"][-1]["loss"]
    assert record["resumed_after_epoch"] == 0
    assert 0.75 <= record["test_accuracy"] <= 1  # an easy task; chance is 0.5
    assert 0 <= record["train_accuracy"] <= 1
    test = two_class_split(seed=1)
    with torch.no_grad():
        accuracy = (model.eval()(test.floats()).argmax(1) == test.y).float().mean().item()
    assert record["test_accuracy"] == pytest.approx(accuracy)
    # trained in channels-last layout, saved and returned in the usual one
    assert all(p.is_contiguous() for p in model.parameters())


def test_fit_is_reproducible_and_resumes_a_finished_run(tmp_path):
    train, test = two_class_split(n=128, seed=0), two_class_split(seed=1)
    first, _, record = fit(hparams(), train, test, ckpt(tmp_path / "ckpt.pt", hparams()), CPU)
    again, _, record_again = fit(hparams(), train, test, ckpt(tmp_path / "ckpt.pt", hparams()), CPU)
    assert record_again["resumed_after_epoch"] == 3
    assert without_timing(record_again["history"]) == without_timing(record["history"])
    other, _, _ = fit(hparams(), train, test, ckpt(tmp_path / "other.pt", hparams()), CPU)
    for a, b, c in zip(first.state_dict().values(), again.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_fit_with_other_hyperparameters_does_not_resume(tmp_path):
    train, test = two_class_split(n=128, seed=0), two_class_split(seed=1)
    fit(hparams(), train, test, ckpt(tmp_path / "ckpt.pt", hparams()), CPU)
    _, _, record = fit(hparams(seed=1), train, test, ckpt(tmp_path / "ckpt.pt", hparams(seed=1)), CPU)
    assert record["resumed_after_epoch"] == 0
