"""Rule fig_score_alignment: paper Fig. 3 (bottom row), with the regimes shaded."""

import pandas as pd
from pags.figures.alignment import plot_score_alignment
from pags.figures.style import save_figure
from pags.runtime import job_log

with job_log(snakemake):
    p = snakemake.params
    panels = {
        dataset: {
            "alignment": pd.read_csv(alignment, dtype={"strength": str}),
            "regimes": pd.read_csv(regimes, dtype={"strength": str}),
            "metric": metric,
            "score": score,
        }
        for dataset, alignment, regimes, metric, score in zip(
            p.datasets, snakemake.input.alignment, snakemake.input.regimes, p.metrics, p.scores
        )
    }
    save_figure(plot_score_alignment(panels), snakemake.output.pdf, snakemake.output.png)
