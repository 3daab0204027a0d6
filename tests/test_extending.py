"""Extending pags with an objective: one module, and everything else follows from it.

The registry (``pags.objectives``) against the schema, the spec's checks at import, the
contract every registered objective meets, TRADES against known answers, and the
workflow: a new objective module reruns nothing, a new objective in the config trains
only its own models, and the worked example of docs/extending.md runs to its figures.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from pags.attacks import l2_norm
from pags.cost import step_cost
from pags.figures.style import color_for
from pags.labels import model_label
from pags.objectives import OBJECTIVES, make_objective
from pags.objectives.spec import ObjectiveSpec
from pags.objectives.trades import Trades
from pags.schema import config_schema
from torch import nn
from workflow_helpers import (
    REPO,
    copy_workflow,
    describe,
    nothing_to_be_done,
    planned_job_blocks,
    planned_jobs,
    run_snakemake,
    subprocess_env,
    write_config,
)

# The worked examples of an objective, a data set and a score backend, each one module.
EXTENDING = REPO / "docs" / "extending.md"

# ---- the registry and the schema ----------------------------------------------------


def test_the_schema_names_exactly_the_registered_objectives():
    schema = config_schema()
    assert list(schema["$defs"]["objectives"]["properties"]) == list(OBJECTIVES)
    assert schema["$defs"]["swept_objective"]["enum"] == [o for o in OBJECTIVES if o != "standard"]
    for name in OBJECTIVES:
        entry = schema["$defs"]["objectives"]["properties"][name]
        assert entry["additionalProperties"] is False and set(entry["required"]) <= set(entry["properties"])


def spec_parts(**changes):
    parts = dict(
        name="toy",
        label="toy",
        symbol="τ",
        color="#123456",
        build=lambda values, options: None,
        step_cost=lambda options: 1.0,
        options={"grid": {}},
        description="a toy",
    )
    parts.update(changes)
    return parts


def test_a_spec_with_a_missing_part_is_an_error():
    parts = spec_parts()
    del parts["color"]
    with pytest.raises(TypeError, match="color"):
        ObjectiveSpec(**parts)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"color": "red"}, "#rrggbb"),
        ({"label": ""}, "label is empty"),
        ({"options": {"eps": {}}}, "must include 'grid'"),
        ({"required": ("grid", "eps")}, r"required keys \['eps'\]"),
        ({"name": "Toy-1"}, "lower-case"),
        ({"step_cost": 1.0}, "callables"),
    ],
)
def test_a_malformed_spec_is_an_error(changes, message):
    with pytest.raises(ValueError, match=message):
        ObjectiveSpec(**spec_parts(**changes))


def test_a_module_without_a_spec_stops_the_import(tmp_path):
    """Found when the registry is built, naming the module: never silently left out."""
    copy_workflow(tmp_path)
    (tmp_path / "workflow" / "pags" / "objectives" / "toy.py").write_text("LOSS = None\n")
    proc = subprocess.run(
        [sys.executable, "-c", "import pags.objectives"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "workflow"), "PATH": ""},
    )
    assert proc.returncode != 0 and "pags.objectives.toy defines no SPEC" in proc.stderr, proc.stderr


def defaults(name: str) -> dict:
    """An objective's options as the schema fills them in, plus values for required keys."""
    properties = OBJECTIVES[name].options
    options = {k: v["default"] for k, v in properties.items() if "default" in v and k != "grid"}
    required = {"eps": 0.5, "eps_convention": "per_example"}
    options.update({k: required[k] for k in properties if k in required and k not in options})
    return options


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_every_objective_trains_a_model(name):
    """The contract of a registered objective: a finite scalar loss with gradients for the
    model's parameters, a label, a colour and a step cost for the bill."""
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    x, y = torch.rand(8, 1, 4, 4, generator=g), torch.randint(3, (8,), generator=g)
    loss = make_objective(name, 0.0 if name == "standard" else 0.1, defaults(name))(model, x, y, g)
    assert loss.dim() == 0 and math.isfinite(loss.item())
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert step_cost(name, defaults(name)) >= 1
    assert color_for(name) == OBJECTIVES[name].color
    assert model_label(name, 0.1, {}).startswith(OBJECTIVES[name].label)


