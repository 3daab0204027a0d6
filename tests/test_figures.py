"""Figures drawn from small fabricated tables: legends explain what is drawn and nothing
else, and never make the figure wider than its panels."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from pags.figures.alignment import plot_score_alignment  # noqa: E402
from pags.figures.gallery import gallery_title, plot_gallery  # noqa: E402
from pags.figures.sweep import plot_manifold_robustness  # noqa: E402

STEP = 2.637
GRIDS = {"standard": [0.0], "gnorm": [0.01, 0.1, 1.0], "pgd": [0.1, 1.0, 10.0]}


def manifold_table(tangents=("autoencoder",), diverged=()) -> pd.DataFrame:
    """One row per model, tangent space and step, as the manifold_robustness table;
    ``diverged``: (objective, strength) pairs with status diverged and NaN values."""
    rng = np.random.default_rng(0)
    rows = []
    for objective, grid in GRIDS.items():
        for strength in grid:
            failed = (objective, strength) in diverged
            for tangent in tangents:
                for step in (1.438, STEP):
                    rows.append(
                        {
                            "objective": objective,
                            "strength": f"{strength:g}",
                            "strength_value": strength,
                            "seed": 0,
                            "tangent": tangent,
                            "step_size": step,
                            "status": "diverged" if failed else "ok",
                            "on_change": math.nan if failed else rng.uniform(),
                            "off_change": math.nan if failed else rng.uniform(),
                            "test_accuracy": math.nan if failed else 0.9,
                        }
                    )
    return pd.DataFrame(rows)


def legend_texts(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_manifold_legend_lists_only_what_is_drawn():
    fig = plot_manifold_robustness({"cifar10": manifold_table()}, {"cifar10": STEP})
    texts = legend_texts(fig)
    plt.close(fig)
    assert "exact tangent space" not in texts and "diverged in training" not in texts, texts
    assert {"on-manifold", "off-manifold", "test accuracy", "estimated tangent space", "standard model"} <= set(texts)


def test_manifold_legend_names_exact_tangents_and_divergence_where_drawn():
    table = manifold_table(tangents=("autoencoder", "true"), diverged={("gnorm", 1.0)})
    fig = plot_manifold_robustness({"synthetic": table}, {"synthetic": STEP})
    texts = legend_texts(fig)
    plt.close(fig)
    assert "exact tangent space" in texts and "diverged in training" in texts, texts


def test_manifold_figure_says_when_the_standard_model_diverged():
    fig = plot_manifold_robustness({"cifar10": manifold_table(diverged={("standard", 0.0)})}, {"cifar10": STEP})
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    texts = legend_texts(fig)
    plt.close(fig)
    assert "standard model diverged: no reference" in notes and "standard model" not in texts, (notes, texts)


@pytest.mark.parametrize("tangents", [("autoencoder",), ("autoencoder", "true")])
def test_manifold_legend_fits_in_the_figure_width(tangents):
    """Two objectives: the legend wraps into rows rather than widening the figure (it was
    once one row twice as wide as the panels, which left half the saved figure empty)."""
    fig = plot_manifold_robustness({"cifar10": manifold_table(tangents, {("pgd", 10.0)})}, {"cifar10": STEP})
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert fig.legends[0].get_window_extent(renderer).width <= fig.bbox.width
    assert fig.get_tightbbox(renderer).width <= fig.get_size_inches()[0] * 1.02
    plt.close(fig)


def alignment_panel(regimes: dict[tuple[str, float], str], diverged=()) -> dict:
    rows, labelled = [], []
    for objective, grid in GRIDS.items():
        for strength in grid:
            failed = (objective, strength) in diverged
            rows.append(
                {
                    "objective": objective,
                    "strength": f"{strength:g}",
                    "strength_value": strength,
                    "seed": 0,
                    "score": "edm",
                    "metric": "lpips",
                    "status": "diverged" if failed else "ok",
                    "similarity": math.nan if failed else 0.3,
                    "test_accuracy": math.nan if failed else 0.9,
                }
            )
            if objective != "standard":
                labelled.append(
                    {
                        "objective": objective,
                        "strength_value": strength,
                        "regime": "diverged" if failed else regimes.get((objective, strength), "weak"),
                    }
                )
    return {"alignment": pd.DataFrame(rows), "regimes": pd.DataFrame(labelled), "metric": "lpips", "score": "edm"}


def test_score_alignment_legend_lists_only_the_regimes_shaded():
    fig = plot_score_alignment({"cifar10": alignment_panel({("gnorm", 0.1): "Bayes-aligned"})})
    texts = legend_texts(fig)
    plt.close(fig)
    assert texts == ["weak", "Bayes-aligned", "standard model"], texts


def test_score_alignment_legend_names_divergence_where_drawn():
    panel = alignment_panel({("pgd", 10.0): "excessive"}, diverged={("gnorm", 1.0)})
    fig = plot_score_alignment({"cifar10": panel})
    texts = legend_texts(fig)
    plt.close(fig)
    assert texts == ["weak", "excessive", "standard model", "diverged in training"], texts


def test_score_alignment_shows_the_standard_models_noise_band():
    panel = alignment_panel({("gnorm", 0.1): "Bayes-aligned"})
    panel["regimes"] = panel["regimes"].assign(
        reference_alignment=0.3, reference_se=0.01, reference_status="ok", noise_k=2.0
    )
    fig = plot_score_alignment({"cifar10": panel})
    texts = legend_texts(fig)
    bands = [p for ax in fig.axes for p in ax.patches if p.get_alpha() == 0.1]
    plt.close(fig)
    assert "standard ± noise (no gain within)" in texts, texts
    assert bands, "no noise band drawn"
    assert (bands[0].get_y(), bands[0].get_y() + bands[0].get_height()) == pytest.approx((0.28, 0.32))


def test_a_diverged_standard_model_is_named_and_its_regimes_hatched_not_coloured():
    panel = alignment_panel({}, diverged={("standard", 0.0)})
    panel["regimes"] = panel["regimes"].assign(
        regime="undefined",
        reference_alignment=math.nan,
        reference_se=math.nan,
        reference_status="diverged",
        noise_k=2.0,
    )
    fig = plot_score_alignment({"cifar10": panel})
    texts = legend_texts(fig)
    notes = [t.get_text() for ax in fig.axes for t in ax.texts]
    plt.close(fig)
    assert texts[0] == "undefined (no reference)" and not {"weak", "Bayes-aligned", "excessive"} & set(texts), texts
    assert any("standard model diverged" in n for n in notes), notes


def test_gallery_titles_use_the_grid_strings():
    assert gallery_title("gnorm", "0.07279") == "λ=0.07279"
    assert gallery_title("pgd", "1_4_8") == "ε∈{1, 4, 8}"
    assert gallery_title("standard", "0") == "standard"


def test_gallery_draws_one_row_per_image_and_marks_a_missing_number():
    images, score = torch.rand(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    columns = [
        {"title": "standard", "regime": "", "gradients": torch.randn(2, 3, 8, 8), "similarity": np.array([0.5, 0.25])},
        {
            "title": "λ=1e35",
            "regime": "diverged",
            "gradients": torch.zeros(2, 3, 8, 8),
            "similarity": np.full(2, np.nan),
        },
    ]
    fig = plot_gallery(
        images,
        score,
        columns,
        "EDM score",
        "lpips",
        title="cifar10: gradient norm",
        image_labels=["test #7908", "test #2649"],
    )
    axes = np.array(fig.axes).reshape(2, 4)
    assert axes[0, 2].get_title() == "standard\n \n0.50" and axes[1, 3].get_title() == "–"
    assert axes[1, 0].get_ylabel() == "test #2649"
    plt.close(fig)


FIGURE_SCRIPT = """
import sys
import torch
from pags.figures.distractor import plot_distractor
from pags.figures.style import save_figure

