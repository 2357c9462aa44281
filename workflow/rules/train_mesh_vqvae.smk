rule train_mesh_vqvae:
    input:
        stage_inputs("train_mesh_vqvae"),
    output:
        model="results/{experiment}/train_mesh_vqvae/model.pt",
        curves=report(
            "results/{experiment}/train_mesh_vqvae/curves.csv",
            caption="../report/train_mesh_vqvae.rst",
            category="2. Training curves",
            subcategory="Mesh-VQ-VAE",
        ),
        metrics="results/{experiment}/train_mesh_vqvae/metrics.json",
    params:
        section=stage_params("train_mesh_vqvae"),
    log:
        "results/logs/{experiment}/train_mesh_vqvae.log",
    threads: all_cores()
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.train_mesh_vqvae --experiment {wildcards.experiment} --log {log}"