# ---- TRADES against known answers ---------------------------------------------------


def linear_problem(seed=0, n=6, d=5, k=3):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(d, k)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(k, d, generator=g, dtype=torch.float64))
    x = 0.25 + 0.5 * torch.rand(n, 1, 1, d, generator=g, dtype=torch.float64)
    y = torch.randint(k, (n,), generator=g)
    return model, x, y


def trades(beta, eps=0.1, steps=10, step_size=0.25, random_start=0.1):
    return Trades([beta], eps=eps, steps=steps, step_size=step_size, random_start=random_start)


def test_trades_with_beta_zero_is_cross_entropy():
    model, x, y = linear_problem()
    loss = trades(0.0)(model, x, y, torch.Generator().manual_seed(0))
    assert torch.equal(loss, F.cross_entropy(model(x), y))


def test_trades_of_a_model_blind_to_its_input_is_cross_entropy():
    """A constant model has the same prediction at x and x_adv: KL 0."""
    model, x, y = linear_problem()
    with torch.no_grad():
        model[1].weight.zero_()
    loss = trades(6.0)(model, x, y, torch.Generator().manual_seed(0))
    assert torch.allclose(loss, F.cross_entropy(model(x), y), atol=1e-12)


def test_trades_penalty_is_beta_times_the_kl_at_the_attack():
    """loss - CE = beta * mean KL(p(x) || p(x_adv)) >= 0, linear in beta for the same x_adv."""
    model, x, y = linear_problem()
    ce = F.cross_entropy(model(x), y)
    gap = [(trades(beta)(model, x, y, torch.Generator().manual_seed(1)) - ce).item() for beta in (1.0, 3.0)]
    assert gap[0] > 0 and gap[1] == pytest.approx(3 * gap[0], rel=1e-9)


def test_trades_attack_finds_the_kl_maximiser_of_a_binary_linear_model():
    """For two classes and a linear model, p(x + delta) depends on delta only through
    w . delta (w = w_1 - w_0), and KL(p(x) || p(x + delta)) grows with |w . delta| on
    either side: its maximiser in the L2 ball of radius eps is x +- eps w / |w|. The
    attack (``pgd_l2`` on the KL, via ``Trades``) must end there: on the ball's boundary,
    parallel to w."""
    model, x, y = linear_problem(k=2)
    captured = {}

    def spy(module, inputs, output):
        captured["x_adv"] = inputs[0][len(x) :].detach()  # the second half of the training pass

    model.register_forward_hook(spy)
    eps = 0.05
    trades(1.0, eps=eps, steps=40, step_size=0.1)(model, x, y, torch.Generator().manual_seed(0))
    delta = (captured["x_adv"] - x).flatten(1)
    w = (model[1].weight[1] - model[1].weight[0]).detach()
    assert torch.allclose(l2_norm(delta, "per_example").flatten(), torch.full((len(x),), eps, dtype=x.dtype), rtol=1e-6)
    cosine = (delta @ w).abs() / (delta.norm(dim=1) * w.norm())
    assert (cosine > 0.999).all(), cosine


def test_trades_bills_its_passes():
    """Clean forward for the target, each attack step a forward and backward, clean and
    adversarial batch in one training pass: steps + 2 1/3 plain steps."""
    assert step_cost("trades", {"steps": 3}) == pytest.approx(3 + 2 + 1 / 3)


# ---- the workflow: an objective added in one place ----------------------------------

TOY = '''
"""toy: cross-entropy of a copy of the logits scaled by 1 + strength."""

import torch.nn.functional as F

from .spec import GRID, ObjectiveSpec, draw


class Toy:
    def __init__(self, strengths):
        self.strengths = strengths

    def __call__(self, model, x, y, generator):
        return F.cross_entropy((1 + draw(self.strengths, generator)) * model(x), y)


SPEC = ObjectiveSpec(
    name="toy",
    label="toy",
    symbol="τ",
    color="#1b7837",
    build=lambda values, options: Toy(values),
    step_cost=lambda options: 1.0,
    options={"grid": GRID},
    description="A toy objective.",
)
'''


