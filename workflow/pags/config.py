"""Checks of the config beyond its schema, and readable messages for schema errors.

The schema (workflow/schemas/config.schema.yaml) types every key; the checks here
cover what a schema cannot say (milestones below epochs, grids that collide in paths,
image sides a network cannot take). Both run when the workflow is parsed, before any
job starts, and read the config only: what needs a network built or the disk read is
``pags.preflight``'s.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from .compatibility import check_classifier
from .datasets.registry import data_shape, split_sizes
from .errors import ConfigError
from .experiments import experiments
from .gallery import check_galleries
from .grid import expand_grid, format_strength, is_search
from .models import ARCHITECTURES
from .objectives import OBJECTIVES
from .pretrained import check_family_config
from .provenance import canonical, schema_values
from .schema import config_schema, validate_config
from .score.backends import BACKENDS, get_backend
from .score.denoiser import check_denoiser_shape


def validated_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (a mapping as read from YAML) checked against the schema
    (``pags.schema.config_schema``) with its defaults filled in, canonical
    (``pags.provenance``: keys sorted, the integers of number-typed keys made floats and the
    schema's sets sorted, so that key order, ``1`` vs ``1.0`` and milestones ``[8, 6]``
    rerun nothing), then checked by ``check_config``. ``config`` itself gets the defaults.
    Raises one ``ConfigError`` naming the key, the problem and the fix: what the workflow
    prints when it is parsed."""
    import jsonschema
    from snakemake.exceptions import WorkflowError

    try:
        validate_config(config)
    except WorkflowError as e:
        # WorkflowError joins its arguments into one string, so the schema's error is found
        # as the exception being handled when `validate` raised (its __context__), not in args.
        cause = e.__cause__ or e.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise
        raise ConfigError(describe_validation_error(cause)) from None
    checked = canonical(schema_values(config, config_schema()))
    check_config(checked)
    return checked


def key_path(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts) or "<top level>"


def describe_validation_error(error) -> str:
    """One line from a ``jsonschema.ValidationError``: the key, the problem, the fix."""
    best = error
    # oneOf/anyOf failures hide the useful message in their deepest sub-error.
    while best.context:
        best = max(best.context, key=lambda e: len(e.absolute_path))
    path = list(best.absolute_path)
    where = key_path(path)
    hint = best.schema.get("description") or error.schema.get("description", "")
    message = f"config key '{where}': {best.message}."
    if best.validator == "additionalProperties" and isinstance(best.instance, dict):
        # Name the existing key that holds the misspelt one, the misspelt one, and the valid ones.
        valid = list(best.schema.get("properties", {}))
        unknown = ", ".join(repr(k) for k in best.instance if k not in valid)
        holder = f"config key '{where}' has no key" if path else "unknown top-level config key"
        message = (
            f"{holder} {unknown} ({best.message}). Fix: remove or correct the misspelt key; "
            f"the valid ones are {', '.join(valid)}."
        )
    elif hint:
        message += f" Expected: {' '.join(hint.split())}"
    if best.validator == "type" and isinstance(best.instance, str) and _is_number(best.instance):
        message += f" {_number_as_string_hint(best.instance)}"
    return message


def _number_as_string_hint(text: str) -> str:
    """Why YAML gave a string where a number was meant: an exponent without a dot (YAML's
    floats need one) or, for anything else that reads as a number, quotes around it."""
    mantissa, exponent, _ = text.lower().partition("e")
    if exponent and "." not in mantissa:
        return (
            f"YAML reads {text} as a string (its floats need a dot: 1.0e-3, not 1e-3). "
            "Fix: write it with a dot before the exponent."
        )
    return f"The number is quoted, so YAML reads '{text}' as a string. Fix: remove the quotes: {text}."


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
        check_search(where, options["grid"], name)
        names = [format_strength(s) for s in grid]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"config key '{where}': strengths {names} collide at 4 significant digits. "
                "Fix: remove the duplicates or space the grid more widely."
            )
        first = exp["seeds"][0]
        if first not in options.get("seeds", [first]):
            raise ConfigError(
                f"config key '{name}.objectives.{objective}.seeds': {options['seeds']} lacks the experiment's "
                f"first seed {first} ({name}.seeds), whose models the figures and galleries show. "
                f"Fix: add {first} to it."
            )
        if objective == "standard" and grid != [0]:
            raise ConfigError(f"config key '{where}': the standard objective has no strength. Fix: use grid: [0].")
        if objective == "pgd" and "eps_convention" not in options:
            raise ConfigError(
                f"config key '{name}.objectives.pgd.eps_convention' is missing: say which eps is meant, "
                "per_example (each image's own ball) or batch (one ball for the whole batch, the authors')."
            )


