"""Rule score_quality: each estimated score against the exact one of the synthetic data, per image."""

import pandas as pd

from pags.alignment import load_lpips, metric_functions, similarities
from pags.io import load_torch, save_csv
from pags.runtime import job_log

with job_log(snakemake.log[0]) as log:
    p = snakemake.params
    true = load_torch(snakemake.input.true, what="score")["score"]
    lpips = load_lpips(snakemake.input.alexnet, p.alexnet_sha256, "weights.alexnet") if "lpips" in p.metrics else None
    functions = metric_functions(p.metrics, lpips)
    parts = []
    for backend, path in zip(p.estimated, snakemake.input.estimated):
        estimate = load_torch(path, what="score")["score"]
        for metric, values in similarities(functions, estimate, true[: len(estimate)]).items():
            parts.append(pd.DataFrame({"score": backend, "metric": metric, "image": range(len(values)), "similarity": values.numpy()}))
    table = pd.concat(parts, ignore_index=True)
    save_csv(table, snakemake.output[0])
    log.info("\n%s", table.groupby(["score", "metric"])["similarity"].describe().to_string())
