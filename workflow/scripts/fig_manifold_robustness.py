"""Rule fig_manifold_robustness: paper Fig. 3 (top row) with accuracy, per data set."""

import pandas as pd
from pags.figures.style import save_figure
from pags.figures.sweep import plot_manifold_robustness
from pags.runtime import job_log

with job_log(snakemake):
    datasets = snakemake.params.datasets
    tables = {d: pd.read_csv(path) for d, path in zip(datasets, snakemake.input)}
    fig = plot_manifold_robustness(tables, dict(zip(datasets, snakemake.params.plot_steps)))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
