# One training job per (data set, objective, strength, seed).


rule train_model:
    input:
        train=f"{RESULTS}/{{dataset}}/data/train.pt",
        test=f"{RESULTS}/{{dataset}}/data/test.pt",
    output:
        model=f"{MODEL_DIR}/model.pt",
        record=f"{MODEL_DIR}/train.json",
    log:
        f"{LOGS}/{{dataset}}/train/{{objective}}/{{strength}}/seed={{seed}}.log",
    wildcard_constraints:
        dataset=one_of(plan.trained_datasets),
    # Before shorter jobs that are ready too (the denoiser's job comes first: score.smk).
    priority: plan.train_priority
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=wildcard_code("train_model.py"),
        hparams=plan.train_hparams,
        amp=train_amp,
        num_classes=plan.num_classes,
    script:
        "../scripts/train_model.py"
