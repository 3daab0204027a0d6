"""Rule fig_ground_truth: estimators and theorems checked on the synthetic data set."""

import numpy as np
import pandas as pd
from pags.figures.style import save_figure
from pags.figures.sweep import plot_ground_truth
from pags.runtime import job_log

with job_log(snakemake):
    robustness = pd.read_csv(snakemake.input.robustness)
    robustness = robustness[np.isclose(robustness["step_size"], snakemake.params.plot_step)]
    fig = plot_ground_truth(
        robustness,
        pd.read_csv(snakemake.input.tangents),
        pd.read_csv(snakemake.input.score_quality),
        pd.read_csv(snakemake.input.alignment, dtype={"strength": str}),
        snakemake.params.metric,
    )
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
