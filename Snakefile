# pags: which models have perceptually-aligned gradients?
# Reproduces Srinivas, Bordt & Lakkaraju (NeurIPS 2023). See README.md.


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/manifold.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/pretrained.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/figures.smk"


localrules:
    all,
    fetch_weights,
    noise_robustness_table,
    manifold_robustness_table,
    tangent_quality,
    alignment_table,
    score_quality,
    regimes,
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
    unknown_target,


onstart:
    check_data_before_jobs(workflow.dag.needrun_jobs())


rule all:
    default_target: True
    input:
        all_targets(),
