"""Rule tangent_spaces: orthonormal tangent spaces at test images from the decoder."""

import torch
from pags.datasets import load_split
from pags.io import save_torch
from pags.manifold.autoencoder import load_autoencoder
from pags.manifold.tangents import tangent_spaces
from pags.runtime import job_log, pick_device

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    device = pick_device(snakemake.resources)
    autoencoder = load_autoencoder(snakemake.input.model).to(device)
    x = load_split(snakemake.input.test).floats()[: snakemake.params.n_images]
    basis, singular_values = tangent_spaces(autoencoder.encode, autoencoder.decode, x.to(device), progress=True)
    save_torch({"basis": basis, "singular_values": singular_values}, snakemake.output[0])
    log.info("tangent spaces of dimension %d at %d images", basis.shape[-1], basis.shape[0])
