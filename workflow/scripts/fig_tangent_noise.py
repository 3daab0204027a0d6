"""Rule fig_tangent_noise: paper appendix Fig. 6, noise split by the tangent spaces."""

import torch
from pags.datasets import load_split
from pags.figures.style import save_figure
from pags.figures.tangent_noise import plot_tangent_noise
from pags.io import load_torch
from pags.manifold.robustness import split_on_off
from pags.runtime import job_log

with job_log(snakemake):
    n = snakemake.params.n_examples
    examples = {}
    for dataset, tangents, test in zip(snakemake.params.datasets, snakemake.input.tangents, snakemake.input.tests):
        images = load_split(test).floats()[:n]
        basis = load_torch(tangents, what="tangent spaces")["basis"][:n]
        noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
        on, off = split_on_off(noise.flatten(1), basis)
        examples[dataset] = {"images": images, "noise": noise, "on": on.view_as(noise), "off": off.view_as(noise)}
    save_figure(plot_tangent_noise(examples), snakemake.output.pdf, snakemake.output.png)
