"""Rule search_round: the strengths of a sweep objective's search after this round
(pags.search): its first strengths at round 0, then the previous round's and what this
round adds, read from the models of the previous round and the standard model's."""

import json

import pandas as pd
from pags.io import save_json
from pags.runtime import job_log
from pags.search import metric_rows, search_round

with job_log(snakemake) as log:
    p = snakemake.params.settings
    if int(snakemake.wildcards.round) == 0:
        strengths, added = p["start"], p["start"]
    else:
        with open(snakemake.input.previous) as f:
            previous = json.load(f)["strengths"]
        read = lambda key: pd.concat(map(pd.read_csv, snakemake.input[key]), ignore_index=True)  # noqa: E731
        models = metric_rows(read("alignment"), read("manifold_robustness"), p["score"], p["metric"], p["plot_step"])
        added = search_round(models, snakemake.wildcards.objective, p["search"], p["max_accuracy_drop"], p["off_below"])
        strengths = sorted(previous + added)
    save_json({"strengths": strengths, "added": added}, snakemake.output[0])
    log.info("round %s adds %s: %d strengths", snakemake.wildcards.round, added or "nothing", len(strengths))
