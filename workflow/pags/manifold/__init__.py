"""The data manifold as an autoencoder sees it: the autoencoder (``autoencoder``), its
decoder's tangent spaces by forward-mode Jacobians (``tangents``), and on/off-manifold
robustness measured with them (``robustness``)."""

from .autoencoder import (
    Autoencoder,
    build_autoencoder,
    load_autoencoder,
    reconstruction_error,
    save_autoencoder,
    train_autoencoder,
)
from .robustness import on_off_manifold_change, principal_angles, small_noise_ratio, split_on_off, tangent_fraction
from .tangents import decoder_jacobian, decoder_jacobian_reference, orthonormalise, tangent_basis, tangent_spaces

__all__ = [
    "Autoencoder",
    "build_autoencoder",
    "decoder_jacobian",
    "decoder_jacobian_reference",
    "load_autoencoder",
    "on_off_manifold_change",
    "orthonormalise",
    "principal_angles",
    "reconstruction_error",
    "save_autoencoder",
    "small_noise_ratio",
    "split_on_off",
    "tangent_basis",
    "tangent_fraction",
    "tangent_spaces",
    "train_autoencoder",
]
