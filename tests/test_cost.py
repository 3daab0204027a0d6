"""The bill of a config (``pags.cost``) against one computed by hand."""

import pytest
from pags.cost import DEFAULT_THROUGHPUT, bill, main
from workflow_helpers import REPO

# small_cnn(width 4) on the 1x56x28 digits-distractor images, forward FLOPs (2 per multiply-add):
# conv 1->4 at 56x28, conv 4->8 stride 2 (28x14), conv 8->16 stride 2 (14x7), linear 16->10.
SMALL_CNN = 2 * (1 * 4 * 9 * 56 * 28 + 4 * 8 * 9 * 28 * 14 + 8 * 16 * 9 * 14 * 7 + 16 * 10)
RESNET18_CIFAR = 1_110_845_440  # the reference: every line is in its plain-step images

CONFIG = {
    "distractor": {
        "dataset": "digits",  # 1497 training and 300 test images
        "model": {"arch": "small_cnn", "options": {"width": 4}},
        "training": {"epochs": 2},
        "seeds": [0],
        "objectives": {"standard": {"grid": [0]}, "pgd": {"grid": [[1, 2]], "steps": 3}},
        "noise_robustness": {"stds": [0.1, 0.2], "include_zero": True, "n_images": 10, "draws": 2},
    },
    "sweep": {
        "cifar10": {
            "model": {"arch": "resnet18", "options": {}},
            "training": {"epochs": 3},
            "seeds": [0, 1],
            "subset": {"train": 1000, "test": 100, "seed": 0},
            "objectives": {"gnorm": {"grid": {"logspace": [-1, 1, 3]}}},
            "manifold_robustness": {"n_images": 20, "step_sizes": [1.0, 2.0]},
            "score": {"n_images": 30},
        }
    },
    "pretrained": {},
}


def by_item(lines):
    return {(line.experiment, line.item): line for line in lines}


def test_bill_of_a_small_config_matches_the_hand_computed_one():
    lines = by_item(bill(CONFIG))
    scale = SMALL_CNN / RESNET18_CIFAR
    standard, pgd = lines["distractor", "standard"], lines["distractor", "pgd"]
    assert (standard.models, standard.epochs, standard.train_images, standard.step_cost) == (1, 2, 2 * 1497, 1.0)
    assert (pgd.models, pgd.train_images, pgd.step_cost) == (1, 2 * 1497, 4.0)  # 3 attack steps + 1
    assert pgd.work == pytest.approx(2 * 1497 * 4 * scale)
    # 2 models: accuracy on 1497 + 300 images, noise robustness 10 images x 2 draws x (1 + 2 halves x 3 stds)
    # forward passes, each 1/3 of a step
    evaluation = lines["distractor", "evaluation"]
    assert evaluation.models == 2
    assert evaluation.work == pytest.approx(2 * ((1497 + 300) / 3 + 10 * 2 * 7 / 3) * scale)
    gnorm = lines["sweep.cifar10", "gnorm"]  # 3 strengths x 2 seeds, 3 epochs of the 1000-image subset
    assert (gnorm.models, gnorm.epochs, gnorm.train_images, gnorm.step_cost) == (6, 3, 18_000, 3.0)
    assert gnorm.work == pytest.approx(54_000)
    # accuracy on 1000 + 100 images; 20 images x (1 + 2 x 2 steps) forwards + a gradient; 30 alignment gradients
    assert lines["sweep.cifar10", "evaluation"].work == pytest.approx(6 * (1100 / 3 + 20 * (5 / 3 + 1) + 30))
    assert by_item(bill(CONFIG, {"gnorm": 4.0}))["sweep.cifar10", "gnorm"].work == pytest.approx(72_000)
    total = sum(line.work for line in lines.values())
    assert sum(line.hours(2.0) for line in lines.values()) == pytest.approx(total / 2 / 3600)


def test_bill_of_config_yaml_prints_every_experiment_and_names_the_device(capsys):
    main([str(REPO / "config.yaml"), "--images-per-second", "5000", "--device-name", "one H100"])
    out = capsys.readouterr().out
    assert "5,000.0 images/s" in out and "one H100" in out
    for experiment in ("distractor", "sweep.cifar10", "sweep.imagenet64", "pretrained.imagenet", "all"):
        assert any(line.startswith(f"{experiment} ") and " total " in line for line in out.splitlines()), experiment
    main([str(REPO / "config.yaml")])
    assert DEFAULT_THROUGHPUT.device in capsys.readouterr().out


def test_a_search_is_billed_at_its_budget():
    # the same sweep with gnorm's grid a search: at most max_models strengths x 2 seeds
    search = {"search": {"start": [-1, 1, 3], "factor": 2, "extend": 10, "max_models": 7, "rounds": 3}}
    config = {**CONFIG, "sweep": {"cifar10": {**CONFIG["sweep"]["cifar10"], "objectives": {"gnorm": {"grid": search}}}}}
    lines = by_item(bill(config))
    gnorm = lines["sweep.cifar10", "gnorm"]
    assert (gnorm.models, gnorm.train_images) == (14, 14 * 3 * 1000)
    assert lines["sweep.cifar10", "evaluation"].models == 14


def test_an_objectives_own_seeds_are_billed():
    # gnorm's 3 strengths at its own 3 seeds instead of the sweep's 2
    sweep = CONFIG["sweep"]["cifar10"]
    objectives = {"gnorm": {"grid": {"logspace": [-1, 1, 3]}, "seeds": [0, 1, 2]}}
    lines = by_item(bill({**CONFIG, "sweep": {"cifar10": {**sweep, "objectives": objectives}}}))
    assert (lines["sweep.cifar10", "gnorm"].models, lines["sweep.cifar10", "gnorm"].train_images) == (9, 9 * 3 * 1000)
