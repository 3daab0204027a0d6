"""Rule base_dataset: one split of a registered data set, as a tensor file."""

from pags.datasets import load_split, save_base
from pags.runtime import job_log

with job_log(snakemake) as log:
    # Where the data lives and whether to download it do not change the data, so they
    # are read from the config rather than params (editing them reruns nothing).
    data = snakemake.config["data"]
    base, split_name = snakemake.wildcards.base, snakemake.wildcards.split
    key = f"sweep.{base}.subset.{split_name}"
    save_base(base, split_name, data["root"], data["download"], snakemake.output[0], snakemake.params.subset, key)
    split = load_split(snakemake.output[0], mmap=True)
    log.info("%d images of shape %s, %d classes", len(split), tuple(split.x.shape[1:]), split.num_classes)