# ---- the workflow: a data set and a score backend added in one place each ---------------

TOY_DATASET = '''
"""toy: two classes of 8 x 8 images, the left or the right half bright, over noise."""

import torch

from .spec import DatasetSpec
from .store import ImageSplit


def load_toy(split, root, download):
    n = 64 if split == "train" else 32
    generator = torch.Generator().manual_seed(0 if split == "train" else 1)
    y = torch.arange(n) % 2
    x = 0.3 * torch.rand(n, 1, 8, 8, generator=generator)
    x[y == 0, :, :, :4] += 0.6
    x[y == 1, :, :, 4:] += 0.6
    return ImageSplit((255 * x.clamp(0, 1)).round().to(torch.uint8), y)


SPEC = DatasetSpec(name="toy", shape=(1, 8, 8), num_classes=2, train_size=64, test_size=32, load=load_toy)
'''


def documented_example(folder: str) -> tuple[str, str]:
    """(module name, source) of the worked example in docs/extending.md of a module in ``folder``."""
    example = re.search(rf"```python\n# workflow/pags/{folder}/(\w+)\.py\n(.*?)```", EXTENDING.read_text(), re.S)
    assert example, f"docs/extending.md has no example under workflow/pags/{folder}"
    return example.groups()


def toy_sweep(backend: str) -> dict:
    """A sweep of the toy data set: the standard model and the toy objective, scored by ``backend``."""
    return {
        "model": {"arch": "small_cnn", "options": {"width": 4, "pool": 2}},
        "training": {"epochs": 2, "batch_size": 32, "lr": 0.05, "milestones": [1], "amp": False},
        "seeds": [0],
        "objectives": {"standard": {"grid": [0]}, "toy": {"grid": [0.5, 2]}},
        "autoencoder": {"latent_dim": 4, "width": 4, "epochs": 2, "batch_size": 32},
        "manifold_robustness": {"n_images": 8, "step_sizes": [0.5], "plot_step": 0.5, "small_noise_draws": 2},
        "score": {"backends": [backend], "sigma": 0.3, "n_images": 8, "batch_size": 8},
        "alignment": {"metrics": ["cosine"]},
        "regimes": {"metric": "cosine"},
    }


@dataclass
class Extended:
    """A copy of the workflow with an objective, a data set and a score backend added."""

    snakefile: Path
    package: Path
    objective: str  # docs/extending.md's example objective
    backend: str  # docs/extending.md's example score backend


@pytest.fixture(scope="module")
def extended(tmp_path_factory) -> Extended:
    """One copy of the workflow for every test below, each extension added as one module:
    the toy objective and data set as defined here, docs/extending.md's example objective and
    score backend as written there."""
    directory = tmp_path_factory.mktemp("extended")
    snakefile = copy_workflow(directory / "workflow_copy")
    package = directory / "workflow_copy" / "workflow" / "pags"
    (package / "objectives" / "toy.py").write_text(TOY.lstrip())
    (package / "datasets" / "toy.py").write_text(TOY_DATASET.lstrip())
    objective, source = documented_example("objectives")
    (package / "objectives" / f"{objective}.py").write_text(source)
    backend, source = documented_example("score/backends")
    (package / "score" / "backends" / f"{backend}.py").write_text(source)
    return Extended(snakefile, package, objective, backend)


@pytest.mark.slow
def test_new_modules_rerun_nothing(tiny_run, extended):
    proc = run_snakemake(tiny_run.workdir, tiny_run.configfile, "-n", snakefile=extended.snakefile)
    assert proc.returncode == 0, describe(proc)
    assert planned_jobs(proc) == {} and nothing_to_be_done(proc), describe(proc)


