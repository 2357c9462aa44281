rule check_data:
    input:
        stage_inputs("check_data"),
    output:
        record=report(
            "results/{experiment}/check_data/record.json",
            caption="../report/check_data.rst",
            category="1. Data",
        ),
        metrics="results/{experiment}/check_data/metrics.json",
    params:
        section=stage_params("check_data"),
    log:
        "results/logs/{experiment}/check_data.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.check_data --experiment {wildcards.experiment} --log {log}"
