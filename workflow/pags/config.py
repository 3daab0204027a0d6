"""Checks of the config beyond its schema, and readable messages for schema errors.

The schema (workflow/schemas/config.schema.yaml) types every key; the checks here
cover what a schema cannot say (milestones below epochs, grids that collide in paths,
data that is absent with downloads off). Both run when the workflow is parsed, before
any job starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch

from .compatibility import EDM_RELEASES, check_classifier, check_edm_config, check_forward
from .datasets import imagenet, imagenet64
from .datasets.cifar10 import cifar10_present
from .datasets.mnist import mnist_present
from .datasets.registry import BASE_SHAPES
from .errors import ConfigError
from .gallery import check_galleries
from .grid import expand_grid, format_strength
from .manifold.autoencoder import Autoencoder
from .models import ARCHITECTURES, build_model
from .objectives import OBJECTIVES
from .pretrained import check_family_config
from .score.denoiser import check_denoiser_shape


def key_path(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts) or "<top level>"


def describe_validation_error(error) -> str:
    """One line from a ``jsonschema.ValidationError``: the key, the problem, the fix."""
    best = error
    # oneOf/anyOf failures hide the useful message in their deepest sub-error.
    while best.context:
        best = max(best.context, key=lambda e: len(e.absolute_path))
    path = list(best.absolute_path)
    if best.validator == "additionalProperties" and isinstance(best.instance, dict):
        # Name the misspelt key itself ('distractor.training.epochz'), not just its parent.
        unknown = [k for k in best.instance if k not in best.schema.get("properties", {})]
        if len(unknown) == 1:
            path.append(unknown[0])
    where = key_path(path)
    hint = best.schema.get("description") or error.schema.get("description", "")
    message = f"config key '{where}': {best.message}."
    if best.validator == "additionalProperties":
        message += " Fix: remove or correct the misspelt key (the schema lists the valid ones)."
    elif hint:
        message += f" Expected: {' '.join(hint.split())}"
    if best.validator == "type" and isinstance(best.instance, str) and _is_number(best.instance):
        message += (
            f" YAML reads {best.instance} as a string (its floats need a dot: 1.0e-3, not 1e-3). "
            "Fix: write it with a dot before the exponent."
        )
    return message


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_experiment(name: str, exp: dict[str, Any]) -> None:
    training = exp["training"]
    for m in training["milestones"]:
        if m >= training["epochs"]:
            raise ConfigError(
                f"config key '{name}.training.milestones': milestone {m} is not below "
                f"{name}.training.epochs = {training['epochs']}. Fix: drop it or raise epochs."
            )
    for objective, options in exp["objectives"].items():
        grid = expand_grid(options["grid"])
        where = f"{name}.objectives.{objective}.grid"
        check_logspace(where, options["grid"])
        names = [format_strength(s) for s in grid]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"config key '{where}': strengths {names} collide at 4 significant digits. "
                "Fix: remove the duplicates or space the grid more widely."
            )
        if objective == "standard" and grid != [0]:
            raise ConfigError(f"config key '{where}': the standard objective has no strength. Fix: use grid: [0].")
        if objective == "pgd" and "eps_convention" not in options:
            raise ConfigError(
                f"config key '{name}.objectives.pgd.eps_convention' is missing: say which eps is meant, "
                "per_example (each image's own ball) or batch (one ball for the whole batch, the authors')."
            )


def check_logspace(where: str, spec) -> None:
    if isinstance(spec, dict) and spec["logspace"][0] > spec["logspace"][1]:
        raise ConfigError(f"config key '{where}': logspace start exceeds stop. Fix: write [start, stop, num] with start <= stop.")


def check_sweep(name: str, exp: dict[str, Any]) -> None:
    check_experiment(name, exp)
    metric = exp["manifold_robustness"]
    if metric["plot_step"] not in metric["step_sizes"]:
        raise ConfigError(
            f"config key '{name}.manifold_robustness.plot_step': {metric['plot_step']} is not one of "
            f"step_sizes {metric['step_sizes']}. Fix: add it to step_sizes or pick one of them."
        )


def check_alignment(dataset: str, exp: dict[str, Any], config: dict[str, Any], section: str = "sweep") -> None:
    name = f"{section}.{dataset}"
    score, metrics, regimes = exp["score"], exp["alignment"]["metrics"], exp["regimes"]
    exact = {"analytic", "posterior"} & set(score["backends"])
    if exact and dataset != "synthetic":
        raise ConfigError(
            f"config key '{name}.score.backends': {sorted(exact)} are known only for the synthetic data set. "
            "Fix: use edm or trained."
        )
    if "edm" in score["backends"] and score["edm_network"] not in config["weights"]:
        raise ConfigError(
            f"config key '{name}.score.edm_network': {score['edm_network']!r} is not an entry of 'weights'. "
            "Fix: name an EDM network listed under weights (e.g. edm-cifar10-32x32-uncond-vp), or drop edm."
        )
    if "edm" in score["backends"]:
        shape, classes = data_shape(config, dataset)
        if score["image_side"] is not None:
            shape = (shape[0], score["image_side"], score["image_side"])
        check_edm_config(
            score["edm_network"], num_classes=classes, image_shape=shape, conditional=score["conditional"], key=f"{name}.score"
        )
    check_posterior_estimates(name, dataset, score, config)
    if regimes["metric"] not in metrics:
        raise ConfigError(
            f"config key '{name}.regimes.metric': {regimes['metric']} is not computed (alignment.metrics is "
            f"{metrics}). Fix: add it to alignment.metrics or pick one of them."
        )
    computed = set(score["backends"]) | ({"analytic", "posterior"} if dataset == "synthetic" else set())
    if regimes["score"] is not None and regimes["score"] not in computed:
        raise ConfigError(
            f"config key '{name}.regimes.score': {regimes['score']} is not one of score.backends "
            f"{score['backends']}. Fix: add it there or pick one of them."
        )
    if "standard" not in exp["objectives"]:
        raise ConfigError(
            f"config key '{name}.objectives': the regimes are defined relative to the standard model. "
            "Fix: add 'standard: {grid: [0]}'."
        )
    if set(exp["objectives"]) == {"standard"}:
        raise ConfigError(
            f"config key '{name}.objectives': nothing to sweep besides the standard model. "
            f"Fix: add a robust objective ({', '.join(o for o in OBJECTIVES if o != 'standard')}) with a grid."
        )


def check_posterior_estimates(name: str, dataset: str, score: dict[str, Any], config: dict[str, Any]) -> None:
    """The estimates of grad log p(y | x) have what they need: a trained denoiser with a
    null class (label dropout), or a conditional and an unconditional EDM network that
    are weights entries and fit the data."""
    if "posterior_trained" in score["backends"] and not score["denoiser"].get("label_dropout"):
        raise ConfigError(
            f"config key '{name}.score.denoiser.label_dropout': posterior_trained needs the unconditional score "
            "from the class-conditional denoiser's null class. Fix: set it above 0 (e.g. 0.15)."
        )
    if "posterior_edm" not in score["backends"]:
        return
    pair = score["posterior_edm"]
    if pair is None:
        raise ConfigError(
            f"config key '{name}.score.posterior_edm' is missing: posterior_edm needs a conditional and an "
            "unconditional EDM network. Fix: e.g. {conditional: edm-cifar10-32x32-cond-vp, unconditional: "
            "edm-cifar10-32x32-uncond-vp}, each an entry of 'weights'."
        )
    shape, classes = data_shape(config, dataset)
    if score["image_side"] is not None:
        shape = (shape[0], score["image_side"], score["image_side"])
    for conditioning, network in pair.items():
        if network not in config["weights"]:
            raise ConfigError(
                f"config key '{name}.score.posterior_edm.{conditioning}': {network!r} is not an entry of 'weights'. "
                "Fix: add it there (url and pinned sha256) or name one listed."
            )
        release, key = EDM_RELEASES.get(network), f"{name}.score.posterior_edm.{conditioning}"
        if release is not None and (release.label_dim > 0) != (conditioning == "conditional"):
            kind = "class-conditional" if release.label_dim else "unconditional"
            raise ConfigError(f"config key '{key}': {network} is {kind}. Fix: name a{'n' * (conditioning == 'unconditional')} {conditioning} network.")
        check_edm_config(network, num_classes=classes, image_shape=shape, conditional=conditioning == "conditional", key=key)


def check_subset(name: str, dataset: str, exp: dict[str, Any], config: dict[str, Any]) -> None:
    """The experiment's ``subset`` (if any): a real data set's, each size a multiple of the
    classes, and the test subset holds every test image the metrics and galleries use."""
    subset = exp.get("subset")
    if subset is None:
        return
    if dataset == "synthetic":
        raise ConfigError(
            f"config key '{name}.subset': the synthetic data set is generated at its size. "
            "Fix: remove it and set synthetic.n_train and synthetic.n_test."
        )
    classes = data_shape(config, dataset)[1]
    for split in ("train", "test"):
        n = subset[split]
        if n is not None and n % classes:
            raise ConfigError(
                f"config key '{name}.subset.{split}': {n} images do not divide among the {classes} classes of "
                f"{dataset}. Fix: use a multiple of {classes}."
            )
    n_test = subset["test"]
    if n_test is None:
        return
    used = {"noise_robustness.n_images": exp["noise_robustness"]["n_images"]} if name == "distractor" else {
        "score.n_images": exp["score"]["n_images"], "manifold_robustness.n_images": exp["manifold_robustness"]["n_images"],
    }  # fmt: skip
    used.update(
        {f"figures.galleries.{g}.images": max(spec["images"]) + 1 for g, spec in config["figures"]["galleries"].items() if spec["dataset"] == dataset}
    )
    for key, n in used.items():
        if n > n_test:
            raise ConfigError(
                f"config key '{name}.subset.test': {n_test} test images, but {key} uses {n}. "
                f"Fix: raise {name}.subset.test to at least {n} or lower {key}."
            )


def check_pretrained(dataset: str, section: dict[str, Any], config: dict[str, Any]) -> None:
    """A pretrained family evaluated on ``dataset``: the family has a member at each eps,
    each member has a weights entry, its networks fit the data, and the score, alignment
    and regime settings hold together as a sweep's do."""
    name = f"pretrained.{dataset}"
    family = check_family_config(section["family"], section["eps"], f"{name}.eps")
    shape, classes = data_shape(config, dataset)
    check_classifier(family.input, num_classes=classes, image_shape=shape, key=f"{name}.family", name=family.name)
    for eps in section["eps"]:
        weights = family.weight_name(eps)
        if weights not in config["weights"]:
            raise ConfigError(
                f"config key 'weights.{weights}' is missing: {name} evaluates {family.name} at eps {eps:g}. "
                f"Fix: add it (url: null where no link works; copy the file {family.file_name(eps)} to "
                f"results/weights/{weights}) and pin its sha256."
            )
    if 0 not in section["eps"]:
        raise ConfigError(
            f"config key '{name}.eps': the regimes are defined relative to the standard model, eps 0. Fix: add 0."
        )
    objectives = {"standard": {"grid": [0.0]}, "pgd": {"grid": [e for e in section["eps"] if e > 0]}}
    check_alignment(dataset, {**section, "objectives": objectives}, config, section="pretrained")


