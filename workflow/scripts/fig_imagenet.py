"""Rule fig_imagenet: paper Fig. 4, accuracy and alignment against the PGD budget on ImageNet."""

from pags.figures.imagenet import imagenet_panels, plot_imagenet
from pags.figures.style import save_figure
from pags.runtime import job_log

with job_log(snakemake):
    p = snakemake.params
    panels = imagenet_panels(dict(snakemake.input.items()), p.metrics, p.scores)
    save_figure(plot_imagenet(panels), snakemake.output.pdf, snakemake.output.png)
