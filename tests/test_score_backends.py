"""Score backends as one module each (``pags.score.backends``): the registry against the
schema, the spec's checks, and what the workflow derives from the specs."""

from __future__ import annotations

import pytest
from pags.plan import Plan
from pags.schema import config_schema
from pags.score.backends import BACKENDS, ScoreBackendSpec, exact_reference, get_backend


def test_the_schema_names_exactly_the_registered_backends():
    assert config_schema()["$defs"]["score_backend"]["enum"] == list(BACKENDS)


def test_each_estimate_is_checked_against_the_exact_quantity_it_estimates():
    assert {name: exact_reference(name) for name in BACKENDS} == {
        "analytic": "analytic",
        "edm": "analytic",
        "posterior": "posterior",
        "posterior_edm": "posterior",
        "posterior_trained": "posterior",
        "trained": "analytic",
    }
    assert [n for n, s in BACKENDS.items() if s.exact] == ["analytic", "posterior"]
    assert {n for n, s in BACKENDS.items() if s.edm} == {"edm", "posterior_edm"}
    assert {n for n, s in BACKENDS.items() if s.denoiser} == {"trained", "posterior_trained"}


def test_an_unknown_backend_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown score backend 'ddpm'; known: .*'trained'"):
        get_backend("ddpm")


@pytest.mark.parametrize(
    "changes, message",
    [({"name": "Gauss"}, "lower-case"), ({"label": ""}, "label is empty"), ({"load": None}, "load must be a callable")],
)
def test_a_malformed_spec_is_an_error(changes, message):
    parts = dict(name="gauss", label="Gaussian score", inputs=lambda d, s: {}, load=lambda context: None)
    with pytest.raises(ValueError, match=message):
        ScoreBackendSpec(**{**parts, **changes})


def synthetic_plan(backends: list[str], conditional: bool = False) -> Plan:
    from pags.config import validated_config
    from workflow_helpers import tiny_config

    config = tiny_config()
    config["synthetic"] = {"image_shape": [1, 8, 8], "k_signal": 2, "k_distractor": 2, "n_train": 30, "n_test": 20}
    config["sweep"] = {
        "synthetic": {
            "model": {"arch": "small_cnn", "options": {"width": 4, "pool": 2}},
            "training": {"epochs": 1, "batch_size": 8, "lr": 0.05, "milestones": []},
            "objectives": {"standard": {"grid": [0]}, "gnorm": {"grid": [0.1]}},
            "autoencoder": {"latent_dim": 4, "width": 4},
            "manifold_robustness": {"n_images": 4, "step_sizes": [0.5], "plot_step": 0.5},
            "score": {
                "backends": backends,
                "conditional": conditional,
                "n_images": 4,
                "denoiser": {"block_channels": [8, 16], "label_dropout": 0.2},
            },
            "alignment": {"metrics": ["cosine"]},
            "regimes": {"metric": "cosine"},
        }
    }
    config["figures"] = {"gallery": {"n_images": 2}, "tangent_noise_examples": 2}
    return Plan(validated_config(config))


def test_the_plan_takes_inputs_files_and_references_from_the_specs():
    from types import SimpleNamespace

    plan = synthetic_plan(["trained", "posterior_trained"])
    assert plan.alignment_backends("synthetic") == ["trained", "posterior_trained", "analytic", "posterior"]
    assert plan.score_quality_backends() == ["trained", "posterior_trained"]
    # grad log p(y | x) is conditional by definition; the score is as configured
    assert plan.score_file("synthetic", "posterior_trained").endswith("/cond.pt")
    assert plan.score_file("synthetic", "trained").endswith("/uncond.pt")
    assert plan.denoiser_conditional("synthetic")  # its null class gives the unconditional score
    assert not synthetic_plan(["trained"]).denoiser_conditional("synthetic")
    w = SimpleNamespace(dataset="synthetic", backend="analytic")
    assert set(plan.score_inputs(w)) == {"test", "manifold"}
    assert plan.score_key(w) == "sweep.synthetic.score"
    assert set(plan.score_inputs(SimpleNamespace(dataset="synthetic", backend="trained"))) == {"test", "denoiser"}
