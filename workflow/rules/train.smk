# One training job per (data set, objective, strength, seed).


rule train_model:
    input:
        train=f"{RESULTS}/{{dataset}}/data/train.pt",
        test=f"{RESULTS}/{{dataset}}/data/test.pt",
    output:
        model=f"{RESULTS}/{{dataset}}/models/{{objective}}/{{strength}}/seed={{seed}}/model.pt",
        record=f"{RESULTS}/{{dataset}}/models/{{objective}}/{{strength}}/seed={{seed}}/train.json",
    log:
        f"{LOGS}/{{dataset}}/train/{{objective}}/{{strength}}/seed={{seed}}.log",
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=script_code("train_model.py"),
        hparams=train_hparams,
    script:
        "../scripts/train_model.py"
