"""Rule claims: the paper's claims checked on the run's tables (pags.claims), as a tidy
CSV, a Markdown table, an HTML table for the report and the verdict for its front page
(pags.verdict)."""

import pandas as pd
from pags.claims import claims_markdown, evaluate_claims
from pags.io import atomic_path, save_csv
from pags.runtime import job_log
from pags.verdict import front_page

with job_log(snakemake) as log:
    p = snakemake.params
    read = lambda key: pd.read_csv(snakemake.input[key], dtype={"strength": str})  # noqa: E731
    distractor = {"dataset": p.distractor, "noise_robustness": read("noise_robustness")}
    sweeps = {
        dataset: {
            "manifold_robustness": read(f"{dataset}_manifold_robustness"),
            "regimes": read(f"{dataset}_regimes"),
            "plot_step": plot_step,
        }
        for dataset, plot_step in zip(p.sweeps, p.plot_steps)
    }
    pretrained = None
    for dataset, tolerance in zip(p.pretrained, p.top1_tolerance):
        pretrained = {
            "dataset": dataset,
            "regimes": read(f"{dataset}_regimes"),
            "top1": read(f"{dataset}_top1"),
            "tolerance": tolerance,
        }
    table = evaluate_claims(distractor, sweeps, pretrained, p.settings)
    save_csv(table, snakemake.output.csv)
    markdown = claims_markdown(table)
    with atomic_path(snakemake.output.md) as path:
        path.write_text(markdown)
    with atomic_path(snakemake.output.rst) as path:
        path.write_text(front_page(table))
    with atomic_path(snakemake.output.html) as path:
        path.write_text(table.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))
    log.info("\n%s", markdown)
