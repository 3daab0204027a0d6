"""Do pretrained networks fit the data and the config? Checked before any work is done.

A pretrained network fixes properties that the data and the config must agree with;
nothing downstream notices a disagreement. A class-conditional EDM denoiser used with
``conditional: false``, for instance, is called without labels, EDM then feeds it an
all-zero label vector, and the result looks like a score but is none. So every property
that must agree is checked here, by one function per kind of network, raising one
``ConfigError`` that names the config key and the fix:

- denoisers (EDM's convention): ``label_dim`` (0 = unconditional, else the number of
  classes it was trained on), ``img_resolution`` (px, square), ``img_channels``.
  Config ``conditional: true`` needs ``label_dim`` > 0 and ``conditional: false`` needs
  ``label_dim`` == 0; when conditional, ``label_dim`` must equal the data set's number
  of classes; the resolution must equal the side of the images the score is computed on
  (after any resize, e.g. 64 for 224 px ImageNet); the channels must match.
- what a denoiser was trained on (``EDM_TRAINING_DATA``): the images of the data set
  (``IMAGES_OF``), unless the config says ``score.allow_other_data: true``; a release of
  the right shape trained on faces gives a score, but of faces. Releases suggested as a
  fix are only those of the same images.
- classifiers: number of classes, input channels and, where the network fixes it, the
  input side.

Networks the workflow builds itself from the config are checked against the data set's
image shape when the config is validated: the classifiers and the autoencoder by
``check_forward``, a forward pass of two images on the CPU, and the trained denoiser by
its rule, ``pags.score.denoiser.check_denoiser_shape``.

The same checks of pretrained networks run twice: at config validation time from ``EDM_RELEASES``, the
published properties of NVlabs/edm's releases (by name, before any download), and at
job load time from the unpickled network itself (``denoiser_properties``), which also
catches a file that is not the release its name says (``check_release``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import ConfigError, WeightsError


@dataclass(frozen=True)
class DenoiserProperties:
    """What an EDM-convention denoiser fixes, as NVlabs/edm's preconditioned networks
    (``EDMPrecond``, ``VPPrecond``, ``VEPrecond``) expose it: ``label_dim`` (0 for an
    unconditional network, else its number of classes; labels are one-hot vectors of
    that length), ``img_resolution`` (side in px, square images) and ``img_channels``."""

    label_dim: int
    img_resolution: int
    img_channels: int

    @property
    def conditional(self) -> bool:
        return self.label_dim > 0


@dataclass(frozen=True)
class ClassifierProperties:
    """What a pretrained classifier fixes: ``num_classes`` logits, ``in_channels`` input
    channels, and ``side`` (px) if it is only valid at one input size (``None``: any)."""

    num_classes: int
    in_channels: int
    side: int | None = None


# NVlabs/edm's released networks (https://nvlabs-fi-cdn.nvidia.com/edm/pretrained/ and
# .../baseline/), named as in its README. Conditional networks were trained with
# `--cond=1`, and their label_dim is the data set's number of classes (training_loop.py:
# label_dim=dataset_obj.label_dim); unconditional ones have label_dim 0. The resolution
# is the one in the name; all are RGB.
EDM_RELEASES: dict[str, DenoiserProperties] = {
    "edm-cifar10-32x32-uncond-vp": DenoiserProperties(0, 32, 3),
    "edm-cifar10-32x32-cond-vp": DenoiserProperties(10, 32, 3),
    "edm-imagenet-64x64-cond-adm": DenoiserProperties(1000, 64, 3),
    "edm-ffhq-64x64-uncond-vp": DenoiserProperties(0, 64, 3),
    "edm-afhqv2-64x64-uncond-vp": DenoiserProperties(0, 64, 3),
    "baseline-cifar10-32x32-uncond-vp": DenoiserProperties(0, 32, 3),
    "baseline-cifar10-32x32-uncond-ve": DenoiserProperties(0, 32, 3),
    "baseline-imagenet-64x64-cond-adm": DenoiserProperties(1000, 64, 3),
}


# What each release was trained on: a network of the right shape trained on other images
# (faces, animals) gives a score, but not of the data it is used on.
EDM_TRAINING_DATA: dict[str, str] = {
    "edm-cifar10-32x32-uncond-vp": "CIFAR-10",
    "edm-cifar10-32x32-cond-vp": "CIFAR-10",
    "edm-imagenet-64x64-cond-adm": "ImageNet",
    "edm-ffhq-64x64-uncond-vp": "FFHQ",
    "edm-afhqv2-64x64-uncond-vp": "AFHQv2",
    "baseline-cifar10-32x32-uncond-vp": "CIFAR-10",
    "baseline-cifar10-32x32-uncond-ve": "CIFAR-10",
    "baseline-imagenet-64x64-cond-adm": "ImageNet",
}
# pags's data sets -> the images they hold, as EDM_TRAINING_DATA names them (ImageNet-64
# and the 224 px validation set are both ImageNet); the synthetic data set has no release.
IMAGES_OF: dict[str, str] = {"cifar10": "CIFAR-10", "imagenet64": "ImageNet", "imagenet": "ImageNet"}


def denoiser_properties(net: Any, name: str) -> DenoiserProperties:
    """The properties of a loaded EDM-convention network ``net`` (attributes
    ``label_dim``, ``img_resolution``, ``img_channels``, all non-negative ints).

    Raises ``WeightsError`` naming config key ``weights.<name>`` if an attribute is
    missing or not an int: then the file holds no EDM network."""
    values = {}
    for attribute in ("label_dim", "img_resolution", "img_channels"):
        value = getattr(net, attribute, None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise WeightsError(
                f"the network loaded for config key 'weights.{name}' ({type(net).__name__}) has no valid "
                f"'{attribute}' (got {value!r}): it is not an EDM network. Fix: point 'weights.{name}' at an "
                "EDM release (https://nvlabs-fi-cdn.nvidia.com/edm/pretrained/) and pin its sha256."
            )
        values[attribute] = value
    return DenoiserProperties(**values)


def check_release(props: DenoiserProperties, name: str) -> None:
    """A loaded network whose name is in ``EDM_RELEASES`` must have that release's
    properties; otherwise the file under that name is another network (``WeightsError``
    naming ``weights.<name>``). Unknown names pass."""
    published = EDM_RELEASES.get(name)
    if published is not None and props != published:
        raise WeightsError(
            f"the file for config key 'weights.{name}' holds a network with {describe(props)}, but the "
            f"release {name} has {describe(published)}: the file is not that release. Fix: point "
            f"'weights.{name}.url' at {name}.pkl and pin its sha256, or file the network under its own name."
        )


def describe(props: DenoiserProperties) -> str:
    cond = f"label_dim {props.label_dim} (class-conditional)" if props.conditional else "label_dim 0 (unconditional)"
    return f"{cond}, {props.img_resolution} px, {props.img_channels} channels"


def image_side(image_shape: Sequence[int], key: str) -> int:
    """The side of square images [C, H, W]; non-square ones are a ``ConfigError`` at ``key``."""
    _, height, width = image_shape
    if height != width:
        raise ConfigError(
            f"config key '{key}': the images are {height}x{width} px, but pretrained networks take square "
            "images. Fix: resize or crop the data set to a square side."
        )
    return height


def matching_releases(num_classes: int, side: int, channels: int, conditional: bool, dataset: str) -> list[str]:
    """Names in ``EDM_RELEASES`` trained on the images of ``dataset`` (``IMAGES_OF``) that
    would fit its ``num_classes`` classes, square images of ``side`` px with ``channels``
    channels, and the ``conditional`` setting; none for a data set without releases."""
    label_dim = num_classes if conditional else 0
    return [
        n
        for n, p in EDM_RELEASES.items()
        if p == DenoiserProperties(label_dim, side, channels) and EDM_TRAINING_DATA[n] == IMAGES_OF.get(dataset)
    ]


def check_denoiser(
    props: DenoiserProperties,
    *,
    num_classes: int,
    image_shape: Sequence[int],
    conditional: bool,
    dataset: str,
    key: str,
    name: str,
    conditional_key: str | None = None,
) -> None:
    """Raise one ``ConfigError`` if the denoiser ``name`` with ``props`` does not fit.

    ``num_classes``: the data set's number of classes; ``image_shape``: [C, H, W] of the
    images the score is computed on (after any resize); ``conditional``: whether the
    score is class-conditional; ``dataset``: the data set, whose releases are suggested;
    ``key``: the config key that names the network (``<score>.edm_network``,
    ``<score>.posterior_edm.conditional``); ``conditional_key``: the key that sets
    ``conditional`` (``<score>.conditional``), or ``None`` where the key of the network
    implies it. Checked in this order: conditioning, classes, resolution, channels."""
    channels = image_shape[0]
    side = image_side(image_shape, key)
    fits = matching_releases(num_classes, side, channels, conditional, dataset)
    instead = f" (a release that fits: {', '.join(fits)})" if fits else ""
    if props.conditional != conditional:
        kind = (
            f"class-conditional (label_dim {props.label_dim})" if props.conditional else "unconditional (label_dim 0)"
        )
        wanted = "a class-conditional" if conditional else "an unconditional"
        why = (
            "called without labels it gets an all-zero label vector, which gives no score of the data"
            if props.conditional
            else "it cannot give class-conditional scores"
        )
        if conditional_key is None:
            raise ConfigError(
                f"config key '{key}': the EDM network {name} is {kind}, but {wanted} network is needed here: "
                f"{why}. Fix: name {wanted} network{instead}."
            )
        fix = f"set '{conditional_key}: {str(props.conditional).lower()}'"
        if props.conditional and props.label_dim != num_classes:
            fix = f"name an unconditional network in '{key}'{instead}"
        elif not props.conditional:
            fix += f", or name a class-conditional network in '{key}'{instead}"
        raise ConfigError(
            f"config key '{conditional_key}' is {str(conditional).lower()}, but the EDM network {name} is {kind}: "
            f"{why}. Fix: {fix}."
        )
    if conditional and props.label_dim != num_classes:
        fix = f"name a network trained on this data set{instead}"
        if conditional_key is not None:
            fix += f", or set '{conditional_key}: false' with an unconditional one"
        raise ConfigError(
            f"config key '{key}': the EDM network {name} was trained on {props.label_dim} classes, "
            f"but the data set has {num_classes}. Fix: {fix}."
        )
    if props.img_resolution != side:
        raise ConfigError(
            f"config key '{key}': the EDM network {name} works on {props.img_resolution} px images, "
            f"but the score is computed on {side} px images. Fix: name a network of that resolution{instead}, "
            f"or resize the images to {props.img_resolution} px for the score."
        )
    if props.img_channels != channels:
        raise ConfigError(
            f"config key '{key}': the EDM network {name} takes {props.img_channels}-channel images, "
            f"but the data set's have {channels}. Fix: name a network for {channels}-channel images{instead}."
        )


def check_training_data(network: str, *, dataset: str, key: str, allow_key: str, allowed: bool) -> None:
    """Config validation time: the release ``network`` (config key ``key``) was trained on
    the images of ``dataset``, or the config says, with ``allow_key: true`` (``allowed``),
    to use it on others. Raises one ``ConfigError`` naming both keys and the releases of
    that data; networks not in ``EDM_TRAINING_DATA`` pass (nothing is known of them)."""
    trained_on = EDM_TRAINING_DATA.get(network)
    images = IMAGES_OF.get(dataset, f"the {dataset} data set")
    if allowed or trained_on is None or trained_on == images:
        return
    same = [n for n, data in EDM_TRAINING_DATA.items() if data == images]
    instead = (
        f"name one trained on {images} ({', '.join(same)})" if same else "train a denoiser on it (backend trained)"
    )
    raise ConfigError(
        f"config key '{key}': the EDM network {network} was trained on {trained_on} images, but the score is of "
        f"{images} ({dataset}): its score is that of other data. Fix: {instead}, or set '{allow_key}: true' "
        "to use it on these images anyway."
    )


def check_classifier(
    props: ClassifierProperties, *, num_classes: int, image_shape: Sequence[int], key: str, name: str
) -> None:
    """Raise one ``ConfigError`` naming ``key`` (the config key that selects the
    classifier ``name``) if its classes, input channels or input side (if fixed) differ
    from the data set's ``num_classes`` and images [C, H, W] ``image_shape``."""
    channels, height, width = image_shape
    problems = []
    if props.num_classes != num_classes:
        problems.append(f"it has {props.num_classes} classes, the data set {num_classes}")
    if props.in_channels != channels:
        problems.append(f"it takes {props.in_channels}-channel images, the data set's have {channels}")
    if props.side is not None and (height, width) != (props.side, props.side):
        problems.append(f"it was evaluated on {props.side}x{props.side} px images, the data set's are {height}x{width}")
    if problems:
        raise ConfigError(
            f"config key '{key}': the pretrained classifier {name} does not fit the data: {'; '.join(problems)}. "
            "Fix: use it with the data set it was trained on (at its input size), or remove it from the config."
        )


