"""What survives an interruption: every trainer resumes after its last finished step to
the weights of an uninterrupted run (CPU), only from a checkpoint of the same job (code,
values, data); a stop signal saves the training state and leaves no partial file behind;
a job whose code changed since its run was planned refuses to run."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import pytest
import test_train
import torch
from pags import optim
from pags.checkpoint import Checkpoint
from pags.datasets import ImageSplit
from pags.errors import CodeChanged
from pags.io import atomic_path, load_torch, temporary_files
from pags.manifold.autoencoder import train_autoencoder
from pags.models import build_model
from pags.objectives import make_objective
from pags.provenance import check_job_code, code_parts, code_version
from pags.runtime import Terminated
from pags.score.denoiser import train_denoiser
from pags.train import train_loop
from test_train import CPU
from workflow_helpers import REPO, subprocess_env

# test_train's settings, with augmentation: its random draws must resume exactly too
SETTINGS = dataclasses.replace(test_train.SETTINGS, augment="crop_flip")


def images(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randint(0, 200, (n, 1, 8, 8), generator=g) + 50 * y.view(n, 1, 1, 1)
    return ImageSplit(x.to(torch.uint8), y)


# One runner per job kind: (checkpoint, module whose `descend` the run calls) -> model.
def classifier(checkpoint):
    torch.manual_seed(0)
    model = build_model("small_cnn", 1, 2, width=4)
    objective = make_objective(
        "pgd", [0.5, 1.0], {"steps": 2, "step_size": 0.5, "random_start": 0.5, "eps_convention": "per_example"}
    )
    train_loop(
        model, objective, images(), SETTINGS, torch.Generator().manual_seed(0), checkpoint, CPU, progress_seconds=None
    )
    return model


def autoencoder(checkpoint):
    x = images().x
    return train_autoencoder(
        x,
        latent_dim=4,
        width=4,
        epochs=3,
        batch_size=16,
        generator=torch.Generator().manual_seed(0),
        checkpoint=checkpoint,
    )[0]


def denoiser(checkpoint):
    data = images()
    return train_denoiser(
        data.x,
        data.y,
        2,
        [8, 16],
        1,
        3,
        16,
        1e-3,
        -1.0,
        1.0,
        torch.Generator().manual_seed(0),
        CPU,
        label_dropout=0.2,
        ema_halflife=64,
        checkpoint=checkpoint,
    )[0]


JOBS = {
    "classifier": (classifier, "pags.train"),
    "autoencoder": (autoencoder, "pags.optim"),
    "denoiser": (denoiser, "pags.optim"),
}
STEPS_PER_EPOCH = 4  # 64 images in batches of 16


class StopAtStep:
    """Wraps ``descend``: at step ``at`` (1-based, after the step) sends this process
    SIGTERM (what SLURM sends) or raises ``KeyboardInterrupt`` before the step (a kill:
    nothing is saved but the last epoch's checkpoint)."""

    def __init__(self, descend, at, how):
        self.descend, self.at, self.how, self.calls = descend, at, how, 0

    def __call__(self, optimizer, loss):
        self.calls += 1
        if self.calls == self.at and self.how == "kill":
            raise KeyboardInterrupt("killed")
        self.descend(optimizer, loss)
        if self.calls == self.at and self.how == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)


def assert_same_weights(a, b):
    a, b = a.state_dict(), b.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize("job", JOBS)
@pytest.mark.parametrize(
    "how, at", [("sigterm", STEPS_PER_EPOCH + 2), ("sigterm", 2 * STEPS_PER_EPOCH), ("kill", 2 * STEPS_PER_EPOCH + 3)]
)
def test_an_interrupted_training_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch, caplog, job, how, at):
    run, module = JOBS[job]
    reference = run(Checkpoint(tmp_path / "reference.pt", "code 0", job))

    checkpoint = Checkpoint(tmp_path / "checkpoint.pt", "code 0", job)
    original = sys.modules[module].descend
    monkeypatch.setattr(f"{module}.descend", StopAtStep(original, at, how))
    with pytest.raises(Terminated if how == "sigterm" else KeyboardInterrupt):
        run(checkpoint)
    saved = load_torch(checkpoint.path)["state"]
    if how == "sigterm":  # saved after the step the signal came in
        done = saved["epoch"] * STEPS_PER_EPOCH + (saved["position"]["losses"]["steps"] if saved["position"] else 0)
        assert done == at
    else:  # the last finished epoch's state
        assert saved["epoch"] == (at - 1) // STEPS_PER_EPOCH and saved["position"] is None
    monkeypatch.setattr(f"{module}.descend", original)

    with caplog.at_level(logging.INFO, logger="pags"):
        resumed = run(checkpoint)
    assert any(r.getMessage().startswith(f"resumed from {checkpoint.path}") for r in caplog.records)
    assert_same_weights(reference, resumed)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "the loop left its signal handler installed"