def check_logspace(where: str, spec) -> None:
    if isinstance(spec, dict) and "logspace" in spec and spec["logspace"][0] > spec["logspace"][1]:
        raise ConfigError(
            f"config key '{where}': logspace start exceeds stop. Fix: write [start, stop, num] with start <= stop."
        )


def check_search(where: str, spec, name: str) -> None:
    if not is_search(spec):
        return
    search = spec["search"]
    start, stop, num = search["start"]
    if not name.startswith("sweep."):
        raise ConfigError(
            f"config key '{where}': a search reads the regimes of a sweep, and {name} is none. Fix: list its strengths."
        )
    if start >= stop:
        raise ConfigError(f"config key '{where}.search.start': start {start} is not below stop {stop}. Fix: swap them.")
    if search["max_models"] < num:
        raise ConfigError(
            f"config key '{where}.search.max_models': {search['max_models']} is fewer than the {num} strengths "
            "it starts from. Fix: raise max_models or start from fewer."
        )


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
    exact = [b for b in score["backends"] if get_backend(b).exact]
    if exact and dataset != "synthetic":
        estimates = [b for b, spec in BACKENDS.items() if not spec.exact]
        raise ConfigError(
            f"config key '{name}.score.backends': {exact} are known only for the synthetic data set. "
            f"Fix: use one of {', '.join(estimates)}."
        )
    for backend in score["backends"]:
        get_backend(backend).check(name, dataset, score, config)
    if regimes["metric"] not in metrics:
        raise ConfigError(
            f"config key '{name}.regimes.metric': {regimes['metric']} is not computed (alignment.metrics is "
            f"{metrics}). Fix: add it to alignment.metrics or pick one of them."
        )
    computed = set(score["backends"]) | (
        {b for b, s in BACKENDS.items() if s.exact} if dataset == "synthetic" else set()
    )
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


def check_subset(name: str, dataset: str, exp: dict[str, Any], config: dict[str, Any]) -> None:
    """The experiment's ``subset`` (if any): a real data set's, each size a multiple of the
    classes."""
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


def used_test_images(name: str, dataset: str, exp: dict[str, Any], config: dict[str, Any]) -> dict[str, int]:
    """Config key -> how many of ``dataset``'s test images it uses (the first n, or up to the
    largest index + 1), for the experiment ``name`` (a config section path)."""
    figures = config["figures"]
    if name == "distractor":
        used = {"distractor.noise_robustness.n_images": exp["noise_robustness"]["n_images"]}
    else:
        used = {f"{name}.score.n_images": exp["score"]["n_images"]}
        if "manifold_robustness" in exp:
            used[f"{name}.manifold_robustness.n_images"] = exp["manifold_robustness"]["n_images"]
        if "top1" in exp:
            used[f"{name}.top1.n_images"] = exp["top1"]["n_images"]
        if name.startswith("sweep."):
            used["figures.gallery.n_images"] = figures["gallery"]["n_images"]
            used["figures.tangent_noise_examples"] = figures["tangent_noise_examples"]
    for gallery, spec in figures["galleries"].items():
        if spec["dataset"] == dataset:
            used[f"figures.galleries.{gallery}.images"] = max(spec["images"]) + 1
    return used


