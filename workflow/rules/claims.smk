# The paper's claims checked on the run's tables: `snakemake claims`.


rule claims:
    input:
        unpack(plan.claims_inputs),
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
        settings=plan.claims_settings(),
        distractor=plan.distractor_dataset,
        sweeps=plan.sweep_datasets,
        plot_steps=plan.plot_steps(),
        pretrained=plan.pretrained_datasets,
        top1_tolerance=plan.top1_tolerances(),
    script:
        "../scripts/claims.py"
