"""The sweep on the synthetic data set, end to end on a tiny config, and what reruns
after config edits (adding a strength or a seed, changing one objective)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from workflow_helpers import (
    assert_figure,
    describe,
    nothing_to_be_done,
    planned_job_blocks,
    planned_jobs,
    run_snakemake,
    tiny_config,
    updated_config,
    write_config,
)

pytestmark = pytest.mark.slow

SWEEP_FIGURES = [
    "fig_manifold_robustness",
    "fig_tangent_noise",
    "fig_ground_truth",
    "fig_score_alignment",
    "fig_gallery",
]
# fig_gallery draws one gallery per objective and the named one
GALLERIES = ["fig_gallery_synthetic_gnorm", "fig_gallery_synthetic_randsmooth", "fig_gallery_picked"]
METRICS = ["lpips", "cosine", "ssim"]


def tiny_sweep_config():
    config = tiny_config()
    config["synthetic"] = {"image_shape": [1, 8, 8], "k_signal": 2, "k_distractor": 2, "n_train": 300, "n_test": 40}
    config["sweep"] = {
        "synthetic": {
            "model": {"arch": "small_cnn", "options": {"width": 4, "pool": 2}},
            "training": {"epochs": 2, "batch_size": 64, "lr": 0.05, "milestones": [1], "amp": False},
            "seeds": [0],
            "objectives": {
                "standard": {"grid": [0]},
                # 1e35 makes the loss overflow: a diverged point the sweep must survive
                "gnorm": {"grid": [0.01, 0.1, 1e35]},
                "randsmooth": {"grid": [0.1]},
            },
            "autoencoder": {"latent_dim": 4, "width": 4, "epochs": 2, "batch_size": 64},
            "manifold_robustness": {
                "n_images": 8,
                "step_sizes": [0.5, 1.0],
                "plot_step": 0.5,
                "small_noise_draws": 4,
            },
            "score": {
                "backends": ["trained", "analytic", "posterior_trained"],
                "sigma": 0.3,
                "n_images": 8,
                "batch_size": 8,
                "denoiser": {
                    "block_channels": [8, 16],
                    "layers_per_block": 1,
                    "epochs": 1,
                    "batch_size": 64,
                    "label_dropout": 0.2,
                },
            },
            "alignment": {"metrics": METRICS},
            "regimes": {"metric": "cosine", "score": "trained"},
        }
    }
    config["figures"] = {
        "gallery": {"n_images": 2, "n_strengths": 2},
        # test images beyond the 8 scored for alignment, and a diverged model
        "galleries": {
            "picked": {"dataset": "synthetic", "objective": "gnorm", "strengths": [1e35, 0.1], "images": [30, 5]}
        },
    }
    return config


def fake_alexnet(path):
    """A randomly initialised AlexNet as LPIPS's backbone (the real one needs the internet);
    the config pins its hash, so the run exercises the whole LPIPS path."""
    import torch
    import torchvision
    from pags.weights import sha256_file

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.alexnet().state_dict(), path)
    return {"url": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "sha256": sha256_file(path)}


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("sweep")
    config = tiny_sweep_config()
    config["weights"] = {"alexnet": fake_alexnet(workdir / "results" / "weights" / "alexnet")}
    configfile = write_config(workdir / "config.yaml", config)
    proc = run_snakemake(workdir, configfile, *SWEEP_FIGURES, "claims")
    assert proc.returncode == 0, describe(proc)
    return workdir, configfile, config


def test_sweep_figures_are_written(sweep_run):
    workdir, _, _ = sweep_run
    for name in [f for f in SWEEP_FIGURES if f != "fig_gallery"] + GALLERIES:
        for ext in ("pdf", "png"):
            assert_figure(workdir / "results" / "figures" / f"{name}.{ext}")


def test_manifold_table_has_one_row_per_model_tangent_and_step(sweep_run):
    workdir, _, _ = sweep_run
    table = pd.read_csv(workdir / "results" / "synthetic" / "tables" / "manifold_robustness.csv")
    models = table[["objective", "strength", "seed"]].drop_duplicates()
    # 5 trained models and the Bayes-optimal reference
    assert sorted(models["objective"]) == ["bayes", "gnorm", "gnorm", "gnorm", "randsmooth", "standard"]
    assert len(table) == len(models) * 2 * 2  # tangent spaces (estimated, exact) x step sizes
    assert set(table["tangent"]) == {"autoencoder", "true"}
    trained = table[table["status"] == "ok"]
    for column in ("on_change", "off_change", "gradient_tangent_fraction", "gradient_signal_fraction"):
        assert trained[column].between(0, 2).all(), column
    assert trained[["gradient_tangent_fraction", "gradient_signal_fraction"]].le(1 + 1e-6).all().all()


def test_a_diverged_model_is_recorded_not_dropped(sweep_run):
    workdir, _, _ = sweep_run
    table = pd.read_csv(
        workdir / "results" / "synthetic" / "tables" / "manifold_robustness.csv", dtype={"strength": str}
    )
    diverged = table[table["status"] == "diverged"]
    assert set(zip(diverged["objective"], diverged["strength"])) == {("gnorm", "1e35")}
    assert len(diverged) == 2 * 2  # still one row per tangent space and step size ...
    assert diverged[["on_change", "off_change", "test_accuracy"]].isna().all().all()  # ... with no numbers
    log = (workdir / "results/logs/synthetic/train/gnorm/1e35/seed=0.log").read_text()
    assert "TrainingDiverged" in log and "Fix:" in log


def test_bayes_optimal_gradient_lies_in_the_signal_space(sweep_run):
    workdir, _, _ = sweep_run
    table = pd.read_csv(workdir / "results" / "synthetic" / "tables" / "manifold_robustness.csv")
    bayes = table[(table["objective"] == "bayes") & (table["tangent"] == "true")]
    assert np.allclose(bayes["gradient_signal_fraction"], 1, atol=1e-5)
    assert np.allclose(bayes["gradient_tangent_fraction"], 1, atol=1e-5)
    # so it does not change at all along directions off the exact manifold
    assert np.allclose(bayes["off_change"], 0, atol=1e-5)


def test_tangent_quality_angles_are_degrees_in_range(sweep_run):
    workdir, _, _ = sweep_run
    quality = pd.read_csv(workdir / "results" / "synthetic" / "tables" / "tangent_quality.csv")
    assert quality["angle_deg"].between(0, 90).all()
    assert set(quality["index"]) == set(range(4))  # min(true dimension 4, latent 4)
    assert quality["image"].nunique() == 8


def test_alignment_has_a_row_per_model_score_metric_and_image(sweep_run):
    workdir, _, _ = sweep_run
    rows = pd.read_csv(workdir / "results/synthetic/metrics/gnorm/0.1/seed=0/alignment.csv")
    # scores (trained, exact score, trained and exact posterior gradient) x metrics x images
    assert len(rows) == 4 * len(METRICS) * 8
    assert set(rows["score"]) == {"trained", "analytic", "posterior_trained", "posterior"}
    assert set(rows["gradient"]) == {"logit_sum"}  # an unconditional score: the sum of logits
    assert rows["similarity"].between(-1, 1).all()
    table = pd.read_csv(workdir / "results/synthetic/tables/alignment.csv", dtype={"strength": str})
    assert len(table) == 5 * 4 * len(METRICS) and (table["images"] == 8).all()
    diverged = table[table["status"] == "diverged"]
    assert set(diverged["strength"]) == {"1e35"} and diverged["similarity"].isna().all()


def test_score_quality_compares_each_estimate_with_the_exact_one(sweep_run):
    """The trained score against the exact score; grad log p(y | x) from the same denoiser
    (its label's score minus its null class's) against the exact posterior gradient."""
    workdir, _, _ = sweep_run
    quality = pd.read_csv(workdir / "results/synthetic/tables/score_quality.csv")
    pairs = set(zip(quality["score"], quality["reference"]))
    assert pairs == {("trained", "analytic"), ("posterior_trained", "posterior")} and set(quality["metric"]) == set(
        METRICS
    )
    assert len(quality) == 2 * len(METRICS) * 8 and quality["similarity"].between(-1, 1).all()


def test_claims_are_checked_on_the_runs_tables(sweep_run):
    workdir, _, _ = sweep_run
    claims = pd.read_csv(workdir / "results/claims.csv")
    assert set(claims["verdict"]) <= {"holds", "fails", "not measured"}
    by_claim = claims.groupby("claim")["dataset"].agg(set)
    assert by_claim["noise_robustness"] == {"digits_distractor"}
    assert {"synthetic", "cifar10"} <= by_claim["alignment_peak"]  # measured here, not measured for CIFAR-10
    assert set(claims.loc[claims["claim"] == "theorem3", "objective"]) == {"standard", "gnorm", "randsmooth", "bayes"}
    # the exact Bayes-optimal gradient lies in the signal space
    assert claims.loc[claims["claim"] == "theorem4", "verdict"].tolist() == ["holds"]
    unmeasured = claims[claims["verdict"] == "not measured"]
    assert unmeasured["detail"].str.len().gt(0).all() and unmeasured["value"].isna().all()
    assert (workdir / "results/claims.md").read_text().startswith("Claims: ")
    assert "<table" in (workdir / "results/claims.html").read_text()


def test_every_swept_strength_gets_a_regime(sweep_run):
    workdir, _, _ = sweep_run
    regimes = pd.read_csv(workdir / "results/synthetic/tables/regimes.csv", dtype={"strength": str})
    labelled = dict(zip(zip(regimes["objective"], regimes["strength"]), regimes["regime"]))
    assert set(labelled) == {("gnorm", "0.01"), ("gnorm", "0.1"), ("gnorm", "1e35"), ("randsmooth", "0.1")}
    assert labelled[("gnorm", "1e35")] == "diverged"
    assert set(labelled.values()) <= {"weak", "Bayes-aligned", "excessive", "diverged"}
    assert (regimes["score"] == "trained").all() and (regimes["metric"] == "cosine").all()


def dry_run_after(sweep_run, path, value):
    workdir, _, config = sweep_run
    edited = write_config(workdir / "edited.yaml", updated_config(config, path, value))
    proc = run_snakemake(workdir, edited, *SWEEP_FIGURES, "-n")
    assert proc.returncode == 0, describe(proc)
    return proc


def trained(proc):
    return sorted(
        (j["wildcards"]["objective"], j["wildcards"]["strength"], j["wildcards"]["seed"])
        for j in planned_job_blocks(proc)
        if j["rule"] == "train_model"
    )


def test_nothing_to_do_after_the_sweep(sweep_run):
    workdir, configfile, _ = sweep_run
    proc = run_snakemake(workdir, configfile, *SWEEP_FIGURES, "-n")
    assert nothing_to_be_done(proc), describe(proc)


def test_adding_a_strength_trains_only_that_model(sweep_run):
    proc = dry_run_after(sweep_run, ["sweep", "synthetic", "objectives", "gnorm", "grid"], [0.01, 0.1, 1e35, 1.0])
    assert trained(proc) == [("gnorm", "1", "0")], describe(proc)
    assert planned_jobs(proc)["manifold_robustness"] == 1


def test_adding_a_seed_trains_only_the_new_seed(sweep_run):
    proc = dry_run_after(sweep_run, ["sweep", "synthetic", "seeds"], [0, 1])
    assert trained(proc) == [
        ("gnorm", "0.01", "1"),
        ("gnorm", "0.1", "1"),
        ("gnorm", "1e35", "1"),
        ("randsmooth", "0.1", "1"),
        ("standard", "0", "1"),
    ], describe(proc)
    assert "train_autoencoder" not in planned_jobs(proc)


def test_changing_one_objective_retrains_only_it(sweep_run):
    proc = dry_run_after(sweep_run, ["sweep", "synthetic", "objectives", "gnorm", "penalty_scale"], 2.0)
    assert trained(proc) == [("gnorm", "0.01", "0"), ("gnorm", "0.1", "0"), ("gnorm", "1e35", "0")], describe(proc)


def test_changing_a_metric_option_retrains_nothing(sweep_run):
    proc = dry_run_after(sweep_run, ["sweep", "synthetic", "manifold_robustness", "small_noise_draws"], 8)
    jobs = planned_jobs(proc)
    assert "train_model" not in jobs and "train_autoencoder" not in jobs, describe(proc)
    assert jobs["manifold_robustness"] == 5 and jobs["bayes_manifold_robustness"] == 1


def test_changing_the_regime_rule_reruns_only_the_regimes_and_their_figures(sweep_run):
    proc = dry_run_after(sweep_run, ["sweep", "synthetic", "regimes", "aligned_fraction"], 0.5)
    assert set(planned_jobs(proc)) == {"regimes", "fig_score_alignment", "fig_gallery", *GALLERIES}, describe(proc)


def test_changing_the_score_sigma_rescores_without_retraining(sweep_run):
    proc = dry_run_after(sweep_run, ["sweep", "synthetic", "score", "sigma"], 0.2)
    jobs = planned_jobs(proc)
    assert jobs["score"] == 4 and jobs["alignment"] == 5, describe(proc)
    assert not {"train_model", "train_denoiser", "manifold_robustness"} & set(jobs), describe(proc)


def test_changing_the_metrics_recomputes_alignment_not_scores(sweep_run):
    proc = dry_run_after(sweep_run, ["sweep", "synthetic", "alignment", "metrics"], ["cosine"])
    jobs = planned_jobs(proc)
    assert jobs["alignment"] == 5 and "score" not in jobs and "train_model" not in jobs, describe(proc)


# ---- galleries ----------------------------------------------------------------------

SCORES = "results/synthetic/score/trained/sigma=0.3"


def test_a_gallery_scores_its_own_images_as_the_score_rule_does(sweep_run):
    """The per-objective galleries show test images 0 and 1, the named one 30 and 5 (not
    among the 8 scored for alignment): each set has its own score file, and where the
    images are also in the main score file, the values agree."""
    workdir, _, _ = sweep_run
    main = torch.load(workdir / SCORES / "uncond.pt", weights_only=True)["score"]
    first = torch.load(workdir / SCORES / "uncond/images=0_1.pt", weights_only=True)["score"]
    picked = torch.load(workdir / SCORES / "uncond/images=30_5.pt", weights_only=True)["score"]
    assert len(main) == 8 and len(picked) == 2
    torch.testing.assert_close(first, main[:2], rtol=1e-4, atol=1e-6)
    test = torch.load(workdir / "results/synthetic/data/test.pt", weights_only=True)
    images = torch.load(workdir / "results/synthetic/data/test/images=30_5.pt", weights_only=True)
    assert torch.equal(images["x"], test["x"][[30, 5]]) and torch.equal(images["y"], test["y"][[30, 5]])


def gallery_alignment(workdir, gallery):
    """(objective, strength) -> per-image similarity, as the gallery job logged them."""
    log = (workdir / f"results/logs/figures/{gallery}.log").read_text()
    found = re.findall(r"(\w+) ([0-9.e_-]+): cosine per image \[([^\]]*)\]", log)
    return {(o, s): [float(v) for v in values.split(",")] for o, s, values in found}


def test_a_gallery_shows_the_alignment_the_tables_hold(sweep_run):
    """Computed in the gallery job for its images: equal to the alignment job's values at
    the images both have; NaN for the diverged model, whose panel stays empty."""
    workdir, _, _ = sweep_run
    shown = gallery_alignment(workdir, "fig_gallery_synthetic_gnorm")
    assert set(shown) == {("standard", "0"), ("gnorm", "0.01"), ("gnorm", "1e35")}, shown
    rows = pd.read_csv(workdir / "results/synthetic/metrics/gnorm/0.01/seed=0/alignment.csv")
    rows = rows[(rows["score"] == "trained") & (rows["metric"] == "cosine")].sort_values("image")
    # the log rounds to 4 decimals
    np.testing.assert_allclose(shown[("gnorm", "0.01")], rows["similarity"].to_numpy()[:2], atol=1e-4)
    assert np.isnan(shown[("gnorm", "1e35")]).all()
    picked = gallery_alignment(workdir, "fig_gallery_picked")
    assert list(picked) == [("standard", "0"), ("gnorm", "1e35"), ("gnorm", "0.1")], picked  # the config's order
    assert all(len(v) == 2 for v in picked.values())


def test_editing_a_named_gallery_reruns_that_gallery_only(sweep_run):
    proc = dry_run_after(sweep_run, ["figures", "galleries", "picked", "strengths"], [0.01, 0.1])
    assert planned_jobs(proc) == {"fig_gallery_picked": 1, "fig_gallery": 1}, describe(proc)


def test_other_gallery_images_score_those_images_only(sweep_run):
    """No rerun of the scores or the alignment of the models: one small score file."""
    proc = dry_run_after(sweep_run, ["figures", "galleries", "picked", "images"], [30, 5, 12])
    assert planned_jobs(proc) == {"test_images": 1, "score_images": 1, "fig_gallery_picked": 1, "fig_gallery": 1}, (
        describe(proc)
    )
    [job] = [j for j in planned_job_blocks(proc) if j["rule"] == "score_images"]
    assert job["wildcards"]["images"] == "30_5_12", job


def test_a_new_gallery_of_scored_images_reuses_their_score(sweep_run):
    _, _, config = sweep_run
    galleries = {
        **config["figures"]["galleries"],
        "more": {"dataset": "synthetic", "objective": "randsmooth", "strengths": [0.1], "images": [0, 1]},
    }
    proc = dry_run_after(sweep_run, ["figures", "galleries"], galleries)
    assert planned_jobs(proc) == {"fig_gallery_more": 1, "fig_gallery": 1}, describe(proc)
