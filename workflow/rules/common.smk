# Validation, grid expansion, paths and input functions shared by all rules.

import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

# Jobs import the package from this checkout, so the code that ran is the code in the repo.
PACKAGE_DIR = str(Path(workflow.basedir) / "workflow")
if PACKAGE_DIR not in sys.path:
    sys.path.insert(0, PACKAGE_DIR)
# Set, not required, so no `envvars:` directive; `update` rather than item assignment,
# which `snakemake --lint` mistakes for a read of a variable the user must define.
if PACKAGE_DIR not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ.update(
        PYTHONPATH=os.pathsep.join(
            p for p in (PACKAGE_DIR, os.environ.get("PYTHONPATH")) if p
        )
    )

from pags.config import NOT_DOWNLOADABLE, check_raw_data, data_shape, validated_config
from pags.datasets import BASE_DATASETS
from pags.datasets.download import DOWNLOADS
from pags.datasets.registry import loader_module
from pags.errors import ConfigError, PagsError
from pags.gallery import IMAGES_PATTERN, galleries, images_key, parse_images
from pags.grid import STRENGTH_PATTERN, expand_grid, format_strength, parse_strength
from pags.pretrained import as_experiment, get_family
from pags.objectives import objective_module
from pags.provenance import code_modules, code_version
from pags.runtime import gpu_requested
from pags.score import POSTERIOR_ESTIMATES
from pags.score.edm import check_edm_source
from pags.slurm_groups import run_group_members_at_once
from pags.weights import check_usable

# The SLURM profile's groups (several models per GPU) run their members at once.
run_group_members_at_once()

SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"

try:
    # Params hold values only: validated_config sorts the config's keys and makes the
    # integers of number-typed keys floats, so key order and `1` vs `1.0` rerun nothing.
    canonical_config = validated_config(config)
except ConfigError as e:
    raise WorkflowError(str(e)) from None
config.clear()
config.update(canonical_config)


wildcard_constraints:
    base="|".join(BASE_DATASETS),
    split="train|test",
    strength=STRENGTH_PATTERN,
    seed=r"\d+",
    backend="edm|trained|analytic|posterior|posterior_trained|posterior_edm",
    conditioning="cond|uncond",
    sigma=STRENGTH_PATTERN,
    images=IMAGES_PATTERN,


RESULTS = "results"
LOGS = f"{RESULTS}/logs"
FIGURES = f"{RESULTS}/figures"


def script_code(name, *modules):
    """The ``code`` param of the jobs that run ``workflow/scripts/<name>``, a digest of
    the script and the package modules it imports, blind to comments, docstrings and
    formatting (``pags.provenance``), so that a change to what a job runs reruns it.
    ``modules``: what the script imports by name at run time (a data set's loader). A
    script that uses the objectives' registry (their labels, colours) also covers the
    modules of the objectives the config trains, and no other objective's."""
    script = SCRIPTS / name
    if "pags.objectives" in code_modules(script):
        modules = (*modules, *map(objective_module, configured_objectives()))
    return code_version(script, extra=modules)


def model_code(name):
    """The ``code`` param of a job on one model (an ``objective`` wildcard): as
    ``script_code``, covering that model's objective only, so that adding or editing an
    objective reruns only its own models. (The Bayes-optimal reference has none.)"""
    return lambda w: code_version(
        SCRIPTS / name,
        extra=[objective_module(w.objective)] if hasattr(w, "objective") else [],
    )


# ---- experiments ------------------------------------------------------------


def distractor_dataset():
    """The synthesized data set the distractor experiment trains on."""
    return f"{config['distractor']['dataset']}_distractor"


def experiment(dataset):
    """The config section that defines the models trained on ``dataset``."""
    if dataset == distractor_dataset():
        return config["distractor"]
    if dataset in config["sweep"]:
        return config["sweep"][dataset]
    if dataset in config["pretrained"]:
        return pretrained_experiment(dataset)
    raise WorkflowError(f"no experiment in the config trains on data set '{dataset}'")


