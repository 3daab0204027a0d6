"""Rule pretrained_images: the seeded selection of validation images that is scored."""

from pags.datasets import save_split
from pags.datasets.imagenet import load_imagenet_val
from pags.runtime import job_log

with job_log(snakemake) as log:
    # Where the data lives is read from the config, not params: it reruns nothing.
    p = snakemake.params
    split = load_imagenet_val(snakemake.config["data"]["root"], p.n_images, p.seed)
    save_split(split, snakemake.output[0])
    log.info("%d validation images of shape %s (seed %d)", len(split), tuple(split.x.shape[1:]), p.seed)
