"""Rule fig_distractor: paper Fig. 12, example images and input gradients."""

import json

import torch
from pags.datasets import load_split
from pags.datasets.distractor import signal_mask
from pags.figures.distractor import plot_distractor
from pags.figures.style import save_figure
from pags.gradients import input_gradient
from pags.labels import model_columns
from pags.models import load_model
from pags.runtime import job_log

with job_log(snakemake):
    params = snakemake.params
    test = load_split(snakemake.input.test)
    n = params.n_examples
    x, y = test.floats()[:n], test.y[:n]
    mask = signal_mask(test.extras["digit_on_top"][:n], tuple(x.shape))
    noise = params.noise_std * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    gradients = {}
    for model_path, record_path in zip(snakemake.input.models, snakemake.input.records):
        with open(record_path) as f:
            label = model_columns(json.load(f))["label"]
        gradients[label] = input_gradient(load_model(model_path), x, y, params.gradient_target)
    fig = plot_distractor(x, x + mask * noise, x + (1 - mask) * noise, gradients, params.noise_std)
    save_figure(fig, snakemake.output.pdf, snakemake.output.png)
