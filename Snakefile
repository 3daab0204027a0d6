# pags: which models have perceptually-aligned gradients?
# Reproduces Srinivas, Bordt & Lakkaraju (NeurIPS 2023). See README.md.


# The paper's experiments, unless a config is given on the command line: a
# `--configfile` (or a profile's `configfile:`) is then the whole config, under every
# profile, rather than extending this one (keys only config.yaml has would leak into it).
# `--config key=value` alone still edits config.yaml.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/manifold.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/pretrained.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/claims.smk"


localrules:
    all,
    prefetch,
    fetch_dataset,
    fetch_weights,
    noise_robustness_table,
    manifold_robustness_table,
    tangent_quality,
    alignment_table,
    score_quality,
    regimes,
    search_round,
    top1_table,
    fig_noise_robustness,
    fig_distractor,
    fig_manifold_robustness,
    fig_tangent_noise,
    fig_ground_truth,
    fig_imagenet,
    fig_score_alignment,
    fig_gallery,
    test_images,
    score_images,
    claims,
    unknown_target,


# Each result's record of what made it, beside it and in .snakemake/ (pags.sidecar).
unrecorded = sync_records()


onstart:
    check_before_jobs(workflow.dag.needrun_jobs(), unrecorded)


onsuccess:
    sync_records()
    print_verdict()


onerror:
    sync_records()
    print_verdict()


rule all:
    default_target: True
    input:
        expand(
            paths.figure_file("{fig}", "{ext}"),
            fig=plan.figure_names(),
            ext=["pdf", "png"],
        ),
        paths.claims_file("csv"),
        paths.claims_file("md"),
