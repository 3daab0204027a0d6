# Metrics per model, and the tidy tables that join them per data set.


rule noise_robustness:
    input:
        model=f"{RESULTS}/{{dataset}}/models/{{objective}}/{{strength}}/seed={{seed}}/model.pt",
        record=f"{RESULTS}/{{dataset}}/models/{{objective}}/{{strength}}/seed={{seed}}/train.json",
        test=f"{RESULTS}/{{dataset}}/data/test.pt",
    output:
        f"{RESULTS}/{{dataset}}/metrics/{{objective}}/{{strength}}/seed={{seed}}/noise_robustness.csv",
    log:
        f"{LOGS}/{{dataset}}/noise_robustness/{{objective}}/{{strength}}/seed={{seed}}.log",
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        stds=lambda w: noise_stds(experiment(w.dataset)["noise_robustness"]),
        n_images=lambda w: experiment(w.dataset)["noise_robustness"]["n_images"],
        draws=lambda w: experiment(w.dataset)["noise_robustness"]["draws"],
        seed=lambda w: experiment(w.dataset)["noise_robustness"]["seed"],
    script:
        "../scripts/noise_robustness.py"


rule noise_robustness_table:
    input:
        experiment_metric_files("noise_robustness"),
    output:
        f"{RESULTS}/{{dataset}}/tables/noise_robustness.csv",
    log:
        f"{LOGS}/{{dataset}}/tables/noise_robustness.log",
    conda:
        "../../envs/pags.yaml"
    script:
        "../scripts/collect_table.py"
