"""Rule score_quality: each estimate against the exact quantity of the synthetic data it
estimates, per image: a score against the exact score, an estimate of grad log p(y | x)
(posterior_trained, posterior_edm) against the exact posterior gradient."""

import pandas as pd
from pags.alignment import load_lpips, metric_functions, similarities
from pags.io import load_torch, save_csv
from pags.runtime import job_log

with job_log(snakemake) as log:
    p = snakemake.params
    lpips = load_lpips(snakemake.input.alexnet, p.alexnet_sha256, "weights.alexnet") if "lpips" in p.metrics else None
    functions = metric_functions(p.metrics, lpips)
    parts = []
    for backend, path, reference in zip(p.estimated, snakemake.input.estimated, p.references):
        estimate = load_torch(path, what="score")["score"]
        true = load_torch(snakemake.input[reference], what="score")["score"]
        for metric, values in similarities(functions, estimate, true[: len(estimate)]).items():
            parts.append(
                pd.DataFrame(
                    {
                        "score": backend,
                        "reference": reference,
                        "metric": metric,
                        "image": range(len(values)),
                        "similarity": values.numpy(),
                    }
                )
            )
    table = pd.concat(parts, ignore_index=True)
    save_csv(table, snakemake.output[0])
    log.info("\n%s", table.groupby(["score", "reference", "metric"])["similarity"].describe().to_string())
