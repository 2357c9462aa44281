"""Precision option: fp32 is plain float32 everywhere, bf16 autocasts (also on CPU), auto = bf16 on CUDA."""

from __future__ import annotations

import copy

import pytest
import torch
import yaml

from vqhps.config import ConfigError, load_params
from vqhps.training.precision import autocast


def _matmul_dtype(device: str, precision: str) -> torch.dtype:
    a = torch.randn(4, 4, device=device)
    with autocast(device, precision):
        return (a @ a).dtype


def test_fp32_and_auto_on_cpu_stay_float32_and_bf16_autocasts():
    assert _matmul_dtype("cpu", "fp32") == torch.float32
    assert _matmul_dtype("cpu", "auto") == torch.float32
    assert _matmul_dtype("cpu", "bf16") == torch.bfloat16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_auto_is_bf16_on_cuda_and_fp32_is_not():
    assert _matmul_dtype("cuda", "auto") == torch.bfloat16
    assert _matmul_dtype("cuda", "fp32") == torch.float32


def test_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="fp32, bf16, auto"):
        autocast("cpu", "fp16")


def test_paper_defaults_to_fp32_and_a_typo_is_a_config_error(repo, tmp_path):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    paper = load_params(repo / "params.yaml").experiments["paper"]
    for section in ("train_mesh_vqvae", "tokenize_meshes", "image_training"):
        assert getattr(paper, section).precision == "fp32", section
    bad = copy.deepcopy(params)
    bad["paper"]["image_training"]["precision"] = "bf32"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="precision"):
        load_params(tmp_path / "params.yaml")
