rule prepare_images:
    input:
        stage_inputs("prepare_images"),
    output:
        images=directory("results/{experiment}/prepare_images/images"),
        meshes=directory("results/{experiment}/prepare_images/meshes"),
        metrics="results/{experiment}/prepare_images/metrics.json",
    params:
        section=stage_params("prepare_images"),
    log:
        "results/logs/{experiment}/prepare_images.log",
    threads: all_cores()
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.prepare_images --experiment {wildcards.experiment} --workers {threads} --log {log}"
