# The score of the data, grad log p_sigma(x), per test image: from a pretrained EDM
# denoiser, a denoiser trained here, or (synthetic data) the closed form.


# Only a weight file that is absent is made here. One in place (fetched, or copied by
# you) is a source file, checked against its pin before any job (`check_before_jobs`)
# and by the jobs that read it, and never deleted: as an output of this rule, a change to
# its params (pinning its digest) would rerun the rule, which deletes its output first.
rule fetch_weights:
    output:
        f"{RESULTS}/weights/{{name}}",
    log:
        f"{LOGS}/weights/{{name}}.log",
    wildcard_constraints:
        name=one_of(absent_weights()),
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("fetch_weights.py"),
        url=plan.weight_url,
        sha256=plan.weight_sha256,
    script:
        "../scripts/fetch_weights.py"


rule train_denoiser:
    input:
        train=f"{RESULTS}/{{dataset}}/data/train.pt",
        test=f"{RESULTS}/{{dataset}}/data/test.pt",
    output:
        model=f"{RESULTS}/{{dataset}}/denoiser/model.pt",
        record=f"{RESULTS}/{{dataset}}/denoiser/train.json",
    log:
        f"{LOGS}/{{dataset}}/denoiser.log",
    # The longest job of a run that trains a denoiser: started first among the ready ones,
    # it is not left running alone at the end.
    priority: 2
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=script_code("train_denoiser.py"),
        settings=plan.setting("score", "denoiser"),
        conditional=plan.denoiser_conditional,
        num_classes=plan.num_classes,
    script:
        "../scripts/train_denoiser.py"


rule score:
    input:
        unpack(plan.score_inputs),
    output:
        f"{RESULTS}/{{dataset}}/score/{{backend}}/sigma={{sigma}}/{{conditioning}}.pt",
    log:
        f"{LOGS}/{{dataset}}/score/{{backend}}/sigma={{sigma}}/{{conditioning}}.log",
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=wildcard_code("score.py"),
        key=plan.score_key,
        settings=plan.score_params,
    script:
        "../scripts/score.py"


# The score at the few test images a gallery shows (indices in the path): the same
# script and backends, so a gallery can show any image without rescoring the others.
rule score_images:
    input:
        unpack(plan.gallery_score_inputs),
    output:
        f"{RESULTS}/{{dataset}}/score/{{backend}}/sigma={{sigma}}/{{conditioning}}/images={{images}}.pt",
    log:
        f"{LOGS}/{{dataset}}/score/{{backend}}/sigma={{sigma}}/{{conditioning}}/images={{images}}.log",
    conda:
        "../../envs/pags.yaml"
    threads: 1
    params:
        code=wildcard_code("score.py"),
        key=plan.score_key,
        settings=plan.gallery_score_params,
    script:
        "../scripts/score.py"
