"""Rule fetch_weights: download a third-party weight file; it appears only if its sha256 matches."""

from pags.runtime import job_log
from pags.weights import fetch

with job_log(snakemake) as log:
    name = snakemake.wildcards.name
    fetch(snakemake.params.url, snakemake.params.sha256, snakemake.output[0], key=f"weights.{name}")
    log.info("%s verified (sha256 %s)", snakemake.output[0], snakemake.params.sha256)