def check_gallery(config: dict[str, Any]) -> None:
    """The named galleries (figures.galleries): data set, objective and strengths exist."""
    check_galleries(config)


def check_synthetic(spec: dict[str, Any]) -> None:
    c, h, w = spec["image_shape"]
    if spec["k_signal"] + spec["k_distractor"] > c * h * w:
        raise ConfigError(
            f"config key 'synthetic.k_signal': k_signal + k_distractor exceeds the {c * h * w} pixel dimensions. "
            "Fix: lower them or enlarge image_shape."
        )


def data_shape(config: dict[str, Any], dataset: str) -> tuple[tuple[int, int, int], int]:
    """(image shape [C, H, W], number of classes) of a data set the config trains or
    evaluates on."""
    if dataset == "imagenet":
        return (3, imagenet.CROP, imagenet.CROP), imagenet.NUM_CLASSES
    if dataset == "synthetic":
        return tuple(config["synthetic"]["image_shape"]), config["synthetic"]["n_classes"]
    if dataset.endswith("_distractor"):  # the digit and the letter stacked: twice the height
        (c, h, w), classes = BASE_SHAPES[dataset.removesuffix("_distractor")]
        return (c, 2 * h, w), classes
    return BASE_SHAPES[dataset]


def check_classifier_arch(name: str, exp: dict[str, Any], shape: tuple[int, int, int], classes: int) -> None:
    model = exp["model"]
    try:
        with torch.device("meta"):  # builds nothing: the options are only bound
            ARCHITECTURES[model["arch"]](shape[0], classes, **model["options"])
    except TypeError as e:
        raise ConfigError(
            f"config key '{name}.model.options': {model['options']} are not options of {model['arch']} ({e}). "
            "Fix: use the keyword arguments of its builder in pags.models."
        ) from None
    check_forward(
        lambda: build_model(model["arch"], shape[0], classes, **model["options"]),
        (2, *shape),
        (2, classes),
        key=f"{name}.model",
        what=f"classifier {model['arch']}",
        fix=f"choose an arch (or options) that takes {shape[1]}x{shape[2]} images",
    )


