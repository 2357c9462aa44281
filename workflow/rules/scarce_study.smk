rule scarce_study:
    input:
        stage_inputs("scarce_study"),
    output:
        runs="results/{experiment}/scarce_study/runs.csv",
        tables=report(
            directory("results/{experiment}/scarce_study/tables"),
            patterns=["{name}.csv"],
            caption="../report/scarce_study.rst",
            category="5. Scarce-data study",
            labels={"table": "{name}"},
        ),
        plots=report(
            directory("results/{experiment}/scarce_study/plots"),
            patterns=["{name}.png"],
            caption="../report/scarce_study.rst",
            category="5. Scarce-data study",
            labels={"plot": "{name}"},
        ),
        metrics="results/{experiment}/scarce_study/metrics.json",
    params:
        section=stage_params("scarce_study"),
    log:
        "results/logs/{experiment}/scarce_study.log",
    threads: all_cores()
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.scarce_study --experiment {wildcards.experiment} --log {log}"