@pytest.mark.slow
def test_a_new_objective_in_the_config_trains_only_its_models(tiny_run, extended, tmp_path):
    config = tiny_run.config | {"distractor": {**tiny_run.config["distractor"]}}
    config["distractor"]["objectives"] = {**config["distractor"]["objectives"], "toy": {"grid": [0.5]}}
    configfile = write_config(tmp_path / "toy.yaml", config)
    proc = run_snakemake(tiny_run.workdir, configfile, "-n", snakefile=extended.snakefile)
    assert proc.returncode == 0, describe(proc)
    trained = [job for job in planned_job_blocks(proc) if job["rule"] == "train_model"]
    assert [job["wildcards"]["objective"] for job in trained] == ["toy"], describe(proc)
    assert planned_jobs(proc)["noise_robustness"] == 1, describe(proc)


@dataclass
class ExtendedRun:
    workdir: Path
    configfile: Path
    proc: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def extended_run(tiny_run, extended, tmp_path_factory) -> ExtendedRun:
    """The finished tiny run, run on with docs/extending.md's example objective added to the
    distractor experiment and a sweep of the toy data set (the standard model and the toy
    objective, scored by docs/extending.md's example backend): only the new models' jobs run."""
    directory = tmp_path_factory.mktemp("extended_run")
    config = tiny_run.config | {
        "distractor": {**tiny_run.config["distractor"]},
        "sweep": {"toy": toy_sweep(extended.backend)},
        "figures": {"gallery": {"n_images": 2}},
    }
    config["distractor"]["objectives"] = {**config["distractor"]["objectives"], extended.objective: {"grid": [0.5]}}
    configfile = write_config(directory / "extended.yaml", config)
    workdir = directory / "work"
    shutil.copytree(tiny_run.workdir, workdir, symlinks=True)
    proc = run_snakemake(workdir, configfile, snakefile=extended.snakefile)
    assert proc.returncode == 0, describe(proc)
    return ExtendedRun(workdir, configfile, proc)


@pytest.mark.slow
def test_the_run_trains_only_the_new_models(extended, extended_run):
    trained = [job["wildcards"] for job in planned_job_blocks(extended_run.proc) if job["rule"] == "train_model"]
    assert {(w["dataset"], w["objective"]) for w in trained} == {
        ("digits_distractor", extended.objective),
        ("toy", "standard"),
        ("toy", "toy"),
    }, describe(extended_run.proc)


@pytest.mark.slow
def test_the_documented_example_objective_runs_to_the_figures(extended, extended_run):
    """The worked example of docs/extending.md, as written there, trained and drawn."""
    results = extended_run.workdir / "results"
    assert (results / "figures" / "fig_noise_robustness.png").stat().st_size > 0
    assert (results / "digits_distractor" / "models" / extended.objective / "0.5" / "seed=0" / "model.pt").is_file()


@pytest.mark.slow
def test_a_new_data_set_objective_and_score_backend_run_to_the_figures(extended, extended_run, tmp_path):
    """A sweep of them reaches every sweep figure and the bill."""
    figures = extended_run.workdir / "results" / "figures"
    for figure in ("fig_manifold_robustness", "fig_tangent_noise", "fig_score_alignment", "fig_gallery_toy_toy"):
        assert (figures / f"{figure}.png").stat().st_size > 0, figure
    alignment = pd.read_csv(extended_run.workdir / "results" / "toy" / "tables" / "alignment.csv")
    assert set(alignment["objective"]) == {"standard", "toy"} and set(alignment["score"]) == {extended.backend}

    bill = subprocess.run(
        [sys.executable, "-m", "pags.cost", str(extended_run.configfile)],
        cwd=tmp_path,
        env={**subprocess_env(), "PYTHONPATH": str(extended.package.parent)},
        capture_output=True,
        text=True,
    )
    assert bill.returncode == 0, bill.stderr
    toy_lines = [line.split() for line in bill.stdout.splitlines() if line.startswith("sweep.toy")]
    # a line per objective, the evaluation, the total; 2 toy models x 2 epochs x 64 images
    assert [line[1] for line in toy_lines] == ["standard", "toy", "evaluation", "total"], bill.stdout
    assert toy_lines[1][2:5] == ["2", "2", "256"], bill.stdout