def check_edm_config(
    network: str,
    *,
    num_classes: int,
    image_shape: Sequence[int],
    conditional: bool,
    dataset: str,
    key: str,
    conditional_key: str | None = None,
    allow_key: str,
    allow_other_data: bool = False,
) -> DenoiserProperties | None:
    """Config validation time, before any download: ``check_denoiser`` with the published
    properties of the release ``network`` (``EDM_RELEASES``), then ``check_training_data``
    (``allow_key``, ``allow_other_data``: the config's permission to use it on other
    images). Returns the properties, or ``None`` for a network not in the table (then only
    the load-time check applies)."""
    props = EDM_RELEASES.get(network)
    if props is not None:
        check_denoiser(
            props,
            num_classes=num_classes,
            image_shape=image_shape,
            conditional=conditional,
            dataset=dataset,
            key=key,
            name=network,
            conditional_key=conditional_key,
        )
    check_training_data(network, dataset=dataset, key=key, allow_key=allow_key, allowed=allow_other_data)
    return props


def check_edm_network(
    net: Any,
    *,
    network: str,
    num_classes: int,
    image_shape: Sequence[int],
    conditional: bool,
    dataset: str,
    key: str,
    conditional_key: str | None = None,
) -> DenoiserProperties:
    """Job load time, on the unpickled network ``net`` filed as ``weights.<network>``:
    its properties (``denoiser_properties``), checked against the published release
    (``check_release``, ``WeightsError``) and against the data and config
    (``check_denoiser``, ``ConfigError``). Returns the properties; call it before
    computing anything, and pass ``label_dim`` (if conditional, else 0) to ``edm_score``."""
    props = denoiser_properties(net, network)
    check_release(props, network)
    check_denoiser(
        props,
        num_classes=num_classes,
        image_shape=image_shape,
        conditional=conditional,
        dataset=dataset,
        key=key,
        name=network,
        conditional_key=conditional_key,
    )
    return props