def check_test_images(name: str, dataset: str, exp: dict[str, Any], config: dict[str, Any]) -> None:
    """Every count of test images and every test index the config uses lies within the
    test split the experiment ``name`` has: its ``subset``, or the whole split."""
    subset = (exp.get("subset") or {}).get("test")
    n_test = subset if subset is not None else split_sizes(config, dataset)[1]
    for key, n in used_test_images(name, dataset, exp, config).items():
        if n <= n_test:
            continue
        what = "index" if key.endswith(".images") else "count"
        uses = f"image index {n - 1}" if what == "index" else f"{n} images"
        if subset is not None:
            raise ConfigError(
                f"config key '{name}.subset.test': {n_test} test images, but {key} uses {n}. "
                f"Fix: raise {name}.subset.test to at least {n} or lower {key}."
            )
        raise ConfigError(
            f"config key '{key}': {uses}, but the test split of {dataset} has {n_test} images "
            f"(indices 0 to {n_test - 1}). Fix: {'pick indices below' if what == 'index' else 'use at most'} {n_test}."
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


def check_classifier_arch(name: str, exp: dict[str, Any], shape: tuple[int, int, int], classes: int) -> None:
    model = exp["model"]
    try:
        inspect.signature(ARCHITECTURES[model["arch"]]).bind(shape[0], classes, **model["options"])
    except TypeError as e:
        raise ConfigError(
            f"config key '{name}.model.options': {model['options']} are not options of {model['arch']} ({e}). "
            "Fix: use the keyword arguments of its builder in pags.models."
        ) from None


def check_networks(config: dict[str, Any]) -> None:
    """What the config says of the networks it builds: the classifiers' options are their
    builders', and in sweeps the image sides suit the autoencoder and the trained
    denoiser. (A forward pass through each is ``pags.preflight.check_networks_run``.)"""
    for experiment in experiments(config).values():
        if experiment.kind == "pretrained":
            continue  # its networks are checked with its family (check_pretrained)
        name, dataset, exp = experiment.key, experiment.dataset, experiment.section
        shape, classes = data_shape(config, dataset)
        where = "synthetic.image_shape" if dataset == "synthetic" else f"{name} (data set {dataset})"
        check_classifier_arch(name, exp, shape, classes)
        if experiment.kind == "distractor":
            continue
        if shape[1] % 4 or shape[2] % 4:
            raise ConfigError(
                f"config key '{where}': the autoencoder halves the image sides twice, so they must be divisible "
                f"by 4; the images are {shape[1]}x{shape[2]}. Fix: e.g. [3, 16, 16]."
            )
        if any(get_backend(b).denoiser for b in exp["score"]["backends"]):
            check_denoiser_shape(shape, exp["score"]["denoiser"]["block_channels"], f"{name}.score.denoiser")


def check_letter(distractor: dict[str, Any]) -> None:
    """The authors' glyph exists for their letter only (``datasets.distractor.letter_image``)."""
    if distractor.get("font") == "freemono" and distractor["letter"] != "A":
        raise ConfigError(
            f"config key 'distractor.font': freemono is the authors' letter A, not {distractor['letter']!r}. "
            "Fix: set distractor.letter to A, or distractor.font to dejavu_sans_bold."
        )


def check_config(config: dict[str, Any]) -> None:
    """Raise ``ConfigError`` for the first problem the schema cannot catch."""
    check_experiment("distractor", config["distractor"])
    check_letter(config["distractor"])
    check_subset("distractor", f"{config['distractor']['dataset']}_distractor", config["distractor"], config)
    check_test_images("distractor", f"{config['distractor']['dataset']}_distractor", config["distractor"], config)
    check_logspace("distractor.noise_robustness.stds", config["distractor"]["noise_robustness"]["stds"])
    for dataset, exp in config["sweep"].items():
        check_sweep(f"sweep.{dataset}", exp)
        check_alignment(dataset, exp, config)
        check_subset(f"sweep.{dataset}", dataset, exp, config)
        check_test_images(f"sweep.{dataset}", dataset, exp, config)
    check_gallery(config)
    if "synthetic" in config["sweep"]:
        check_synthetic(config["synthetic"])
    check_networks(config)
    for dataset, section in config["pretrained"].items():
        check_pretrained(dataset, section, config)
        check_test_images(f"pretrained.{dataset}", dataset, section, config)
