rule render_images:
    input:
        stage_inputs("render_images"),
    output:
        images=directory("results/{experiment}/render_images/images"),
        meshes=directory("results/{experiment}/render_images/meshes"),
        metrics="results/{experiment}/render_images/metrics.json",
    params:
        section=stage_params("render_images"),
    log:
        "results/logs/{experiment}/render_images.log",
    threads: all_cores()
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.render_images --experiment {wildcards.experiment} --workers {threads} --log {log}"
