# The paper's claims checked on the run's tables: `snakemake claims`.


rule claims:
    input:
        unpack(claims_inputs),
    output:
        csv=f"{RESULTS}/claims.csv",
        md=f"{RESULTS}/claims.md",
        html=report(
            f"{RESULTS}/claims.html",
            caption="../report/claims.rst",
            category="Claims",
        ),
    log:
        f"{LOGS}/claims.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("claims.py"),
        settings=config["claims"],
        distractor=distractor_dataset(),
        sweeps=sweep_datasets(),
        plot_steps=[
            config["sweep"][d]["manifold_robustness"]["plot_step"]
            for d in sweep_datasets()
        ],
        pretrained=pretrained_datasets(),
        top1_tolerance=[
            config["pretrained"][d]["top1"]["tolerance"] for d in pretrained_datasets()
        ],
    script:
        "../scripts/claims.py"
