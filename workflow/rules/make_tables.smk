rule make_tables:
    input:
        stage_inputs("make_tables"),
    output:
        tables=report(
            directory("results/{experiment}/make_tables/tables"),
            patterns=["{name}.csv"],
            caption="../report/make_tables.rst",
            category="4. Tables",
            labels={"table": "{name}"},
        ),
        metrics="results/{experiment}/make_tables/metrics.json",
    params:
        section=stage_params("make_tables"),
    log:
        "results/logs/{experiment}/make_tables.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.make_tables --experiment {wildcards.experiment} --log {log}"