def check_networks(config: dict[str, Any]) -> None:
    """Every network the config builds must take its data set's images: the classifiers,
    and in sweeps the autoencoder and the trained denoiser. Found here, not in a GPU job."""
    experiments = {"distractor": (f"{config['distractor']['dataset']}_distractor", config["distractor"])}
    experiments.update({f"sweep.{d}": (d, exp) for d, exp in config["sweep"].items()})
    for name, (dataset, exp) in experiments.items():
        shape, classes = data_shape(config, dataset)
        where = "synthetic.image_shape" if dataset == "synthetic" else f"{name} (data set {dataset})"
        check_classifier_arch(name, exp, shape, classes)
        if name == "distractor":
            continue
        if shape[1] % 4 or shape[2] % 4:
            raise ConfigError(
                f"config key '{where}': the autoencoder halves the image sides twice, so they must be divisible "
                f"by 4; the images are {shape[1]}x{shape[2]}. Fix: e.g. [3, 16, 16]."
            )
        autoencoder = exp["autoencoder"]
        check_forward(
            lambda: Autoencoder(shape, autoencoder["latent_dim"], autoencoder["width"]),
            (2, *shape),
            (2, *shape),
            key=f"{name}.autoencoder",
            what="autoencoder",
            fix="change latent_dim or width",
        )
        if {"trained", "posterior_trained"} & set(exp["score"]["backends"]):
            check_denoiser_shape(shape, exp["score"]["denoiser"]["block_channels"], f"{name}.score.denoiser")


