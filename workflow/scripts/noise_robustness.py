"""Rule noise_robustness: softmax-L1 change under noise on the signal / distractor half."""

import pandas as pd
import torch
from pags.datasets import load_split
from pags.datasets.distractor import signal_mask
from pags.errors import DataError
from pags.io import save_csv
from pags.noise_robustness import TABLE_METRICS, masked_noise_change, robustness_table
from pags.records import read_trained
from pags.runtime import job_log, pick_device
from pags.stats import nan_metrics

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    device = pick_device(snakemake.resources)
    params = snakemake.params
    columns, model = read_trained(snakemake.input.model, snakemake.input.record)
    if model is None:  # diverged in training: the same rows, every metric NaN
        table = nan_metrics(pd.DataFrame({"noise_std": params.stds}), TABLE_METRICS)
    else:
        test = load_split(snakemake.input.test)
        if "digit_on_top" not in test.extras:
            raise DataError(f"'{snakemake.input.test}' has no signal mask: it is not a distractor data set.")
        x = test.floats()[: params.n_images].to(device)
        mask = signal_mask(test.extras["digit_on_top"][: params.n_images], tuple(x.shape)).to(device)
        model = model.to(device)
        generator = torch.Generator(device=device).manual_seed(params.seed)
        draws = params.draws  # a number, or {draws, shared} where noise_robustness.shared_noise is false
        draws = draws if isinstance(draws, dict) else {"draws": draws, "shared": True}
        masks = {"signal": mask, "distractor": 1 - mask}
        changes = masked_noise_change(model, x, masks, params.stds, generator, draws["draws"], shared=draws["shared"])
        table = robustness_table(changes, params.stds)
    for i, (column, value) in enumerate(columns.items()):
        table.insert(i, column, value)
    save_csv(table, snakemake.output[0])
    log.info("ratio at the largest std: %.3f", table["ratio"].iloc[-1])
