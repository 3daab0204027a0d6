# One training job per (data set, objective, strength, seed).


rule train_model:
    input:
        train=f"{RESULTS}/{{dataset}}/data/train.pt",
        test=f"{RESULTS}/{{dataset}}/data/test.pt",
    output:
        model=f"{RESULTS}/{{dataset}}/models/{{objective}}/{{strength}}/seed={{seed}}/model.pt",
        record=f"{RESULTS}/{{dataset}}/models/{{objective}}/{{strength}}/seed={{seed}}/train.json",
    params:
        hparams=train_hparams,
    log:
        f"{LOGS}/{{dataset}}/train/{{objective}}/{{strength}}/seed={{seed}}.log",
    threads: 1
    conda:
        "../../envs/pags.yaml"
    script:
        "../scripts/train_model.py"