# data set -> (are its files under data.root?, what to put there)
LOCAL_DATA = {
    "mnist": (mnist_present, "{root}/MNIST/raw (torchvision's layout)"),
    "cifar10": (
        cifar10_present,
        "{root}/cifar-10-batches-py, {root}/cifar10_<split>.npz or {root}/cifar10/<split>/<class>/*.png",
    ),
}


# Data sets no download can fetch (ImageNet needs a login) -> (are the files of a split
# under data.root?, the error that names them). Checked only for the jobs that will run
# (``check_raw_data``), so a run that does not need ImageNet does not need its files.
NOT_DOWNLOADABLE = {
    "imagenet64": (lambda root, split: imagenet64.imagenet64_present(root, (split,)), imagenet64.absent_message),
    "imagenet": (lambda root, split: imagenet.imagenet_present(root), lambda root, split: imagenet.absent_message(root)),
}


def check_raw_data(root: str, needed: Iterable[tuple[str, str]]) -> None:
    """Raise one ``ConfigError`` naming ``data.root`` and the files expected if a
    (data set, split) in ``needed`` that cannot be downloaded is not under ``root``."""
    for dataset, split in sorted(set(needed)):
        present, message = NOT_DOWNLOADABLE[dataset]
        if not present(root, split):
            raise ConfigError(f"config key 'data.root': {message(Path(root), split)}")


def check_data(config: dict[str, Any], datasets: Iterable[str]) -> None:
    data = config["data"]
    if data["download"]:
        return
    for name in datasets:
        present, layout = LOCAL_DATA.get(name, (None, ""))
        if present is not None and not present(data["root"]):
            raise ConfigError(
                f"config key 'data.root': {name} is not in '{data['root']}' and data.download is false. "
                f"Fix: put it at {layout.format(root=data['root'])}, or set data.download: true."
            )


def check_config(config: dict[str, Any]) -> None:
    """Raise ``ConfigError`` for the first problem the schema cannot catch."""
    check_experiment("distractor", config["distractor"])
    check_subset("distractor", f"{config['distractor']['dataset']}_distractor", config["distractor"], config)
    check_logspace("distractor.noise_robustness.stds", config["distractor"]["noise_robustness"]["stds"])
    for dataset, exp in config["sweep"].items():
        check_sweep(f"sweep.{dataset}", exp)
        check_alignment(dataset, exp, config)
        check_subset(f"sweep.{dataset}", dataset, exp, config)
    check_gallery(config)
    if "synthetic" in config["sweep"]:
        check_synthetic(config["synthetic"])
    check_networks(config)
    for dataset, section in config["pretrained"].items():
        check_pretrained(dataset, section, config)
    check_data(config, [config["distractor"]["dataset"], *config["sweep"]])
