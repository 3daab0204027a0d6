"""Rules fig_gallery_<name>: one gallery (paper Figs. 1, 2 and 6-9), test images, their
score and input gradients across strengths, each with its regime and its per-image
alignment (computed here, for the gallery's images only)."""

import pandas as pd
import torch
from pags.alignment import load_lpips, metric_functions, similarities
from pags.datasets import load_split
from pags.figures.gallery import gallery_heading, gallery_title, plot_gallery
from pags.figures.style import save_figure
from pags.gradients import input_gradient
from pags.io import load_torch
from pags.records import read_trained
from pags.resize import RESCALED_AFTER, gradient_for_alignment
from pags.runtime import job_log
from pags.score.backends import get_backend

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    p = snakemake.params
    gallery = p.gallery
    images = load_split(snakemake.input.images)
    x, y = images.floats(), images.y
    score = load_torch(snakemake.input.score, what="score")["score"]
    if len(score) != len(x):
        raise RuntimeError(f"the score file holds {len(score)} images, the gallery shows {len(x)}")
    lpips = load_lpips(snakemake.input.alexnet, p.alexnet_sha256, "weights.alexnet") if p.metric == "lpips" else None
    resized = p.get("gradient_resize")  # where the score was taken at another size
    similarity = metric_functions([p.metric], lpips, rescale_a=resized is None or RESCALED_AFTER[resized])
    regimes = pd.read_csv(snakemake.input.regimes, dtype={"strength": str}).set_index(["objective", "strength"])
    columns = []
    for model_path, record_path in zip(snakemake.input.models, snakemake.input.records):
        model, network = read_trained(model_path, record_path)
        key = (model["objective"], model["strength"])
        if network is None:  # diverged in training, no weights: an empty panel, no number
            gradients, values = torch.zeros_like(x), torch.full((len(x),), float("nan"))
        else:
            gradients = input_gradient(network, x, y, p.gradient).detach()
            compared = gradients
            if compared.shape[-1] != score.shape[-1]:  # a score taken at another size
                compared = gradient_for_alignment(compared, score.shape[-1], p.gradient_resize)
            values = similarities(similarity, compared, score)[p.metric]
        columns.append(
            {
                "title": gallery_title(*key),
                "regime": "" if key[0] == "standard" else regimes.loc[key, "regime"],
                "gradients": gradients,
                "similarity": values.numpy(),
            }
        )
        log.info("%s %s: %s per image %s", *key, p.metric, [round(float(v), 4) for v in values])
    fig = plot_gallery(
        x,
        score,
        columns,
        get_backend(p.score).label,
        p.metric,
        title=gallery_heading(gallery["dataset"], gallery["objective"], p.get("gradient_resize"), score.shape[-1]),
        image_labels=[f"test #{i}" for i in gallery["images"]],
    )
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
