rule train_vqhps:
    input:
        stage_inputs("train_vqhps"),
    output:
        model="results/{experiment}/train_vqhps/{regime}/model.pt",
        curves=report(
            "results/{experiment}/train_vqhps/{regime}/curves.csv",
            caption="../report/train_vqhps.rst",
            category="2. Training curves",
            subcategory="VQ-HPS",
            labels={"model": "VQ-HPS", "regime": "{regime}"},
        ),
        metrics="results/{experiment}/train_vqhps/{regime}/metrics.json",
    params:
        section=stage_params("train_vqhps"),
    log:
        "results/logs/{experiment}/train_vqhps.{regime}.log",
    threads: image_threads  # torch threads on CPU: all cores alone, shared side by side
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.train_vqhps --experiment {wildcards.experiment} --regime {wildcards.regime} --log {log}"
