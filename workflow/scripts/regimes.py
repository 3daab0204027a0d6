"""Rule regimes: label every strength of every objective weak, Bayes-aligned or excessive
(without the on-manifold criterion where no manifold metrics exist: pretrained families)."""

import numpy as np
import pandas as pd
from pags.io import save_csv
from pags.regimes import regime_table
from pags.runtime import job_log

with job_log(snakemake) as log:
    p = snakemake.params
    keys = ["objective", "strength", "strength_value", "seed"]
    alignment = pd.read_csv(snakemake.input.alignment, dtype={"strength": str})
    alignment = alignment[(alignment["score"] == p.score) & (alignment["metric"] == p.settings["metric"])]
    models = alignment[keys + ["test_accuracy", "status", "similarity", "sem"]]
    measured_on_manifold = "robustness" in snakemake.input.keys()
    if measured_on_manifold:
        robustness = pd.read_csv(snakemake.input.robustness, dtype={"strength": str})
        robustness = robustness[
            (robustness["tangent"] == "autoencoder") & np.isclose(robustness["step_size"], p.step_size)
        ]
        models = models.merge(robustness[keys + ["on_change"]], on=keys, how="left", validate="one_to_one")
    else:  # pretrained families: no on-manifold criterion
        models = models.assign(on_change=np.nan)
    models = models.rename(
        columns={
            "test_accuracy": "accuracy",
            "similarity": "alignment",
            "sem": "alignment_sem",
            "on_change": "on_manifold",
        }
    )
    settings = {k: p.settings[k] for k in ("max_accuracy_drop", "min_on_manifold_ratio", "aligned_fraction", "noise_k")}
    if not measured_on_manifold:
        settings["min_on_manifold_ratio"] = None
    table = regime_table(models, **settings).assign(score=p.score, metric=p.settings["metric"], step_size=p.step_size)
    save_csv(table, snakemake.output[0])
    standard = models[models["objective"] == "standard"]
    if (standard["status"] == "diverged").any():
        log.warning(
            "the standard model diverged in training (seed %s): every regime is undefined",
            ", ".join(map(str, standard.loc[standard["status"] == "diverged", "seed"])),
        )
    log.info("\n%s", table.to_string())
