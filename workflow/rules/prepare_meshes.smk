rule prepare_meshes:
    input:
        stage_inputs("prepare_meshes"),
    output:
        shards=directory("results/{experiment}/prepare_meshes/shards"),
        metrics="results/{experiment}/prepare_meshes/metrics.json",
    params:
        section=stage_params("prepare_meshes"),
    log:
        "results/logs/{experiment}/prepare_meshes.log",
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.prepare_meshes --experiment {wildcards.experiment} --log {log}"