x = torch.linspace(0, 1, 2 * 56 * 28).reshape(2, 1, 56, 28)
gradients = {"standard": torch.sin(40 * x) * x}
fig = plot_distractor(x, (x + 0.3).clamp(0, 1), x.flip(-1), gradients, 0.3)
save_figure(fig, sys.argv[1] + ".pdf", sys.argv[1] + ".png")
"""


def test_figures_ignore_the_users_matplotlibrc(tmp_path):
    """A matplotlibrc that asks for LaTeX text (absent on most compute nodes) and bicubic
    image interpolation changes nothing: the same figure, pixel for pixel, as without one."""
    import subprocess
    import sys

    from PIL import Image
    from workflow_helpers import REPO, subprocess_env

    hostile = tmp_path / "hostile"
    hostile.mkdir()
    (hostile / "matplotlibrc").write_text("text.usetex: True\nimage.interpolation: bicubic\nfont.size: 30\n")
    (tmp_path / "clean").mkdir()
    pixels = []
    for config in ("clean", "hostile"):
        env = {**subprocess_env(), "MPLCONFIGDIR": str(tmp_path / config), "PYTHONPATH": str(REPO / "workflow")}
        out = tmp_path / f"figure_{config}"
        proc = subprocess.run(
            [sys.executable, "-c", FIGURE_SCRIPT, str(out)], env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        pixels.append(np.asarray(Image.open(f"{out}.png")))
    assert pixels[0].shape == pixels[1].shape and np.array_equal(pixels[0], pixels[1])
