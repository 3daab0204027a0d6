"""Rule alignment: similarity of a model's input gradient to each score, per test image;
a gradient is resized to the score's side where the score was taken at another
(``alignment.gradient_resize``)."""

import pandas as pd
import torch
from pags.alignment import load_lpips, metric_functions, similarities
from pags.datasets import load_split
from pags.gradients import input_gradients
from pags.io import load_torch, save_csv
from pags.records import read_trained
from pags.resize import RESCALED_AFTER, gradient_for_alignment
from pags.runtime import job_log, pick_device

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    device = pick_device(snakemake.resources)
    p = snakemake.params.settings
    scores = {b: load_torch(f, what="score")["score"] for b, f in zip(p["backends"], snakemake.input.scores)}
    n = len(next(iter(scores.values())))
    columns, model = read_trained(snakemake.input.model, snakemake.input.record)
    index = pd.MultiIndex.from_product([p["backends"], p["metrics"], range(n)], names=["score", "metric", "image"])
    table = index.to_frame(index=False)
    if model is None:  # diverged in training, no weights: the same rows, every similarity NaN
        table["similarity"] = float("nan")
    else:
        lpips = None
        if "lpips" in p["metrics"]:
            lpips = load_lpips(snakemake.input.alexnet, p["alexnet_sha256"], "weights.alexnet").to(device)
        test = load_split(snakemake.input.test)
        model = model.to(device)
        grads = input_gradients(model, test.floats()[:n], test.y[:n], p["gradient"], device)
        side, rescale = next(iter(scores.values())).shape[-1], True
        if grads.shape[-1] != side:  # scored at another size (224 px ImageNet at 64 px)
            grads = gradient_for_alignment(grads, side, p["gradient_resize"])
            rescale = RESCALED_AFTER[p["gradient_resize"]]
        functions = metric_functions(p["metrics"], lpips, rescale_a=rescale)
        values = []
        for backend in p["backends"]:
            per_metric = similarities(functions, grads.to(device), scores[backend].to(device))
            values += [per_metric[m] for m in p["metrics"]]
        table["similarity"] = torch.cat(values).numpy()
    for i, (column, value) in enumerate(columns.items()):
        table.insert(i, column, value)
    table.insert(len(columns), "gradient", p["gradient"])
    if "gradient_resize" in p:  # the score has a side of its own: how gradients were resized to it
        table.insert(len(columns) + 1, "gradient_resize", p["gradient_resize"])
    save_csv(table, snakemake.output[0])
    log.info("\n%s", table.groupby(["score", "metric"])["similarity"].describe().to_string())
