# vqhps: VQ-HPS from raw datasets to the paper's tables. Targets: `demo` (synthetic Anny data, CPU),
# `paper` / `all` (the licence-gated datasets; see README),
# `study` (the demo's scarce-data study, params demo.study). All logic lives in `python -m vqhps.stages.*`.
from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"  # `snakemake demo --report report.html`; captions beside it


include: "workflow/rules/common.smk"
include: "workflow/rules/check_data.smk"
include: "workflow/rules/make_synthetic.smk"
include: "workflow/rules/prepare_meshes.smk"
include: "workflow/rules/render_images.smk"
include: "workflow/rules/train_mesh_vqvae.smk"
include: "workflow/rules/tokenize_meshes.smk"
include: "workflow/rules/prepare_images.smk"
include: "workflow/rules/train_vqhps.smk"
include: "workflow/rules/train_baseline.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/make_tables.smk"
include: "workflow/rules/scarce_study.smk"


rule all:
    default_target: True
    input:
        final_targets("paper"),


rule paper:
    input:
        final_targets("paper"),


rule demo:
    input:
        final_targets("demo"),


rule study:  # the scarce-data study of the demo (params demo.study): `snakemake study --cores 2`
    input:
        study_target("demo"),
