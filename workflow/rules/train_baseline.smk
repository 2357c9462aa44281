rule train_baseline:
    input:
        stage_inputs("train_baseline"),
    output:
        model="results/{experiment}/train_baseline/{regime}/model.pt",
        curves=report(
            "results/{experiment}/train_baseline/{regime}/curves.csv",
            caption="../report/train_baseline.rst",
            category="2. Training curves",
            subcategory="Regression baseline",
            labels={"model": "Regression baseline", "regime": "{regime}"},
        ),
        metrics="results/{experiment}/train_baseline/{regime}/metrics.json",
    params:
        section=stage_params("train_baseline"),
    log:
        "results/logs/{experiment}/train_baseline.{regime}.log",
    threads: image_threads  # torch threads on CPU: all cores alone, shared side by side
    resources:
        gpu=1,
    conda:
        "../../environment.yml"
    shell:
        "python -m vqhps.stages.train_baseline --experiment {wildcards.experiment} --regime {wildcards.regime} --log {log}"