def configured_objectives():
    """Every objective some experiment of the config trains or evaluates."""
    datasets = [*trained_datasets(), *pretrained_datasets()]
    return sorted({o for d in datasets for o in experiment(d)["objectives"]})


def sweep_datasets():
    return list(config["sweep"])


def trained_datasets():
    """The data sets whose models the workflow trains."""
    return [distractor_dataset(), *sweep_datasets()]


def pretrained_datasets():
    """The data sets on which pretrained families are evaluated."""
    return list(config["pretrained"])


def one_of(names):
    """A wildcard constraint that matches exactly ``names`` (nothing, if empty)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


def pretrained_experiment(dataset):
    """A pretrained family as an experiment (``pags.pretrained.as_experiment``)."""
    return as_experiment(config["pretrained"][dataset])


def is_synthetic(dataset):
    return dataset == "synthetic"


def model_grid(exp):
    """(objective, canonical strength, seed) of every model an experiment trains."""
    return [
        (objective, format_strength(strength), seed)
        for objective, options in exp["objectives"].items()
        for strength in expand_grid(options["grid"])
        for seed in exp["seeds"]
    ]


def model_dir(dataset, objective, strength, seed):
    return f"{RESULTS}/{dataset}/models/{objective}/{strength}/seed={seed}"


def metric_file(dataset, objective, strength, seed, metric):
    return (
        f"{RESULTS}/{dataset}/metrics/{objective}/{strength}/seed={seed}/{metric}.csv"
    )


# ---- params -----------------------------------------------------------------


def data_subset(exp, split):
    """{"n", "seed"} of the class-balanced subset of ``split`` that the experiment ``exp``
    (a config section, or None) takes with its ``subset`` key; None for the whole split.
    """
    subset = (exp or {}).get("subset")
    if subset is None or subset[split] is None:
        return None
    return {"n": subset[split], "seed": subset["seed"]}


def train_hparams(wildcards):
    """Everything that determines a trained model, and nothing else: with a ``subset``
    of the data, also that (its images are the model's training data). Not
    ``training.amp``: like the device, it is how the arithmetic is done (``train_amp``).
    """
    exp = experiment(wildcards.dataset)
    options = dict(exp["objectives"][wildcards.objective])
    options.pop("grid")
    subset = {"subset": exp["subset"]} if "subset" in exp else {}
    return {
        **subset,
        "arch": exp["model"]["arch"],
        "arch_options": exp["model"]["options"],
        "objective": wildcards.objective,
        "strength": parse_strength(wildcards.strength),
        "objective_options": options,
        "training": {k: v for k, v in exp["training"].items() if k != "amp"},
        "seed": int(wildcards.seed),
    }


def train_amp(wildcards, resources):
    """Whether a training job computes in bfloat16 autocast: ``training.amp`` where the job
    asks for a GPU (it has no effect on the CPU). A param derived from resources, which
    Snakemake leaves out of its params trigger: switching amp, like the device, retrains
    nothing (``--forcerun train_model`` does)."""
    return experiment(wildcards.dataset)["training"]["amp"] and gpu_requested(resources)


def manifold_params(wildcards):
    """The on/off-manifold metric's settings, and only those."""
    return experiment(wildcards.dataset)["manifold_robustness"]


def noise_stds(settings):
    stds = expand_grid(settings["stds"])
    return ([0.0] if settings["include_zero"] else []) + [float(s) for s in stds]


# ---- input functions --------------------------------------------------------


def experiment_metric_files(metric):
    def files(wildcards):
        exp = experiment(wildcards.dataset)
        extra = (
            [f"{RESULTS}/synthetic/metrics/bayes/{metric}.csv"]
            if metric == "manifold_robustness" and is_synthetic(wildcards.dataset)
            else []
        )
        return [
            metric_file(wildcards.dataset, *m, metric) for m in model_grid(exp)
        ] + extra

    return files


def manifold_inputs(wildcards):
    """Test data and tangent spaces; on synthetic data also the exact manifold."""
    inputs = {
        "test": f"{RESULTS}/{wildcards.dataset}/data/test.pt",
        "tangents": f"{RESULTS}/{wildcards.dataset}/autoencoder/tangents.pt",
    }
    if is_synthetic(wildcards.dataset):
        inputs["manifold"] = f"{RESULTS}/synthetic/data/manifold.pt"
    return inputs


def first_seed_models(exp, dataset, file="model.pt"):
    """One model per (objective, strength): the first seed, for example figures."""
    seed = exp["seeds"][0]
    return [
        f"{model_dir(dataset, o, s, seed)}/{file}"
        for o, s, sd in model_grid(exp)
        if sd == seed
    ]


def figure_names():
    names = ["fig_noise_robustness", "fig_distractor"]
    if config["sweep"]:
        names += [
            "fig_manifold_robustness",
            "fig_tangent_noise",
            "fig_score_alignment",
        ]
        names += [f"fig_gallery_{name}" for name in GALLERIES]
    if "synthetic" in config["sweep"]:
        names += ["fig_ground_truth"]
    if "imagenet64" in config["sweep"] or "imagenet" in config["pretrained"]:
        names += ["fig_imagenet"]
    return names


def unknown_target(wildcards):
    """Raise the error of an unknown target, listing the figures the config makes."""
    raise WorkflowError(
        f"'{wildcards.target}' is not a target of this workflow. Figure targets of this config: "
        f"{', '.join(figure_names())}, and fig_gallery (every gallery); or name a file under "
        f"{RESULTS}/ that a rule makes. `snakemake --list-target-rules` lists every rule."
    )


def all_targets():
    return expand(f"{FIGURES}/{{fig}}.{{ext}}", fig=figure_names(), ext=["pdf", "png"])


# ---- scores and alignment -----------------------------------------------------


def score_file(dataset, backend, images=None):
    """The score of ``dataset``'s test images from ``backend``, at the configured sigma:
    of the first ``score.n_images``, or of those at the indices ``images``."""
    score = experiment(dataset)["score"]
    # The posterior gradient grad log p(y | x) and its estimates are conditional by definition.
    conditional = score["conditional"] or backend.startswith("posterior")
    conditioning = "cond" if conditional else "uncond"
    sigma = format_strength(score["sigma"])
    stem = f"{RESULTS}/{dataset}/score/{backend}/sigma={sigma}/{conditioning}"
    return f"{stem}.pt" if images is None else f"{stem}/images={images_key(images)}.pt"


def regime_backend(dataset):
    """The score backend the regimes and figures use: configured, or the first listed."""
    exp = experiment(dataset)
    return exp["regimes"]["score"] or exp["score"]["backends"][0]


def gradient_target(dataset):
    """The paper's convention unless configured: logit sum with an unconditional score,
    predicted-class logit with a conditional one."""
    exp = experiment(dataset)
    target = exp["alignment"]["gradient"]
    if target == "auto":
        return "predicted" if exp["score"]["conditional"] else "logit_sum"
    return target


def weights_file(name):
    return f"{RESULTS}/weights/{name}"


def absent_weights():
    """The weight files not in place: the only ones rule fetch_weights makes."""
    return [n for n in config["weights"] if not os.path.exists(weights_file(n))]


def score_inputs(wildcards):
    inputs = {"test": f"{RESULTS}/{wildcards.dataset}/data/test.pt"}
    score = experiment(wildcards.dataset)["score"]
    if wildcards.backend in ("trained", "posterior_trained"):
        inputs["denoiser"] = f"{RESULTS}/{wildcards.dataset}/denoiser/model.pt"
    elif wildcards.backend == "edm":
        inputs["weights"] = weights_file(score["edm_network"])
    elif wildcards.backend == "posterior_edm":
        inputs.update({c: weights_file(n) for c, n in score["posterior_edm"].items()})
    else:
        inputs["manifold"] = f"{RESULTS}/{wildcards.dataset}/data/manifold.pt"
    return inputs


def score_params(wildcards):
    """What determines a score file besides its path: the images, the side they are
    scored at and, for edm, the network and its pinned weights."""
    score = experiment(wildcards.dataset)["score"]
    params = {
        "n_images": score["n_images"],
        "batch_size": score["batch_size"],
        "image_side": score["image_side"],
        "num_classes": data_shape(config, wildcards.dataset)[1],
    }
    if wildcards.backend == "edm":
        params["edm_network"] = score["edm_network"]
        params["sha256"] = config["weights"][score["edm_network"]]["sha256"]
    if wildcards.backend == "posterior_edm":
        params["posterior_edm"] = score["posterior_edm"]
        params["posterior_edm_sha256"] = {
            c: config["weights"][n]["sha256"] for c, n in score["posterior_edm"].items()
        }
    return params


def denoiser_conditional(dataset):
    """Whether the trained denoiser is class-conditional: for a conditional score, or to
    give grad log p(y | x) (posterior_trained) from its label and null class."""
    score = experiment(dataset)["score"]
    return score["conditional"] or "posterior_trained" in score["backends"]


def score_reference(backend):
    """The exact score of the synthetic data an estimate is checked against."""
    return "posterior" if backend in POSTERIOR_ESTIMATES else "analytic"


def alignment_backends(dataset):
    """The configured scores; on synthetic data always also the exact score and the
    exact posterior gradient."""
    backends = list(experiment(dataset)["score"]["backends"])
    if is_synthetic(dataset):
        backends += [b for b in ("analytic", "posterior") if b not in backends]
    return backends


def alignment_inputs(wildcards):
    exp = experiment(wildcards.dataset)
    inputs = {
        "scores": [
            score_file(wildcards.dataset, b)
            for b in alignment_backends(wildcards.dataset)
        ],
        "test": f"{RESULTS}/{wildcards.dataset}/data/test.pt",
    }
    if "lpips" in exp["alignment"]["metrics"]:
        inputs["alexnet"] = weights_file("alexnet")
    return inputs


def gradient_resize(dataset):
    """How gradients are resized to the score's side (alignment.gradient_resize), where
    the score is taken at a side of its own (score.image_side); None where it is not, so
    that the option is no param of the alignments it does not change."""
    exp = experiment(dataset)
    if exp["score"]["image_side"] is None:
        return None
    return exp["alignment"]["gradient_resize"]


def alignment_params(wildcards):
    exp = experiment(wildcards.dataset)
    params = {
        "metrics": exp["alignment"]["metrics"],
        "gradient": gradient_target(wildcards.dataset),
        "backends": alignment_backends(wildcards.dataset),
    }
    resize = gradient_resize(wildcards.dataset)
    if resize is not None:
        params["gradient_resize"] = resize
    if "lpips" in params["metrics"]:
        params["alexnet_sha256"] = config["weights"]["alexnet"]["sha256"]
    return params


# ---- galleries ----------------------------------------------------------------

# name -> {dataset, objective, strengths, images, standard}: one per sweep data set and
# swept objective, then the named ones of figures.galleries (pags.gallery).
GALLERIES = galleries(config)


def gallery_file(name, ext):
    return f"{FIGURES}/fig_gallery_{name}.{ext}"


def test_images_file(dataset, images):
    """The test images at ``images`` (indices, in that order), as a split: a gallery's."""
    return f"{RESULTS}/{dataset}/data/test/images={images_key(images)}.pt"


def gallery_models(gallery, file):
    """The gallery's models, first seed: the standard one (unless left out), then its
    objective at each of its strengths."""
    dataset = gallery["dataset"]
    seed = experiment(dataset)["seeds"][0]
    models = [("standard", "0")] if gallery["standard"] else []
    models += [(gallery["objective"], s) for s in gallery["strengths"]]
    return [f"{model_dir(dataset, *m, seed)}/{file}" for m in models]


def gallery_inputs(gallery):
    """Its images and their own score file (not the first score.n_images: choosing other
    images scores those only), the regimes, the models; AlexNet for LPIPS."""
    dataset = gallery["dataset"]
    inputs = {
        "images": test_images_file(dataset, gallery["images"]),
        "score": score_file(dataset, regime_backend(dataset), gallery["images"]),
        "regimes": f"{RESULTS}/{dataset}/tables/regimes.csv",
        "models": gallery_models(gallery, "model.pt"),
        "records": gallery_models(gallery, "train.json"),
    }
    if experiment(dataset)["regimes"]["metric"] == "lpips":
        inputs["alexnet"] = weights_file("alexnet")
    return inputs


def gallery_params(gallery):
    """The gallery, and how its numbers are computed: the regimes' metric and score, the
    data set's gradient convention and, where the score has a side of its own, how the
    gradients are resized to it."""
    dataset = gallery["dataset"]
    params = {
        "gallery": gallery,
        "metric": experiment(dataset)["regimes"]["metric"],
        "score": regime_backend(dataset),
        "gradient": gradient_target(dataset),
    }
    if gradient_resize(dataset) is not None:
        params["gradient_resize"] = gradient_resize(dataset)
    if params["metric"] == "lpips":
        params["alexnet_sha256"] = config["weights"]["alexnet"]["sha256"]
    return params


def gallery_score_inputs(wildcards):
    """A score rule's inputs, with the gallery's images as the test split."""
    return {
        **score_inputs(wildcards),
        "test": test_images_file(wildcards.dataset, parse_images(wildcards.images)),
    }


def gallery_score_params(wildcards):
    """A score rule's params, but all the images of the file rather than score.n_images."""
    return {**score_params(wildcards), "n_images": len(parse_images(wildcards.images))}


def ground_truth_metric():
    """Cosine when computed: exact and weight-free, the natural check against a known score."""
    metrics = experiment("synthetic")["alignment"]["metrics"]
    return (
        "cosine"
        if "cosine" in metrics
        else experiment("synthetic")["regimes"]["metric"]
    )


# ---- pretrained families --------------------------------------------------------


def pretrained_weight_name(wildcards):
    """The ``weights`` entry of the pretrained model a job evaluates."""
    section = config["pretrained"][wildcards.dataset]
    return get_family(
        section["family"], f"pretrained.{wildcards.dataset}.family"
    ).weight_name(parse_strength(wildcards.strength))


def pretrained_params(wildcards):
    section = config["pretrained"][wildcards.dataset]
    name = pretrained_weight_name(wildcards)
    return {
        "family": section["family"],
        "eps": parse_strength(wildcards.strength),
        "objective": wildcards.objective,
        "weights": name,
        "sha256": config["weights"][name]["sha256"],
        "top1": section["top1"],
        "seed": section["seed"],
    }


def has_manifold_metrics(dataset):
    """Sweeps measure on/off-manifold robustness; pretrained families are not measured so."""
    return dataset in config["sweep"]


def regimes_inputs(wildcards):
    inputs = {"alignment": f"{RESULTS}/{wildcards.dataset}/tables/alignment.csv"}
    if has_manifold_metrics(wildcards.dataset):
        inputs["robustness"] = (
            f"{RESULTS}/{wildcards.dataset}/tables/manifold_robustness.csv"
        )
    return inputs


def imagenet_families():
    """fig_imagenet's columns, as configured: own (the ImageNet-64 sweep) and pretrained."""
    families = {"own": "imagenet64", "pretrained": "imagenet"}
    return {
        f: d
        for f, d in families.items()
        if d in config["sweep"] or d in config["pretrained"]
    }


def imagenet_figure_inputs():
    """fig_imagenet's tables: the ImageNet-64 sweep's and the pretrained family's, where configured."""
    inputs = {}
    if "imagenet64" in config["sweep"]:
        inputs["own_alignment"] = f"{RESULTS}/imagenet64/tables/alignment.csv"
        inputs["own_regimes"] = f"{RESULTS}/imagenet64/tables/regimes.csv"
    if "imagenet" in config["pretrained"]:
        inputs["pretrained_alignment"] = f"{RESULTS}/imagenet/tables/alignment.csv"
        inputs["pretrained_regimes"] = f"{RESULTS}/imagenet/tables/regimes.csv"
        inputs["top1"] = f"{RESULTS}/imagenet/tables/top1.csv"
    return inputs


def claims_inputs(wildcards):
    """The tables the claims are checked on: the distractor experiment's noise
    robustness; every sweep's manifold robustness and regimes; every pretrained family's
    regimes and top-1."""
    inputs = {
        "noise_robustness": f"{RESULTS}/{distractor_dataset()}/tables/noise_robustness.csv"
    }
    for dataset in sweep_datasets():
        for table in ("manifold_robustness", "regimes"):
            inputs[f"{dataset}_{table}"] = f"{RESULTS}/{dataset}/tables/{table}.csv"
    for dataset in pretrained_datasets():
        for table in ("regimes", "top1"):
            inputs[f"{dataset}_{table}"] = f"{RESULTS}/{dataset}/tables/{table}.csv"
    return inputs


def raw_data_needed(jobs):
    """(data set, split) of the raw data that ``jobs`` read from ``data.root`` and that no
    download can fetch: checked before any job starts (``onstart``), and only for the
    jobs that will run, so a run without ImageNet targets needs no ImageNet files."""
    for job in jobs:
        w = job.wildcards
        if job.rule.name == "base_dataset" and w.base in NOT_DOWNLOADABLE:
            yield w.base, w.split
        elif (
            job.rule.name in ("pretrained_images", "pretrained_model")
            and w.dataset in NOT_DOWNLOADABLE
        ):
            yield w.dataset, "test"


def weights_needed(jobs):
    """The names of the weight files that ``jobs`` read or fetch."""
    folder = Path(weights_file("name")).parent
    return sorted(
        {
            Path(f).name
            for job in jobs
            for f in [*job.input, *job.output]
            if Path(f).parent == folder
        }
    )


def edm_needed(jobs):
    """Whether ``jobs`` unpickle EDM networks (their scores)."""
    return any(
        job.rule.name in ("score", "score_images")
        and job.wildcards.backend in ("edm", "posterior_edm")
        for job in jobs
    )


def check_before_jobs(jobs):
    """What ``jobs`` need and can be checked before any of them starts (``onstart``, on
    the submitting node): the raw data no download can fetch, the weight files (present
    ones against their pins, absent ones fetchable) and EDM's modules. One error, no job
    submitted, rather than the same error in every job that reads the file."""
    jobs = list(jobs)
    try:
        check_raw_data(config["data"]["root"], raw_data_needed(jobs))
        for name in weights_needed(jobs):
            entry = config["weights"][name]
            check_usable(
                weights_file(name), entry["url"], entry["sha256"], f"weights.{name}"
            )
        if edm_needed(jobs):
            check_edm_source(config["edm_source"])
    except PagsError as e:
        raise WorkflowError(str(e)) from None


def weights_used():
    """The names of the weight files the config's experiments read."""
    names = set()
    for dataset in [*sweep_datasets(), *pretrained_datasets()]:
        exp = experiment(dataset)
        if "edm" in exp["score"]["backends"]:
            names.add(exp["score"]["edm_network"])
        if "posterior_edm" in exp["score"]["backends"]:
            names.update(exp["score"]["posterior_edm"].values())
        if "lpips" in exp["alignment"]["metrics"]:
            names.add("alexnet")
    for dataset, section in config["pretrained"].items():
        family = get_family(section["family"], f"pretrained.{dataset}.family")
        names.update(family.weight_name(eps) for eps in section["eps"])
    return sorted(names)


def prefetch_inputs():
    """Everything the config needs from the internet: the splits of the data sets that
    can be downloaded, and the weight files."""
    datasets = [config["distractor"]["dataset"], *sweep_datasets()]
    data = [
        f"{RESULTS}/{d}/data/{split}.pt"
        for d in datasets
        if d in DOWNLOADS
        for split in ("train", "test")
    ]
    return data + [weights_file(name) for name in weights_used()]
