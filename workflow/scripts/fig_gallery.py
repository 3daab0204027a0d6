"""Rule fig_gallery: paper Figs. 1, 2 and 6-9, images, score and gradients across strengths."""

import json

import pandas as pd

from pags.datasets import load_split
from pags.figures.alignment import SCORE_NAMES, gallery_title, plot_gallery
from pags.figures.style import save_figure
from pags.gradients import input_gradient
from pags.io import load_torch
from pags.labels import model_columns
from pags.models import load_model
from pags.runtime import job_log

with job_log(snakemake.log[0]):
    p = snakemake.params
    n = p.n_images
    test = load_split(snakemake.input.test)
    score = load_torch(snakemake.input.score, what="score")["score"][:n]
    x, y = test.floats()[:n], test.y[:n]
    regimes = pd.read_csv(snakemake.input.regimes, dtype={"strength": str}).set_index(["objective", "strength"])
    columns = []
    for model_path, record_path, alignment_path in zip(snakemake.input.models, snakemake.input.records, snakemake.input.alignment):
        with open(record_path) as f:
            model = model_columns(json.load(f))
        key = (model["objective"], model["strength"])
        alignment = pd.read_csv(alignment_path)
        values = alignment[(alignment["score"] == p.score) & (alignment["metric"] == p.metric)].sort_values("image")
        diverged = model["status"] == "diverged"
        columns.append({
            "title": gallery_title(model["objective"], model["strength_value"]),
            "regime": "" if key[0] == "standard" else regimes.loc[key, "regime"],
            "gradients": x * 0 if diverged else input_gradient(load_model(model_path), x, y, p.gradient),
            "similarity": values["similarity"].to_numpy()[:n],
        })  # fmt: skip
    fig = plot_gallery(x, score, columns, SCORE_NAMES[p.score], p.metric)
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
