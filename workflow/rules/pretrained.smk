# Pretrained robust families (paper Fig. 4 right, Fig. 11): each member becomes a model of
# the data set it is evaluated on, with its measured top-1 in place of a training record,
# so the score, alignment, regime and table rules treat it as they treat trained models.


rule pretrained_images:
    output:
        f"{RESULTS}/{{dataset}}/data/test.pt",
    log:
        f"{LOGS}/{{dataset}}/data_test.log",
    wildcard_constraints:
        dataset=one_of(plan.pretrained_datasets),
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("pretrained_images.py"),
        n_images=plan.setting("score", "n_images"),
        seed=plan.setting("seed"),
        raw=plan.test_raw_data,
    script:
        "../scripts/pretrained_images.py"


rule pretrained_model:
    input:
        weights=plan.pretrained_weights,
    output:
        model=f"{MODEL_DIR}/model.pt",
        record=f"{MODEL_DIR}/train.json",
    log:
        f"{LOGS}/{{dataset}}/pretrained/{{objective}}/{{strength}}/seed={{seed}}.log",
    wildcard_constraints:
        dataset=one_of(plan.pretrained_datasets),
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=wildcard_code("pretrained_model.py"),
        settings=plan.pretrained_params,
        raw=plan.test_raw_data,
    script:
        "../scripts/pretrained_model.py"


rule top1_table:
    input:
        plan.first_seed_records,
    output:
        f"{RESULTS}/{{dataset}}/tables/top1.csv",
    log:
        f"{LOGS}/{{dataset}}/tables/top1.log",
    wildcard_constraints:
        dataset=one_of(plan.pretrained_datasets),
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("top1_table.py"),
    script:
        "../scripts/top1_table.py"
