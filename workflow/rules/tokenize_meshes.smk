rule tokenize_meshes:
    input:
        stage_inputs("tokenize_meshes"),
    output:
        tokens=directory("results/{experiment}/tokenize_meshes/tokens"),
        metrics="results/{experiment}/tokenize_meshes/metrics.json",
    params:
        section=stage_params("tokenize_meshes"),
    log:
        "results/logs/{experiment}/tokenize_meshes.log",
    threads: all_cores()
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.tokenize_meshes --experiment {wildcards.experiment} --workers {threads} --log {log}"
