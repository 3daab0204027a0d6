"""Rules *_table: join the per-model tables of a data set into one tidy table."""

import pandas as pd
from pags.io import save_csv
from pags.runtime import job_log

with job_log(snakemake) as log:
    # Strengths stay the canonical strings of the paths ("1e35", not 1e+35).
    table = pd.concat([pd.read_csv(path, dtype={"strength": str}) for path in snakemake.input], ignore_index=True)
    save_csv(table, snakemake.output[0])
    log.info("%d rows from %d models", len(table), len(snakemake.input))
