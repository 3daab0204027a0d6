"""Rule noise_robustness: softmax-L1 change under noise on the signal / distractor half."""

import json

import pandas as pd
import torch
from pags.datasets import load_split
from pags.datasets.distractor import signal_mask
from pags.errors import DataError
from pags.io import save_csv
from pags.labels import model_columns
from pags.models import load_model
from pags.noise_robustness import TABLE_METRICS, masked_noise_change, robustness_table
from pags.runtime import job_log, pick_device
from pags.stats import nan_metrics

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    device = pick_device(snakemake.resources)
    params = snakemake.params
    with open(snakemake.input.record) as f:
        record = json.load(f)
    if record["status"] == "diverged":
        table = nan_metrics(pd.DataFrame({"noise_std": params.stds}), TABLE_METRICS)
    else:
        test = load_split(snakemake.input.test)
        if "digit_on_top" not in test.extras:
            raise DataError(f"'{snakemake.input.test}' has no signal mask: it is not a distractor data set.")
        x = test.floats()[: params.n_images].to(device)
        mask = signal_mask(test.extras["digit_on_top"][: params.n_images], tuple(x.shape)).to(device)
        model = load_model(snakemake.input.model).to(device)
        generator = torch.Generator(device=device).manual_seed(params.seed)
        changes = masked_noise_change(
            model, x, {"signal": mask, "distractor": 1 - mask}, params.stds, generator, draws=params.draws
        )
        table = robustness_table(changes, params.stds)
    for i, (column, value) in enumerate(model_columns(record).items()):
        table.insert(i, column, value)
    save_csv(table, snakemake.output[0])
    log.info("ratio at the largest std: %.3f", table["ratio"].iloc[-1])
