# Figures, each a named target: `snakemake fig_noise_robustness` renders just that one.


rule fig_noise_robustness:
    input:
        f"{RESULTS}/{plan.distractor_dataset}/tables/noise_robustness.csv",
    output:
        pdf=report(
            f"{FIGURES}/fig_noise_robustness.pdf",
            caption="../report/fig_noise_robustness.rst",
            category="MNIST with distractor",
        ),
        png=f"{FIGURES}/fig_noise_robustness.png",
    log:
        f"{LOGS}/figures/fig_noise_robustness.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("fig_noise_robustness.py"),
    script:
        "../scripts/fig_noise_robustness.py"


rule fig_distractor:
    input:
        test=f"{RESULTS}/{plan.distractor_dataset}/data/test.pt",
        models=plan.first_seed_models(plan.distractor_dataset),
        records=plan.first_seed_models(plan.distractor_dataset, file="train.json"),
    output:
        pdf=report(
            f"{FIGURES}/fig_distractor.pdf",
            caption="../report/fig_distractor.rst",
            category="MNIST with distractor",
        ),
        png=f"{FIGURES}/fig_distractor.png",
    log:
        f"{LOGS}/figures/fig_distractor.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("fig_distractor.py"),
        n_examples=plan.setting(
            "figures", "n_examples", dataset=plan.distractor_dataset
        ),
        noise_std=plan.setting("figures", "noise_std", dataset=plan.distractor_dataset),
        gradient_target=plan.setting(
            "figures", "gradient_target", dataset=plan.distractor_dataset
        ),
    script:
        "../scripts/fig_distractor.py"


rule fig_manifold_robustness:
    input:
        expand(
            f"{RESULTS}/{{dataset}}/tables/manifold_robustness.csv",
            dataset=plan.sweep_datasets,
        ),
    output:
        pdf=report(
            f"{FIGURES}/fig_manifold_robustness.pdf",
            caption="../report/fig_manifold_robustness.rst",
            category="Robust-model sweep",
        ),
        png=f"{FIGURES}/fig_manifold_robustness.png",
    log:
        f"{LOGS}/figures/fig_manifold_robustness.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("fig_manifold_robustness.py"),
        datasets=plan.sweep_datasets,
        plot_steps=plan.plot_steps(),
    script:
        "../scripts/fig_manifold_robustness.py"


rule fig_tangent_noise:
    input:
        tangents=expand(
            f"{RESULTS}/{{dataset}}/autoencoder/tangents.pt",
            dataset=plan.sweep_datasets,
        ),
        tests=expand(f"{RESULTS}/{{dataset}}/data/test.pt", dataset=plan.sweep_datasets),
    output:
        pdf=report(
            f"{FIGURES}/fig_tangent_noise.pdf",
            caption="../report/fig_tangent_noise.rst",
            category="Robust-model sweep",
        ),
        png=f"{FIGURES}/fig_tangent_noise.png",
    log:
        f"{LOGS}/figures/fig_tangent_noise.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("fig_tangent_noise.py"),
        datasets=plan.sweep_datasets,
        n_examples=plan.tangent_noise_examples(),
    script:
        "../scripts/fig_tangent_noise.py"


rule fig_ground_truth:
    input:
        robustness=f"{RESULTS}/synthetic/tables/manifold_robustness.csv",
        tangents=f"{RESULTS}/synthetic/tables/tangent_quality.csv",
        score_quality=f"{RESULTS}/synthetic/tables/score_quality.csv",
        alignment=f"{RESULTS}/synthetic/tables/alignment.csv",
    output:
        pdf=report(
            f"{FIGURES}/fig_ground_truth.pdf",
            caption="../report/fig_ground_truth.rst",
            category="Ground-truth manifold",
        ),
        png=f"{FIGURES}/fig_ground_truth.png",
    log:
        f"{LOGS}/figures/fig_ground_truth.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("fig_ground_truth.py"),
        plot_step=plan.ground_truth_plot_step,
        metric=plan.ground_truth_metric,
    script:
        "../scripts/fig_ground_truth.py"


rule fig_score_alignment:
    input:
        alignment=expand(
            f"{RESULTS}/{{dataset}}/tables/alignment.csv", dataset=plan.sweep_datasets
        ),
        regimes=expand(
            f"{RESULTS}/{{dataset}}/tables/regimes.csv", dataset=plan.sweep_datasets
        ),
    output:
        pdf=report(
            f"{FIGURES}/fig_score_alignment.pdf",
            caption="../report/fig_score_alignment.rst",
            category="Robust-model sweep",
        ),
        png=f"{FIGURES}/fig_score_alignment.png",
    log:
        f"{LOGS}/figures/fig_score_alignment.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("fig_score_alignment.py"),
        datasets=plan.sweep_datasets,
        metrics=plan.sweep_regimes_metrics(),
        scores=plan.sweep_regime_backends(),
    script:
        "../scripts/fig_score_alignment.py"


# The galleries (paper Figs. 1, 2 and 6-9): one rule per gallery, fig_gallery_<name>, for
# every sweep data set and objective and every gallery named in figures.galleries, so that
# each is a target of its own and an edit of one reruns that one only.
for _name, _gallery in plan.galleries.items():

    rule:
        name:
            f"fig_gallery_{_name}"
        input:
            **plan.gallery_inputs(_gallery),
        output:
            pdf=report(
                paths.figure_file(f"fig_gallery_{_name}", "pdf"),
                caption=(
                    "../report/fig_gallery_named.rst"
                    if plan.named_gallery(_name)
                    else "../report/fig_gallery.rst"
                ),
                category="Galleries",
                subcategory=_gallery["dataset"],
            ),
            png=paths.figure_file(f"fig_gallery_{_name}", "png"),
        log:
            f"{LOGS}/figures/fig_gallery_{_name}.log",
        localrule: True
        conda:
            "../../envs/pags.yaml"
        params:
            **plan.gallery_params(_gallery),
            code=script_code("fig_gallery.py"),
        script:
            "../scripts/fig_gallery.py"


# All galleries: `snakemake fig_gallery`.
rule fig_gallery:
    input:
        [
            paths.figure_file(f"fig_gallery_{name}", ext)
            for name in plan.galleries
            for ext in ("pdf", "png")
        ],


rule fig_imagenet:
    input:
        **plan.imagenet_figure_inputs(),
    output:
        pdf=report(
            f"{FIGURES}/fig_imagenet.pdf",
            caption="../report/fig_imagenet.rst",
            category="ImageNet",
        ),
        png=f"{FIGURES}/fig_imagenet.png",
    log:
        f"{LOGS}/figures/fig_imagenet.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("fig_imagenet.py"),
        metrics=plan.imagenet_regimes_metrics(),
        scores=plan.imagenet_regime_backends(),
    script:
        "../scripts/fig_imagenet.py"


# A bare name that is no rule ("fig_noise_robustnes") would get Snakemake's "No rule to
# produce"; this rule matches only such names (no folder, no extension: no output of the
# workflow looks like that), and its input function stops the run while it is planned,
# listing the figure targets.
rule unknown_target:
    input:
        unknown_target,
    output:
        "{target}",
    wildcard_constraints:
        target=r"[A-Za-z][\w-]*",
