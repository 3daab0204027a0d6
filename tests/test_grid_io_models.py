"""Strength strings, atomic files, the model file format, augmentation, gradients, labels."""

import json
import os
import re

import pandas as pd
import pytest
import torch
from pags.augment import random_crop_flip
from pags.errors import CheckpointError, DataError, PagsError
from pags.gradients import input_gradient
from pags.grid import STRENGTH_PATTERN, expand_grid, format_strength, parse_strength, strength_values
from pags.io import atomic_path, load_torch, save_csv, save_json, save_torch
from pags.labels import model_columns, model_label
from pags.models import build_model, load_model, load_state, save_model
from torch import nn

NUMBERS = [0, 1, 0.5, 0.1, 2.5, 8, 1 / 3, 12.34567, 1e-5, 3.2e-7, 123456, 1e20, 0.001234567]


@pytest.mark.parametrize(
    "value, text",
    [
        (0, "0"),
        (1, "1"),
        (8.0, "8"),
        (0.1, "0.1"),
        (1 / 3, "0.3333"),
        (12.34567, "12.35"),
        (1e-5, "1e-05"),
        (123456, "1.235e05"),
        (1e20, "1e20"),
        ([1, 4, 8], "1_4_8"),
        ((0.5, 2.0), "0.5_2"),
    ],
)
def test_format_strength_known_strings(value, text):
    assert format_strength(value) == text


@pytest.mark.parametrize("value", NUMBERS)
def test_strength_string_round_trip_keeps_four_significant_digits(value):
    text = format_strength(value)
    assert "+" not in text
    assert re.fullmatch(STRENGTH_PATTERN, text)
    parsed = parse_strength(text)
    assert parsed == float(f"{value:.4g}")
    assert parsed == pytest.approx(value, rel=5e-4)
    assert format_strength(parsed) == text  # the string is canonical: parsing it changes nothing


def test_strength_list_round_trip():
    values = [1, 4, 8, 1 / 3, 1e-5]
    text = format_strength(values)
    assert re.fullmatch(STRENGTH_PATTERN, text)
    assert parse_strength(text) == [float(f"{v:.4g}") for v in values]
    assert format_strength(parse_strength(text)) == text


def test_strength_pattern_rejects_what_format_never_writes():
    for text in ["1e+05", "", "_1", "1__4", "eps", "1/2", "1_4_"]:
        assert not re.fullmatch(STRENGTH_PATTERN, text), text


def test_strength_values_wraps_scalars():
    assert strength_values(2) == [2.0]
    assert strength_values([1, 4]) == [1.0, 4.0]
    assert strength_values((0.5,)) == [0.5]


def test_expand_grid_logspace_and_lists():
    assert expand_grid({"logspace": [-1, 1, 3]}) == pytest.approx([0.1, 1.0, 10.0], rel=1e-12)
    grid = expand_grid({"logspace": [-2, 0, 5]})
    assert len(grid) == 5 and all(isinstance(v, float) for v in grid)
    assert grid == pytest.approx([10 ** (-2 + k / 2) for k in range(5)], rel=1e-12)
    assert all(re.fullmatch(STRENGTH_PATTERN, format_strength(v)) for v in grid)
    assert expand_grid([0]) == [0]
    assert expand_grid([[1, 4, 8], 2]) == [[1, 4, 8], 2]


def test_atomic_saves_leave_only_the_target(tmp_path):
    target = tmp_path / "deep" / "dir"
    save_torch({"a": torch.arange(3)}, target / "t.pt")
    save_json({"b": 1}, target / "r.json")
    save_csv(pd.DataFrame({"c": [1, 2]}), target / "c.csv")
    assert sorted(p.name for p in target.iterdir()) == ["c.csv", "r.json", "t.pt"]
    assert torch.equal(load_torch(target / "t.pt")["a"], torch.arange(3))
    assert json.loads((target / "r.json").read_text()) == {"b": 1}
    assert pd.read_csv(target / "c.csv")["c"].tolist() == [1, 2]


def test_failure_inside_atomic_path_leaves_the_target_untouched(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old contents")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_path(target) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("killed")
    assert target.read_text() == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_failure_inside_atomic_path_creates_no_target(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "new.pt") as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError
    assert list(tmp_path.iterdir()) == []


SPEC = {"arch": "small_cnn", "in_channels": 1, "num_classes": 3, "options": {"width": 4}}


def trained_looking_model(spec=SPEC, seed=0):
    """A model whose BatchNorm buffers differ from their defaults, so a lost buffer shows."""
    torch.manual_seed(seed)
    model = build_model(spec["arch"], spec["in_channels"], spec["num_classes"], **spec["options"])
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 1, 12, 12))
    return model.eval()


