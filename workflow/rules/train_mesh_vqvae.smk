rule train_mesh_vqvae:
    input:
        stage_inputs("train_mesh_vqvae"),
    output:
        model="results/{experiment}/train_mesh_vqvae/model.pt",
        curves="results/{experiment}/train_mesh_vqvae/curves.csv",
        metrics="results/{experiment}/train_mesh_vqvae/metrics.json",
    params:
        section=stage_params("train_mesh_vqvae"),
    log:
        "results/logs/{experiment}/train_mesh_vqvae.log",
    threads: workflow.cores
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.train_mesh_vqvae --experiment {wildcards.experiment} --log {log}"