def check_forward(
    build: Callable[[], nn.Module],
    input_shape: Sequence[int],
    output_shape: Sequence[int],
    *,
    key: str,
    what: str,
    fix: str,
) -> None:
    """Build a network on the CPU and push a batch of zeros of shape ``input_shape``
    through it: any architecture limit the network has at this input size (a
    down-sampling stage left with an odd side, a group norm that does not divide the
    channels) shows up here, at config validation, rather than inside a queued GPU job.
    Raises one ``ConfigError`` naming ``key`` if it fails or the output's shape differs
    from ``output_shape``."""
    try:
        # On the CPU, not the meta device, whose batch norm imports torch._dynamo at every
        # start of snakemake, which costs more than a forward of two images here
        with torch.no_grad():
            got = tuple(build()(torch.zeros(tuple(input_shape))).shape)
    except (RuntimeError, ValueError) as e:
        reason = str(e).strip().splitlines()[0]
        raise ConfigError(
            f"config key '{key}': the {what} cannot take {tuple(input_shape[1:])} inputs ({reason}). Fix: {fix}."
        ) from None
    if got != tuple(output_shape):
        raise ConfigError(
            f"config key '{key}': the {what} maps {tuple(input_shape[1:])} inputs to {got[1:]}, "
            f"not {tuple(output_shape[1:])}. Fix: {fix}."
        )
