"""Rule fig_noise_robustness: paper Fig. 5 from the noise-robustness table."""

import pandas as pd
from pags.figures.noise_robustness import plot_noise_robustness
from pags.figures.style import save_figure
from pags.runtime import job_log

with job_log(snakemake):
    fig = plot_noise_robustness(pd.read_csv(snakemake.input[0]))
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
