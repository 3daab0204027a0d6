# Metrics per model, and the tidy tables that join them per data set.


rule noise_robustness:
    input:
        model=f"{MODEL_DIR}/model.pt",
        record=f"{MODEL_DIR}/train.json",
        test=f"{RESULTS}/{{dataset}}/data/test.pt",
    output:
        f"{RESULTS}/{{dataset}}/metrics/{{objective}}/{{strength}}/seed={{seed}}/noise_robustness.csv",
    log:
        f"{LOGS}/{{dataset}}/noise_robustness/{{objective}}/{{strength}}/seed={{seed}}.log",
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=wildcard_code("noise_robustness.py"),
        stds=plan.noise_stds,
        n_images=plan.setting("noise_robustness", "n_images"),
        draws=plan.noise_draws,
        seed=plan.setting("noise_robustness", "seed"),
    script:
        "../scripts/noise_robustness.py"


rule noise_robustness_table:
    input:
        plan.metric_inputs("noise_robustness"),
    output:
        f"{RESULTS}/{{dataset}}/tables/noise_robustness.csv",
    log:
        f"{LOGS}/{{dataset}}/tables/noise_robustness.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("collect_table.py"),
    script:
        "../scripts/collect_table.py"


rule manifold_robustness:
    input:
        unpack(plan.manifold_inputs),
        model=f"{MODEL_DIR}/model.pt",
        record=f"{MODEL_DIR}/train.json",
    output:
        f"{RESULTS}/{{dataset}}/metrics/{{objective}}/{{strength}}/seed={{seed}}/manifold_robustness.csv",
    log:
        f"{LOGS}/{{dataset}}/manifold_robustness/{{objective}}/{{strength}}/seed={{seed}}.log",
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=wildcard_code("manifold_robustness.py"),
        settings=plan.setting("manifold_robustness"),
    script:
        "../scripts/manifold_robustness.py"


# The closed-form Bayes-optimal classifier of the synthetic data: the theory's reference.
use rule manifold_robustness as bayes_manifold_robustness with:
    input:
        unpack(plan.manifold_inputs),
    output:
        f"{RESULTS}/{{dataset}}/metrics/bayes/manifold_robustness.csv",
    log:
        f"{LOGS}/{{dataset}}/manifold_robustness/bayes.log",
    wildcard_constraints:
        dataset="synthetic",


use rule noise_robustness_table as manifold_robustness_table with:
    input:
        plan.metric_inputs("manifold_robustness"),
    output:
        f"{RESULTS}/{{dataset}}/tables/manifold_robustness.csv",
    log:
        f"{LOGS}/{{dataset}}/tables/manifold_robustness.log",


rule tangent_quality:
    input:
        tangents=f"{RESULTS}/synthetic/autoencoder/tangents.pt",
        manifold=f"{RESULTS}/synthetic/data/manifold.pt",
    output:
        f"{RESULTS}/synthetic/tables/tangent_quality.csv",
    log:
        f"{LOGS}/synthetic/tables/tangent_quality.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("tangent_quality.py"),
    script:
        "../scripts/tangent_quality.py"


rule alignment:
    input:
        unpack(plan.alignment_inputs),
        model=f"{MODEL_DIR}/model.pt",
        record=f"{MODEL_DIR}/train.json",
    output:
        f"{RESULTS}/{{dataset}}/metrics/{{objective}}/{{strength}}/seed={{seed}}/alignment.csv",
    log:
        f"{LOGS}/{{dataset}}/alignment/{{objective}}/{{strength}}/seed={{seed}}.log",
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=wildcard_code("alignment.py"),
        settings=plan.alignment_params,
    script:
        "../scripts/alignment.py"


rule alignment_table:
    input:
        plan.metric_inputs("alignment"),
    output:
        f"{RESULTS}/{{dataset}}/tables/alignment.csv",
    log:
        f"{LOGS}/{{dataset}}/tables/alignment.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("alignment_table.py"),
    script:
        "../scripts/alignment_table.py"


rule score_quality:
    input:
        unpack(plan.score_quality_inputs),
    output:
        f"{RESULTS}/synthetic/tables/score_quality.csv",
    log:
        f"{LOGS}/synthetic/tables/score_quality.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("score_quality.py"),
        estimated=plan.score_quality_backends,
        references=plan.score_quality_references,
        metrics=plan.score_quality_metrics,
        alexnet_sha256=plan.alexnet_sha256,
    script:
        "../scripts/score_quality.py"


rule regimes:
    input:
        unpack(plan.regimes_inputs),
    output:
        f"{RESULTS}/{{dataset}}/tables/regimes.csv",
    log:
        f"{LOGS}/{{dataset}}/tables/regimes.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("regimes.py"),
        settings=plan.setting("regimes"),
        score=plan.regime_backend,
        step_size=plan.regimes_step_size,
    script:
        "../scripts/regimes.py"
