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
        stds=lambda w: plan.noise_stds(w.dataset),
        n_images=lambda w: plan.experiment(w.dataset)["noise_robustness"]["n_images"],
        draws=lambda w: plan.noise_draws(w.dataset),
        seed=lambda w: plan.experiment(w.dataset)["noise_robustness"]["seed"],
    script:
        "../scripts/noise_robustness.py"


rule noise_robustness_table:
    input:
        lambda w: plan.metric_files(w.dataset, "noise_robustness"),
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
        settings=lambda w: plan.experiment(w.dataset)["manifold_robustness"],
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
        lambda w: plan.metric_files(w.dataset, "manifold_robustness"),
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
        lambda w: plan.metric_files(w.dataset, "alignment"),
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
        unpack(
            lambda w: {
                plan.score_reference(b): plan.score_file(
                    "synthetic", plan.score_reference(b)
                )
                for b in plan.score_quality_backends()
            }
        ),
        estimated=lambda w: [
            plan.score_file("synthetic", b) for b in plan.score_quality_backends()
        ],
        alexnet=lambda w: (
            paths.weights_file("alexnet")
            if "lpips" in plan.experiment("synthetic")["alignment"]["metrics"]
            else []
        ),
    output:
        f"{RESULTS}/synthetic/tables/score_quality.csv",
    log:
        f"{LOGS}/synthetic/tables/score_quality.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("score_quality.py"),
        estimated=lambda w: plan.score_quality_backends(),
        references=lambda w: [
            plan.score_reference(b) for b in plan.score_quality_backends()
        ],
        metrics=lambda w: plan.experiment("synthetic")["alignment"]["metrics"],
        alexnet_sha256=lambda w: config["weights"]["alexnet"]["sha256"],
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
        settings=lambda w: plan.experiment(w.dataset)["regimes"],
        score=lambda w: plan.regime_backend(w.dataset),
        step_size=lambda w: plan.regimes_step_size(w.dataset),
    script:
        "../scripts/regimes.py"