@pytest.mark.parametrize("differs", ["code", "values", "data"])
def test_a_checkpoint_of_another_job_is_not_continued_and_the_log_says_why(tmp_path, monkeypatch, caplog, differs):
    data = tmp_path / "train.pt"
    data.write_bytes(b"v1")
    identity = {"code": "code 0", "values": {"lr": 0.1}, "data": [data]}
    reference = autoencoder(None)

    monkeypatch.setattr("pags.optim.descend", StopAtStep(optim.descend, 6, "sigterm"))
    with pytest.raises(Terminated):
        autoencoder(Checkpoint(tmp_path / "checkpoint.pt", **identity))
    monkeypatch.undo()

    if differs == "data":  # the data set was rebuilt: same size, a later modification time
        time.sleep(0.01)
        data.write_bytes(b"v2")
    else:
        identity[differs] = {"code": "code 1", "values": {"lr": 0.2}}[differs]
    with caplog.at_level(logging.INFO, logger="pags"):
        fresh = autoencoder(Checkpoint(tmp_path / "checkpoint.pt", **identity))
    messages = [r.getMessage() for r in caplog.records]
    assert not any("resumed" in m for m in messages), messages
    assert any(m.endswith(f"was written by a job with other {differs}") for m in messages), messages
    assert_same_weights(reference, fresh)


def test_an_unreadable_checkpoint_starts_afresh(tmp_path, caplog):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.INFO, logger="pags"):
        assert Checkpoint(path, "code 0", {}).load() is None
    assert any("starting afresh" in r.getMessage() for r in caplog.records)


def test_the_checkpoint_of_a_snakemake_job_is_identified_by_its_params_and_inputs(tmp_path):
    (tmp_path / "train.pt").write_bytes(b"x")
    job = SimpleNamespace(
        params=SimpleNamespace(code="code 1", items=lambda: [("code", "code 1"), ("settings", {"lr": 1.0})]),
        input=[str(tmp_path / "train.pt")],
        output=[str(tmp_path / "out" / "model.pt"), str(tmp_path / "out" / "train.json")],
    )
    checkpoint = Checkpoint.of_job(job)
    assert checkpoint.path == tmp_path / "out" / "checkpoint.pt"
    assert (
        checkpoint.identity
        == Checkpoint(checkpoint.path, "code 1", {"settings": {"lr": 1.0}}, [tmp_path / "train.pt"]).identity
    )


# ---- a stop signal during a write ---------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, types
    import torch
    from pags.datasets import ImageSplit, save_split
    from pags.runtime import job_log

    split = ImageSplit(torch.zeros(800, 3, 64, 64, dtype=torch.uint8), torch.zeros(800, dtype=torch.int64))
    with job_log(types.SimpleNamespace(log=[sys.argv[2]], params=types.SimpleNamespace())):
        while True:  # nearly all of its time inside atomic_path
            save_split(split, sys.argv[1])
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_during_save_split_leaves_no_temporary_file(tmp_path, signum):
    target = tmp_path / "data" / "train.pt"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), str(tmp_path / "job.log")], env=subprocess_env()
    )
    deadline = time.monotonic() + 120
    while not temporary_files(target):
        assert proc.poll() is None, "the writer ended early"
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.001)
    proc.send_signal(signum)
    proc.wait(timeout=60)
    assert proc.returncode == 128 + signum
    assert temporary_files(target) == [], "a temporary file outlived the stopped write"
    assert f"stopped by {signal.Signals(signum).name}" in (tmp_path / "job.log").read_text()


def test_the_next_write_deletes_the_temporary_files_a_killed_write_left(tmp_path):
    target = tmp_path / "train.pt"
    left = [tmp_path / ".train.pt.abcd1234.tmp", tmp_path / ".train.pt.x_y9zz00.tmp"]
    others = [tmp_path / ".train.pt.bak.abcd1234.tmp", tmp_path / ".test.pt.abcd1234.tmp"]
    for path in left + others:
        path.write_bytes(b"partial")
    assert temporary_files(target) == sorted(left)
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert temporary_files(target) == [] and all(p.exists() for p in others)


# ---- code edited while a run goes on --------------------------------------------------


def test_a_job_refuses_to_run_code_other_than_the_planned(tmp_path):
    package = tmp_path / "pags"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "objectives.py").write_text("def loss(x):\n    return x\n")
    script = tmp_path / "train.py"
    script.write_text("from pags.objectives import loss\n")
    planned = code_version(script, package)
    check_job_code(script, planned, package)  # unchanged: no error

    (package / "objectives.py").write_text("def loss(x):\n    return 0.9 * x\n")
    with pytest.raises(CodeChanged, match="rerun snakemake"):
        check_job_code(script, planned, package)
    (package / "objectives.py").write_text("def loss(x):\n    # a comment changes nothing\n    return x\n")
    check_job_code(script, planned, package)


def test_the_planned_digest_names_the_modules_a_job_imports_by_name():
    script = REPO / "workflow" / "scripts" / "base_dataset.py"
    planned = code_version(script, extra=["pags.datasets.digits"])
    assert "pags.datasets.digits" in code_parts(planned) and planned != code_version(script)
    check_job_code(script, planned)
