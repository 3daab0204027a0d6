"""What a validated config asks the workflow to make: its experiments by data set, their
models, and each job's inputs and params, as pure functions of the config.

The rules (``workflow/rules/*.smk``) are glue around one ``Plan``: they name its methods
as input and params functions. Methods that take ``w`` accept the job's wildcards (any
object with the attributes they read: ``dataset``, ``objective``, ``strength``, ``seed``,
``backend``, ``images``), so tests call them with a ``types.SimpleNamespace``. Methods
whose first argument is ``dataset`` take a data set's name or a job's wildcards (its
``dataset``), so that a rule names them as they are; those with an optional ``w`` are
params of rules whose values do not depend on the job.

Which experiment (config section) trains or evaluates a data set is
``pags.experiments``'s to say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import paths
from .datasets.registry import DATASETS, data_shape, raw_digest
from .experiments import experiments, objective_seeds
from .gallery import galleries, spread
from .grid import expand_grid, format_strength, is_search, parse_strength
from .image_selection import images_key, parse_images
from .objectives import get_spec
from .pretrained import get_family
from .score.backends import BACKENDS, exact_reference, get_backend


def unsearched(dataset: str, objective: str) -> list[float]:
    raise RuntimeError(
        f"the strengths of {objective}'s search on {dataset} are known only as the workflow runs it (rule search_round)"
    )


def dataset_of(dataset: Any) -> str:
    """A data set's name, given as such or as a job's wildcards (their ``dataset``)."""
    return dataset if isinstance(dataset, str) else dataset.dataset


class Plan:
    """The jobs of one validated config (``pags.config.validated_config``)."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        self.experiments = experiments(config)
        # name -> {dataset, objective, strengths, images, standard} (pags.gallery)
        self.galleries = galleries(config)
        # (dataset, objective) -> the strengths a search found: the workflow's rule
        # search_round, which alone can read them (workflow/rules/search.smk)
        self.searched: Callable[[str, str], list[float]] = unsearched
        self._raw: dict[tuple[str, str], str | None] = {}  # raw_data, by (data set, split)

    # ---- experiments ----------------------------------------------------------

    def experiment(self, dataset: str) -> dict[str, Any]:
        """The settings of the experiment whose models see ``dataset``; ``KeyError`` if none."""
        try:
            return self.experiments[dataset].section
        except KeyError:
            raise KeyError(f"no experiment in the config trains on data set '{dataset}'") from None

    def setting(self, *keys: str, dataset: str | None = None) -> Callable[[Any], Any]:
        """A params function: the value at ``keys`` in the settings of the experiment on
        the job's data set (``w.dataset``), or on ``dataset`` if given."""

        def value(w: Any = None) -> Any:
            node = self.experiment(dataset or w.dataset)
            for key in keys:
                node = node[key]
            return node

        value.__name__ = f"setting_{'_'.join(keys)}"
        return value

    @property
    def distractor_dataset(self) -> str:
        return next(e.dataset for e in self.experiments.values() if e.kind == "distractor")

    def datasets(self, *kinds: str) -> list[str]:
        """The data sets of the experiments of these kinds (``distractor``, ``sweep``,
        ``pretrained``), in the config's order."""
        return [e.dataset for e in self.experiments.values() if e.kind in kinds]

    @property
    def sweep_datasets(self) -> list[str]:
        return self.datasets("sweep")

    @property
    def trained_datasets(self) -> list[str]:
        """The data sets whose models the workflow trains."""
        return self.datasets("distractor", "sweep")

    @property
    def pretrained_datasets(self) -> list[str]:
        return self.datasets("pretrained")

    def configured_objectives(self) -> list[str]:
        """Every objective some experiment trains or evaluates, sorted."""
        return sorted({o for e in self.experiments.values() for o in e.section["objectives"]})

    def strengths(self, dataset: str, objective: str) -> list:
        """The strengths of an objective: its grid's, or those its search found (``searched``)."""
        grid = self.experiment(dataset)["objectives"][objective]["grid"]
        return self.searched(dataset, objective) if is_search(grid) else expand_grid(grid)

    def model_grid(self, dataset: str) -> list[tuple[str, str, int]]:
        """(objective, canonical strength, seed) of every model of ``dataset``'s experiment."""
        exp = self.experiment(dataset)
        return [
            (objective, format_strength(strength), seed)
            for objective in exp["objectives"]
            for strength in self.strengths(dataset, objective)
            for seed in objective_seeds(exp, objective)
        ]

    # ---- searches (pags.search) ------------------------------------------------

    def searches(self) -> list[tuple[str, str]]:
        """(data set, objective) of every sweep objective whose grid is a search."""
        return [
            (dataset, objective)
            for dataset in self.sweep_datasets
            for objective, options in self.experiment(dataset)["objectives"].items()
            if is_search(options["grid"])
        ]

    def search_settings(self, dataset: str) -> dict[str, Any]:
        """How a search reads ``dataset``'s models (``pags.search.metric_rows``,
        ``next_strengths``): the regimes' score and metric, the manifold metric's step, and
        the accuracy drop and off-manifold fraction that mark the turns."""
        exp = self.experiment(dataset)
        return {
            "score": self.regime_backend(dataset),
            "metric": exp["regimes"]["metric"],
            "plot_step": exp["manifold_robustness"]["plot_step"],
            "max_accuracy_drop": exp["regimes"]["max_accuracy_drop"],
            "off_below": self.config["claims"]["manifold"]["off_below"],
        }

    def search_params(self, w) -> dict[str, Any]:
        """What a round of ``w.objective``'s search on ``w.dataset`` reads besides the
        models: its first strengths, its settings, and ``search_settings``."""
        grid = self.experiment(w.dataset)["objectives"][w.objective]["grid"]
        return {"start": expand_grid(grid), "search": grid["search"], **self.search_settings(w.dataset)}

    def search_metrics(self, dataset: str, objective: str, strengths: list[float]) -> dict[str, list[str]]:
        """The alignment and manifold tables of the standard model and of ``objective`` at
        ``strengths``, every seed: what a search round reads."""
        exp = self.experiment(dataset)
        models = [("standard", "0", seed) for seed in objective_seeds(exp, "standard")]
        models += [(objective, format_strength(s), seed) for s in strengths for seed in objective_seeds(exp, objective)]
        return {
            metric: [paths.metric_file(dataset, *m, metric) for m in models]
            for metric in ("alignment", "manifold_robustness")
        }

    def first_seed_models(self, dataset: str, file: str = "model.pt") -> list[str]:
        """One model file per (objective, strength), of the first seed: for example figures."""
        seed = self.experiment(dataset)["seeds"][0]
        return [f"{paths.model_dir(dataset, o, s, seed)}/{file}" for o, s, sd in self.model_grid(dataset) if sd == seed]

    def metric_files(self, dataset: str, metric: str) -> list[str]:
        """Every model's table of ``metric``; on synthetic data the manifold metric of the
        Bayes-optimal classifier too."""
        files = [paths.metric_file(dataset, *m, metric) for m in self.model_grid(dataset)]
        if metric == "manifold_robustness" and dataset == "synthetic":
            files.append(f"{paths.RESULTS}/synthetic/metrics/bayes/{metric}.csv")
        return files

    def metric_inputs(self, metric: str) -> Callable[[Any], list[str]]:
        """An input function: ``metric_files`` of the job's data set (``w.dataset``)."""

        def files(w: Any) -> list[str]:
            return self.metric_files(w.dataset, metric)

        files.__name__ = f"{metric}_files"
        return files

    def first_seed_records(self, w) -> list[str]:
        """The training records of ``first_seed_models`` of the job's data set."""
        return self.first_seed_models(w.dataset, file="train.json")

    # ---- data and training ------------------------------------------------------

    def data_subset(self, dataset: str, split: str) -> dict[str, int] | None:
        """{"n", "seed"} of the class-balanced subset of ``split`` that the experiment on
        ``dataset`` takes with its ``subset`` key; None for the whole split (or no experiment)."""
        exp = self.experiments.get(dataset)
        subset = exp.section.get("subset") if exp else None
        if subset is None or subset[split] is None:
            return None
        return {"n": subset[split], "seed": subset["seed"]}

    def raw_data(self, dataset: str, split: str) -> str | None:
        """The state of the raw files under ``data.root`` that ``dataset``'s loader reads
        for ``split`` (``pags.datasets.registry.raw_digest``; None for a data set without
        files): a param of the jobs that read them, so that a changed raw file reruns its
        data set and everything after it. Taken once per plan (ImageNet's validation set
        is 50,000 files, read by several jobs)."""
        key = (dataset, split)
        if key not in self._raw:
            data = self.config["data"]
            self._raw[key] = raw_digest(dataset, data["root"], split, data["download"])
        return self._raw[key]

    def base_raw_data(self, w) -> str | None:
        """``raw_data`` of a base data set's split (``w.base``, ``w.split``)."""
        return self.raw_data(w.base, w.split)

    def test_raw_data(self, w) -> str | None:
        """``raw_data`` of the test split of the job's data set (``w.dataset``)."""
        return self.raw_data(w.dataset, "test")

    def base_subset(self, w) -> dict[str, int] | None:
        """``data_subset`` of a base data set's split (``w.base``, ``w.split``)."""
        return self.data_subset(w.base, w.split)

    def distractor_subset(self, w) -> dict[str, int] | None:
        """``data_subset`` of a split of the distractor data set made from ``w.base``."""
        return self.data_subset(f"{w.base}_distractor", w.split)

    def distractor_num_classes(self, w) -> int:
        return self.num_classes(f"{w.base}_distractor")

    def synthetic_spec(self) -> dict[str, Any]:
        """The synthetic data set's generator settings (``synthetic``)."""
        return self.config["synthetic"]

    def num_classes(self, dataset: str) -> int:
        return data_shape(self.config, dataset_of(dataset))[1]

    def train_priority(self, w) -> int:
        """The distractor's models train longest (twice the pixels, PGD): they start first."""
        return 1 if w.dataset == self.distractor_dataset else 0

    def train_hparams(self, w) -> dict[str, Any]:
        """Everything that determines a trained model, and nothing else: with a ``subset``
        of the data, also that (its images are the model's training data). Not
        ``training.amp``: like the device, it is how the arithmetic is done; nor an option
        set to what leaving it out means (``ObjectiveSpec.absent``)."""
        exp = self.experiment(w.dataset)
        options = get_spec(w.objective).params_options(exp["objectives"][w.objective])
        options.pop("grid")
        options.pop("seeds", None)  # which models to train, not what one model is
        subset = {"subset": exp["subset"]} if "subset" in exp else {}
        return {
            **subset,
            "arch": exp["model"]["arch"],
            "arch_options": exp["model"]["options"],
            "objective": w.objective,
            "strength": parse_strength(w.strength),
            "objective_options": options,
            "training": {k: v for k, v in exp["training"].items() if k != "amp"},
            "seed": int(w.seed),
        }

    def distractor_letter(self) -> str | dict[str, str]:
        """The distractor's letter, and its font where ``distractor.font`` is set to another
        than the one an unset key means, so that the option is no param where it changes
        nothing."""
        d = self.config["distractor"]
        font = d.get("font", "dejavu_sans_bold")
        return d["letter"] if font == "dejavu_sans_bold" else {"letter": d["letter"], "font": font}

    def noise_draws(self, dataset: str) -> int | dict[str, Any]:
        """Noise draws per image of Fig. 5's evaluation, and whether they are shared by the
        stds and regions where ``noise_robustness.shared_noise`` says they are not (no
        param where the option changes nothing)."""
        settings = self.experiment(dataset_of(dataset))["noise_robustness"]
        if settings.get("shared_noise", True):
            return settings["draws"]
        return {"draws": settings["draws"], "shared": False}

    def noise_stds(self, dataset: str) -> list[float]:
        settings = self.experiment(dataset_of(dataset))["noise_robustness"]
        return ([0.0] if settings["include_zero"] else []) + [float(s) for s in expand_grid(settings["stds"])]

    def manifold_inputs(self, w) -> dict[str, str]:
        """Test data and tangent spaces; on synthetic data also the exact manifold."""
        inputs = {
            "test": paths.data_file(w.dataset, "test"),
            "tangents": f"{paths.autoencoder_dir(w.dataset)}/tangents.pt",
        }
        if w.dataset == "synthetic":
            inputs["manifold"] = paths.manifold_file("synthetic")
        return inputs

    # ---- scores and alignment ----------------------------------------------------

    def score_file(self, dataset: str, backend: str, images: list[int] | None = None) -> str:
        """The score of ``dataset``'s test images from ``backend`` at the configured sigma:
        of the first ``score.n_images``, or of those at the indices ``images``."""
        score = self.experiment(dataset)["score"]
        # The posterior gradient grad log p(y | x) and its estimates are conditional by definition.
        conditional = score["conditional"] or get_backend(backend).posterior
        stem = paths.score_stem(dataset, backend, format_strength(score["sigma"]), "cond" if conditional else "uncond")
        return f"{stem}.pt" if images is None else f"{stem}/images={images_key(images)}.pt"

    def regime_backend(self, dataset: str) -> str:
        """The score the regimes and figures use: configured, or the first listed."""
        exp = self.experiment(dataset_of(dataset))
        return exp["regimes"]["score"] or exp["score"]["backends"][0]

    def regimes_metric(self, dataset: str) -> str:
        """The alignment metric the regimes and figures use (``regimes.metric``)."""
        return self.experiment(dataset_of(dataset))["regimes"]["metric"]

    def gradient_target(self, dataset: str) -> str:
        """The paper's convention unless configured: logit sum with an unconditional
        score, predicted-class logit with a conditional one."""
        exp = self.experiment(dataset)
        target = exp["alignment"]["gradient"]
        if target == "auto":
            return "predicted" if exp["score"]["conditional"] else "logit_sum"
        return target

    def gradient_resize(self, dataset: str) -> str | None:
        """How gradients are resized to the score's side where the score is taken at a
        side of its own (``score.image_side``); None where it is not, so that the option
        is no param of the jobs it does not change."""
        exp = self.experiment(dataset)
        return None if exp["score"]["image_side"] is None else exp["alignment"]["gradient_resize"]

    def sha256(self, name: str) -> str:
        return self.config["weights"][name]["sha256"]

    def alexnet_sha256(self, w=None) -> str:
        return self.sha256("alexnet")

    def score_inputs(self, w) -> dict[str, str]:
        """The test images and what the backend reads (``ScoreBackendSpec.inputs``)."""
        score = self.experiment(w.dataset)["score"]
        return {"test": paths.data_file(w.dataset, "test"), **get_backend(w.backend).inputs(w.dataset, score)}

    def score_params(self, w) -> dict[str, Any]:
        """What determines a score file besides its path: the images, the side they are
        scored at, and what the backend names (``ScoreBackendSpec.params``: for EDM, the
        networks and their pinned weights)."""
        score = self.experiment(w.dataset)["score"]
        return {
            "n_images": score["n_images"],
            "batch_size": score["batch_size"],
            "image_side": score["image_side"],
            "num_classes": self.num_classes(w.dataset),
            **get_backend(w.backend).params(score, self.config["weights"]),
        }

    def score_key(self, w) -> str:
        """The config key of the score section of ``w.dataset``'s experiment, for errors."""
        return f"{self.experiments[w.dataset].key}.score"

    def gallery_score_inputs(self, w) -> dict[str, str]:
        """A score job's inputs, with a gallery's images as the test split."""
        return {**self.score_inputs(w), "test": paths.test_images_file(w.dataset, w.images)}

    def gallery_score_params(self, w) -> dict[str, Any]:
        """A score job's params, but all the images of the file rather than score.n_images."""
        return {**self.score_params(w), "n_images": len(parse_images(w.images))}

    def denoiser_conditional(self, dataset: str) -> bool:
        """Whether the trained denoiser is class-conditional: for a conditional score, or to
        give grad log p(y | x) (a posterior backend that reads it) from its label and null class."""
        score = self.experiment(dataset_of(dataset))["score"]
        specs = map(get_backend, score["backends"])
        return score["conditional"] or any(s.denoiser and s.posterior for s in specs)

    def configured_backends(self) -> list[str]:
        """Every score backend some experiment computes, sorted."""
        return sorted({b for d in self.datasets("sweep", "pretrained") for b in self.alignment_backends(d)})

    def alignment_backends(self, dataset: str) -> list[str]:
        """The configured scores; on synthetic data always also the exact ones (the score
        and grad log p(y | x))."""
        backends = list(self.experiment(dataset)["score"]["backends"])
        if dataset == "synthetic":
            backends += [b for b, s in BACKENDS.items() if s.exact and b not in backends]
        return backends

    def alignment_inputs(self, w) -> dict[str, Any]:
        inputs = {
            "scores": [self.score_file(w.dataset, b) for b in self.alignment_backends(w.dataset)],
            "test": paths.data_file(w.dataset, "test"),
        }
        if "lpips" in self.experiment(w.dataset)["alignment"]["metrics"]:
            inputs["alexnet"] = paths.weights_file("alexnet")
        return inputs

    def alignment_params(self, w) -> dict[str, Any]:
        exp = self.experiment(w.dataset)
        params = {
            "metrics": exp["alignment"]["metrics"],
            "gradient": self.gradient_target(w.dataset),
            "backends": self.alignment_backends(w.dataset),
        }
        if self.gradient_resize(w.dataset) is not None:
            params["gradient_resize"] = self.gradient_resize(w.dataset)
        if "lpips" in params["metrics"]:
            params["alexnet_sha256"] = self.sha256("alexnet")
        return params

    def score_quality_backends(self, w=None) -> list[str]:
        """The estimated scores of the synthetic sweep, each checked against its exact one."""
        return [b for b in self.experiment("synthetic")["score"]["backends"] if exact_reference(b) != b]

    def score_quality_references(self, w=None) -> list[str]:
        """The exact score each of ``score_quality_backends`` is checked against."""
        return [exact_reference(b) for b in self.score_quality_backends()]

    def score_quality_metrics(self, w=None) -> list[str]:
        """The synthetic sweep's alignment metrics, by which the estimates are compared."""
        return self.experiment("synthetic")["alignment"]["metrics"]

    def score_quality_inputs(self, w=None) -> dict[str, Any]:
        """The exact scores (named by backend), the estimated ones, AlexNet for LPIPS."""
        inputs: dict[str, Any] = {r: self.score_file("synthetic", r) for r in self.score_quality_references()}
        inputs["estimated"] = [self.score_file("synthetic", b) for b in self.score_quality_backends()]
        inputs["alexnet"] = paths.weights_file("alexnet") if "lpips" in self.score_quality_metrics() else []
        return inputs

    def ground_truth_metric(self, w=None) -> str:
        """Cosine when computed: exact and weight-free, the natural check against a known score."""
        exp = self.experiment("synthetic")
        return "cosine" if "cosine" in exp["alignment"]["metrics"] else self.regimes_metric("synthetic")

    def ground_truth_plot_step(self, w=None) -> float:
        return self.plot_step("synthetic")

    # ---- regimes and galleries -------------------------------------------------------

    def regimes_inputs(self, w) -> dict[str, str]:
        """Alignment, and for sweeps the manifold metric: pretrained families have none."""
        inputs = {"alignment": paths.table_file(w.dataset, "alignment")}
        if w.dataset in self.sweep_datasets:
            inputs["robustness"] = paths.table_file(w.dataset, "manifold_robustness")
        return inputs

    def plot_step(self, dataset: str) -> float:
        """The step size a sweep's manifold robustness is shown and judged at."""
        return self.experiment(dataset_of(dataset))["manifold_robustness"]["plot_step"]

    def plot_steps(self) -> list[float]:
        """``plot_step`` of each sweep, in the order of ``sweep_datasets``."""
        return [self.plot_step(d) for d in self.sweep_datasets]

    def regimes_step_size(self, dataset: str) -> float | None:
        dataset = dataset_of(dataset)
        return self.plot_step(dataset) if dataset in self.sweep_datasets else None

    def gallery_strengths(self, gallery: dict[str, Any]) -> list[str]:
        """The strengths a gallery shows: its own, or for an objective's gallery whose grid
        is a search (``strengths`` None), ``figures.gallery.n_strengths`` spread over
        those the search found (through the search's checkpoint: known once it has run)."""
        if gallery["strengths"] is not None:
            return gallery["strengths"]
        found = [format_strength(s) for s in self.strengths(gallery["dataset"], gallery["objective"])]
        return spread(found, self.config["figures"]["gallery"]["n_strengths"])

    def gallery_models(self, gallery: dict[str, Any], file: str) -> list[str]:
        """The gallery's models, first seed: the standard one (unless left out), then its
        objective at each of its strengths (``gallery_strengths``)."""
        dataset = gallery["dataset"]
        seed = self.experiment(dataset)["seeds"][0]
        models = [("standard", "0")] if gallery["standard"] else []
        models += [(gallery["objective"], s) for s in self.gallery_strengths(gallery)]
        return [f"{paths.model_dir(dataset, *m, seed)}/{file}" for m in models]

    def gallery_inputs(self, gallery: dict[str, Any]) -> dict[str, Any]:
        """Its images and their own score file (choosing other images scores those only),
        the regimes, the models; AlexNet for LPIPS. The models of a search's strengths are
        input functions, which wait for the search (``gallery_strengths``)."""
        dataset = gallery["dataset"]

        def models(file: str) -> list[str] | Callable[[Any], list[str]]:
            if gallery["strengths"] is None:
                return lambda w: self.gallery_models(gallery, file)
            return self.gallery_models(gallery, file)

        inputs = {
            "images": paths.test_images_file(dataset, images_key(gallery["images"])),
            "score": self.score_file(dataset, self.regime_backend(dataset), gallery["images"]),
            "regimes": paths.table_file(dataset, "regimes"),
            "models": models("model.pt"),
            "records": models("train.json"),
        }
        if self.regimes_metric(dataset) == "lpips":
            inputs["alexnet"] = paths.weights_file("alexnet")
        return inputs

    def gallery_params(self, gallery: dict[str, Any]) -> dict[str, Any]:
        """The gallery, and how its numbers are computed: the regimes' metric and score,
        the data set's gradient convention and, where the score has a side of its own,
        how the gradients are resized to it."""
        dataset = gallery["dataset"]
        params = {
            "gallery": gallery,
            "metric": self.regimes_metric(dataset),
            "score": self.regime_backend(dataset),
            "gradient": self.gradient_target(dataset),
        }
        if self.gradient_resize(dataset) is not None:
            params["gradient_resize"] = self.gradient_resize(dataset)
        if params["metric"] == "lpips":
            params["alexnet_sha256"] = self.sha256("alexnet")
        return params

    # ---- pretrained families ------------------------------------------------------------

    def pretrained_weight_name(self, w) -> str:
        """The ``weights`` entry of the pretrained model a job evaluates."""
        section = self.config["pretrained"][w.dataset]
        family = get_family(section["family"], f"pretrained.{w.dataset}.family")
        return family.weight_name(parse_strength(w.strength))

    def pretrained_weights(self, w) -> str:
        """The weight file of the pretrained model a job evaluates."""
        return paths.weights_file(self.pretrained_weight_name(w))

    def pretrained_params(self, w) -> dict[str, Any]:
        section = self.config["pretrained"][w.dataset]
        name = self.pretrained_weight_name(w)
        return {
            "family": section["family"],
            "eps": parse_strength(w.strength),
            "objective": w.objective,
            "weights": name,
            "sha256": self.sha256(name),
            "top1": section["top1"],
            "seed": section["seed"],
        }

    # ---- figures and claims -----------------------------------------------------------

    def figure_names(self) -> list[str]:
        """The figure targets of the config; ``all`` makes each as pdf and png."""
        names = ["fig_noise_robustness", "fig_distractor"]
        if self.sweep_datasets:
            names += ["fig_manifold_robustness", "fig_tangent_noise", "fig_score_alignment"]
            names += [f"fig_gallery_{name}" for name in self.galleries]
        if "synthetic" in self.sweep_datasets:
            names.append("fig_ground_truth")
        if self.imagenet_families():
            names.append("fig_imagenet")
        return names

    def imagenet_families(self) -> dict[str, str]:
        """fig_imagenet's columns, as configured: own (the ImageNet-64 sweep) and pretrained."""
        columns = {"own": ("imagenet64", "sweep"), "pretrained": ("imagenet", "pretrained")}
        return {c: d for c, (d, kind) in columns.items() if d in self.datasets(kind)}

    def sweep_regimes_metrics(self) -> list[str]:
        """``regimes_metric`` of each sweep, in the order of ``sweep_datasets``."""
        return [self.regimes_metric(d) for d in self.sweep_datasets]

    def sweep_regime_backends(self) -> list[str]:
        """``regime_backend`` of each sweep, in the order of ``sweep_datasets``."""
        return [self.regime_backend(d) for d in self.sweep_datasets]

    def imagenet_regimes_metrics(self) -> dict[str, str]:
        """``regimes_metric`` of each of fig_imagenet's columns."""
        return {column: self.regimes_metric(d) for column, d in self.imagenet_families().items()}

    def imagenet_regime_backends(self) -> dict[str, str]:
        """``regime_backend`` of each of fig_imagenet's columns."""
        return {column: self.regime_backend(d) for column, d in self.imagenet_families().items()}

    def tangent_noise_examples(self) -> int:
        return self.config["figures"]["tangent_noise_examples"]

    def named_gallery(self, name: str) -> bool:
        """Whether gallery ``name`` is one of ``figures.galleries`` (not an objective's)."""
        return name in self.config["figures"]["galleries"]

    def imagenet_figure_inputs(self) -> dict[str, str]:
        """fig_imagenet's tables, per configured column."""
        inputs = {}
        for column, dataset in self.imagenet_families().items():
            inputs[f"{column}_alignment"] = paths.table_file(dataset, "alignment")
            inputs[f"{column}_regimes"] = paths.table_file(dataset, "regimes")
        if "pretrained" in self.imagenet_families():
            inputs["top1"] = paths.table_file("imagenet", "top1")
        return inputs

    def claims_inputs(self, w=None) -> dict[str, str]:
        """The tables the claims are checked on: the distractor experiment's noise
        robustness; every sweep's manifold robustness and regimes; every pretrained
        family's regimes and top-1."""
        inputs = {"noise_robustness": paths.table_file(self.distractor_dataset, "noise_robustness")}
        for dataset in self.sweep_datasets:
            for table in ("manifold_robustness", "regimes"):
                inputs[f"{dataset}_{table}"] = paths.table_file(dataset, table)
        for dataset in self.pretrained_datasets:
            for table in ("regimes", "top1"):
                inputs[f"{dataset}_{table}"] = paths.table_file(dataset, table)
        return inputs

    def claims_settings(self) -> dict[str, Any]:
        return self.config["claims"]

    def top1_tolerances(self) -> list[float]:
        """``top1.tolerance`` of each pretrained family, in the order of ``pretrained_datasets``."""
        return [self.config["pretrained"][d]["top1"]["tolerance"] for d in self.pretrained_datasets]

    # ---- weights and downloads --------------------------------------------------------------

    def weight_names(self) -> list[str]:
        """Every entry of ``weights``, in the config's order."""
        return list(self.config["weights"])

    def weight_url(self, w) -> str | None:
        """The link of the weight file ``w.name``."""
        return self.config["weights"][w.name]["url"]

    def weight_sha256(self, w) -> str | None:
        """The pinned digest of the weight file ``w.name``."""
        return self.sha256(w.name)

    def prefetch_inputs(self) -> list[str]:
        """Everything the config needs from the internet: the splits of the data sets that
        can be downloaded, and the weight files."""
        data = [
            paths.data_file(d, split)
            for d in self.base_datasets()
            if DATASETS[d].fetch is not None
            for split in ("train", "test")
        ]
        return data + [paths.weights_file(name) for name in self.weights_used()]

    def weights_used(self) -> list[str]:
        """The names of the weight files the config's experiments read."""
        names: set[str] = set()
        for dataset in [*self.sweep_datasets, *self.pretrained_datasets]:
            exp = self.experiment(dataset)
            for backend in exp["score"]["backends"]:
                names.update(get_backend(backend).weights(exp["score"]))
            if "lpips" in exp["alignment"]["metrics"]:
                names.add("alexnet")
        for dataset, section in self.config["pretrained"].items():
            family = get_family(section["family"], f"pretrained.{dataset}.family")
            names.update(family.weight_name(eps) for eps in section["eps"])
        return sorted(names)

    def base_datasets(self) -> list[str]:
        """The registered data sets the trained experiments read (MNIST for
        MNIST-with-distractor; not the generated synthetic one)."""
        names = (d.removesuffix("_distractor") for d in self.trained_datasets)
        return [d for d in dict.fromkeys(names) if d in DATASETS]
