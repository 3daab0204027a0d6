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
    # Before shorter jobs that are ready too: the distractor's models train longest
    # (twice the pixels, PGD); the denoiser's job comes first (score.smk).
    priority: lambda w: 1 if w.dataset == plan.distractor_dataset else 0
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=wildcard_code("train_model.py"),
        hparams=plan.train_hparams,
        amp=train_amp,
        num_classes=lambda w: plan.num_classes(w.dataset),
    script:
        "../scripts/train_model.py"
