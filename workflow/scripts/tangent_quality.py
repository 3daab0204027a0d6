"""Rule tangent_quality: principal angles between estimated and exact tangent spaces."""

import pandas as pd
import torch
from pags.datasets.synthetic import SyntheticManifold
from pags.io import load_torch, save_csv
from pags.manifold.robustness import principal_angles
from pags.runtime import job_log

with job_log(snakemake) as log:
    estimated = load_torch(snakemake.input.tangents, what="tangent spaces")["basis"].double()
    exact = SyntheticManifold.from_dict(load_torch(snakemake.input.manifold, what="manifold")).tangent_basis()
    angles = principal_angles(exact.expand(len(estimated), *exact.shape), estimated)  # [N, min(k, k_ae)]
    n, k = angles.shape
    table = pd.DataFrame(
        {
            "image": torch.arange(n).repeat_interleave(k).numpy(),
            "index": torch.arange(k).repeat(n).numpy(),
            "angle_deg": torch.rad2deg(angles).flatten().numpy(),
        }
    )
    save_csv(table, snakemake.output[0])
    log.info("mean principal angle %.2f degrees, largest %.2f", table["angle_deg"].mean(), table["angle_deg"].max())
