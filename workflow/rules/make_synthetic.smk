rule make_synthetic:
    input:
        stage_inputs("make_synthetic"),
    output:
        meshes=directory("results/{experiment}/make_synthetic/meshes"),
        metrics="results/{experiment}/make_synthetic/metrics.json",
    params:
        section=stage_params("make_synthetic"),
    log:
        "results/logs/{experiment}/make_synthetic.log",
    threads: all_cores()
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.make_synthetic --experiment {wildcards.experiment} --log {log}"
