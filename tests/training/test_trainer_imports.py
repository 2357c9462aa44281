"""The Mesh-VQ-VAE trainer and its stage need no image model: importing them loads no backbone (HRNet)."""

from __future__ import annotations

import subprocess
import sys

from vqhps.infra.code_deps import stage_code

IMAGE_MODELS = ("vqhps.models.backbones", "vqhps.models.vqhps", "vqhps.models.regression")


def test_importing_the_mesh_vqvae_trainer_loads_no_image_model():
    code = (
        "import sys, vqhps.training.mesh_vqvae_trainer, vqhps.models.mesh_vqvae_io; "
        f"print([m for m in sys.modules if m.startswith({IMAGE_MODELS!r})])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_tokenizer_stages_code_holds_no_backbone_while_the_image_stages_do():
    for stage in ("train_mesh_vqvae", "tokenize_meshes"):
        assert not [f for f in stage_code(stage) if "/backbones/" in f], stage
    assert any("/backbones/hrnet" in f for f in stage_code("train_vqhps")), "the check can fail"
