# Data sets: base data sets from the registry, and the MNIST-with-distractor synthesis.


# Data jobs first among the ready ones: every training waits for them, and the longest
# trainings (the distractor's, the denoiser) are not left to start late.
rule base_dataset:
    output:
        f"{RESULTS}/{{base}}/data/{{split}}.pt",
    log:
        f"{LOGS}/{{base}}/data_{{split}}.log",
    wildcard_constraints:
        base=one_of(b for b, spec in BASE_DATASETS.items() if spec.fetch is None),
    priority: 1
    conda:
        "../../envs/pags.yaml"
    params:
        code=wildcard_code("base_dataset.py"),
        subset=plan.base_subset,
        raw=plan.base_raw_data,
    script:
        "../scripts/base_dataset.py"


# The data sets that can be downloaded (MNIST, CIFAR-10): the same job, but a local rule,
# run where Snakemake runs: the submitting node has the internet where compute nodes
# often have none. Reading and converting them takes seconds.
use rule base_dataset as fetch_dataset with:
    wildcard_constraints:
        base=one_of(b for b, spec in BASE_DATASETS.items() if spec.fetch is not None),


rule distractor_dataset:
    input:
        f"{RESULTS}/{{base}}/data/{{split}}.pt",
    output:
        f"{RESULTS}/{{base}}_distractor/data/{{split}}.pt",
    log:
        f"{LOGS}/{{base}}_distractor/data_{{split}}.log",
    priority: 1
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("distractor_dataset.py"),
        seed=plan.setting("seed", dataset=plan.distractor_dataset),
        letter=plan.distractor_letter(),
        subset=plan.distractor_subset,
        num_classes=plan.distractor_num_classes,
    script:
        "../scripts/distractor_dataset.py"


rule synthetic_dataset:
    output:
        train=f"{RESULTS}/synthetic/data/train.pt",
        test=f"{RESULTS}/synthetic/data/test.pt",
        manifold=f"{RESULTS}/synthetic/data/manifold.pt",
    log:
        f"{LOGS}/synthetic/data.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("synthetic_dataset.py"),
        spec=plan.synthetic_spec(),
    script:
        "../scripts/synthetic_dataset.py"


rule test_images:
    input:
        f"{RESULTS}/{{dataset}}/data/test.pt",
    output:
        f"{RESULTS}/{{dataset}}/data/test/images={{images}}.pt",
    log:
        f"{LOGS}/{{dataset}}/data_test_images={{images}}.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("test_images.py"),
    script:
        "../scripts/test_images.py"


# `snakemake prefetch`: everything the config needs from the internet, and nothing else,
# on a machine that has it (before a run on compute nodes without it).
rule prefetch:
    input:
        plan.prefetch_inputs(),
