# The data manifold: an autoencoder per data set, and tangent spaces from its decoder.


rule train_autoencoder:
    input:
        train=f"{RESULTS}/{{dataset}}/data/train.pt",
        test=f"{RESULTS}/{{dataset}}/data/test.pt",
    output:
        model=f"{RESULTS}/{{dataset}}/autoencoder/model.pt",
        record=f"{RESULTS}/{{dataset}}/autoencoder/train.json",
    log:
        f"{LOGS}/{{dataset}}/autoencoder.log",
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=script_code("train_autoencoder.py"),
        settings=plan.setting("autoencoder"),
    script:
        "../scripts/train_autoencoder.py"


rule tangent_spaces:
    input:
        model=f"{RESULTS}/{{dataset}}/autoencoder/model.pt",
        test=f"{RESULTS}/{{dataset}}/data/test.pt",
    output:
        f"{RESULTS}/{{dataset}}/autoencoder/tangents.pt",
    log:
        f"{LOGS}/{{dataset}}/tangents.log",
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=script_code("tangent_spaces.py"),
        n_images=plan.setting("manifold_robustness", "n_images"),
    script:
        "../scripts/tangent_spaces.py"
