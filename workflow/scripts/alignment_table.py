"""Rule alignment_table: per model, score and metric, the mean similarity over images (with its SEM)."""

import pandas as pd
from pags.io import save_csv
from pags.runtime import job_log

with job_log(snakemake) as log:
    rows = pd.concat([pd.read_csv(path, dtype={"strength": str}) for path in snakemake.input], ignore_index=True)
    keys = [c for c in rows.columns if c not in ("image", "similarity")]
    grouped = rows.groupby(keys, sort=False, dropna=False)["similarity"]
    table = grouped.agg(similarity="mean", sem="sem", images="size").reset_index()
    save_csv(table, snakemake.output[0])
    log.info("%d rows from %d models", len(table), len(snakemake.input))
