rule evaluate:
    input:
        stage_inputs("evaluate"),
    output:
        per_sample="results/{experiment}/evaluate/per_sample.parquet",
        test_set="results/{experiment}/evaluate/test_set.csv",
        plots=report(
            directory("results/{experiment}/evaluate/plots"),
            patterns=["{name}.png"],
            caption="../report/evaluate.rst",
            category="3. Plots",
            labels={"plot": "{name}"},
        ),
        metrics="results/{experiment}/evaluate/metrics.json",
    params:
        section=stage_params("evaluate"),
    log:
        "results/logs/{experiment}/evaluate.log",
    threads: all_cores()
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.evaluate --experiment {wildcards.experiment} --log {log}"