def test_model_file_round_trip_gives_identical_outputs(tmp_path):
    model = trained_looking_model()
    save_model(model, SPEC, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt", expected_spec=SPEC)
    assert not loaded.training
    x = torch.rand(5, 1, 12, 12)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_model_file_with_other_spec_than_expected_is_rejected(tmp_path):
    save_model(trained_looking_model(), SPEC, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="retrain"):
        load_model(tmp_path / "model.pt", expected_spec={**SPEC, "num_classes": 10})


def test_weights_of_another_architecture_are_rejected(tmp_path):
    save_model(trained_looking_model(), {**SPEC, "options": {"width": 8}}, tmp_path / "lying.pt")
    with pytest.raises(CheckpointError, match="different architecture"):
        load_model(tmp_path / "lying.pt")
    other = build_model("small_cnn", 1, 3, width=8)
    with pytest.raises(CheckpointError, match="different architecture"):
        load_state(other, trained_looking_model().state_dict(), "somewhere.pt")


def test_load_model_rejects_files_pags_did_not_write(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(CheckpointError, match="not a model file"):
        load_model(tmp_path / "tensor.pt")
    torch.save({"state_dict": trained_looking_model().state_dict()}, tmp_path / "no_spec.pt")
    with pytest.raises(CheckpointError, match="not a model file"):
        load_model(tmp_path / "no_spec.pt")
    (tmp_path / "garbage.pt").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(DataError, match="delete it and rerun"):
        load_model(tmp_path / "garbage.pt")


def test_load_model_runs_no_code_from_a_pickled_module(tmp_path):
    # weights_only loading refuses arbitrary pickled objects instead of executing them.
    torch.save(nn.Linear(2, 2), tmp_path / "module.pt")
    with pytest.raises(PagsError):
        load_model(tmp_path / "module.pt")


def images(n=64, c=2, h=6, w=5, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_crop_flip_keeps_shape_and_dtype():
    x = images()
    out = random_crop_flip(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype


def test_crop_flip_without_padding_only_mirrors():
    x = images()
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=0)
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert (same | mirrored).all()
    assert same.any() and mirrored.any() and not (same & mirrored).any()


def test_crop_flip_outputs_a_window_of_the_zero_padded_image():
    x, p = images(n=16), 2
    out = random_crop_flip(x, torch.Generator().manual_seed(1), padding=p)
    padded = nn.functional.pad(x, (p, p, p, p))
    h, w = x.shape[-2:]
    shifted = 0
    for i in range(len(x)):
        windows = [
            (r, c)
            for r in range(2 * p + 1)
            for c in range(2 * p + 1)
            for crop in [padded[i, :, r : r + h, c : c + w]]
            if torch.equal(out[i], crop) or torch.equal(out[i], crop.flip(-1))
        ]
        assert windows, f"image {i} is no window of its padded original"
        shifted += (p, p) not in windows
    assert shifted > 0  # some crops really move


def test_crop_flip_is_deterministic_given_the_generator():
    x = images()
    a = random_crop_flip(x, torch.Generator().manual_seed(7))
    b = random_crop_flip(x, torch.Generator().manual_seed(7))
    c = random_crop_flip(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.fixture
def linear():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 4))


def test_input_gradient_of_a_linear_model_is_its_weight_rows(linear):
    x = torch.rand(6, 1, 3, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    weight = linear[1].weight.detach()
    predicted = linear(x).argmax(1)
    expected = {
        "label": weight[y],
        "predicted": weight[predicted],
        "logit_sum": weight.sum(0).expand(6, 12),
    }
    for target, rows in expected.items():
        grad = input_gradient(linear, x, y, target=target)
        assert grad.shape == x.shape
        assert torch.allclose(grad, rows.view(6, 1, 3, 4), atol=1e-6), target
    assert not torch.equal(expected["label"], expected["predicted"])  # the two targets really differ here


def test_input_gradient_argument_errors(linear):
    x = torch.rand(2, 1, 3, 4)
    with pytest.raises(ValueError, match="needs the labels"):
        input_gradient(linear, x, None, target="label")
    with pytest.raises(ValueError, match="gradient target"):
        input_gradient(linear, x, torch.tensor([0, 1]), target="loss")


def test_model_label_says_which_eps_convention():
    per_example = model_label("pgd", 2.5, {"eps_convention": "per_example"})
    batch = model_label("pgd", [1, 4, 8], {"eps_convention": "batch"})
    assert per_example == "PGD-L2, ε = 2.5 (per-example ε)"
    assert batch == "PGD-L2, ε ∈ {1, 4, 8} (batch-shared ε)"
    assert model_label("standard", 0, {}) == "standard"


def test_model_columns_from_a_train_record():
    record = {
        "hparams": {
            "objective": "pgd",
            "strength": [1, 4, 8],
            "seed": 2,
            "objective_options": {"eps_convention": "batch"},
        },
        "test_accuracy": 0.9,
    }
    assert model_columns(record) == {
        "objective": "pgd",
        "strength": "1_4_8",
        "strength_value": 8.0,
        "seed": 2,
        "label": "PGD-L2, ε ∈ {1, 4, 8} (batch-shared ε)",
        "test_accuracy": 0.9,
        "status": "ok",
    }


def test_atomic_saves_get_the_usual_permissions(tmp_path):
    # mkstemp creates 0600 files; results must stay readable to others as umask allows.
    umask = os.umask(0o022)
    try:
        save_json({"a": 1}, tmp_path / "r.json")
    finally:
        os.umask(umask)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644
