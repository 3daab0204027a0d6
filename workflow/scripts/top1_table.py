"""Rule top1_table: measured against published top-1 of every member of a pretrained family."""

import json
from pathlib import Path

import pandas as pd
from pags.io import save_csv
from pags.runtime import job_log

COLUMNS = ["family", "eps", "published_top1", "measured_top1", "difference", "flagged", "top1_images"]

with job_log(snakemake) as log:
    records = [json.loads(Path(path).read_text()) for path in snakemake.input]
    table = pd.DataFrame([{c: r[c] for c in COLUMNS} for r in records]).sort_values("eps", ignore_index=True)
    save_csv(table, snakemake.output[0])
    log.info("\n%s", table.to_string())
    if table["flagged"].any():
        log.warning(
            "top-1 differs from the published value by more than the tolerance for eps %s",
            table.loc[table["flagged"], "eps"].tolist(),
        )
