"""Rule test_images: the test images a gallery shows (indices in the path), as a split."""

from pags.datasets import load_split, save_split
from pags.image_selection import parse_images, select_images
from pags.runtime import job_log

with job_log(snakemake) as log:
    images = parse_images(snakemake.wildcards.images)
    test = load_split(snakemake.input[0])
    subset = select_images(test, images, f"the test split of {snakemake.wildcards.dataset}")
    save_split(subset, snakemake.output[0])
    log.info("test images %s of %s: labels %s", images, snakemake.wildcards.dataset, subset.y.tolist())
