"""tokenize_meshes: pve_mm on a seeded sample leaves the tokens bit-identical to decoding every mesh."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from helpers import image_fixtures as fx
from vqhps.infra.seeding import stage_seed
from vqhps.io.checkpoint import save_checkpoint
from vqhps.io.schemas import MESHES, TOKENS
from vqhps.io.shards import ShardSet, ShardWriter
from vqhps.models.pretrained import mesh_vqvae_extra
from vqhps.stages import tokenize_meshes
from vqhps.training.pve_sample import decoded_pve_mm, sample_rows

SPLIT_SIZES = {"train": 12, "val": 4, "test": 2}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


REGIMES = {"full": {"sources": ["anny"], "fraction": 1.0}}


def _write_meshes(folder: Path) -> None:
    """Mesh shards of 5-row files and row groups, so a split spans several groups."""
    writer = ShardWriter(folder, MESHES, fx.N_VERTS, shard_size=5, row_group_size=5)
    verts = fx.meshes(sum(SPLIT_SIZES.values()), 11)
    splits = [s for s, n in SPLIT_SIZES.items() for _ in range(n)]
    for i, split in enumerate(splits):
        writer.add(
            {
                "id": [f"m{i}"],
                "source": ["anny"],
                "split": [split],
                "vertices": verts[i : i + 1].reshape(1, -1),
                "pose": [np.zeros(3)],
                "shape": [np.zeros(2)],
                "gender": ["neutral"],
            }
        )
    writer.close()


def _run(tmp: Path, pve_sample: int | None, workers: int) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    """One stage run in its own results root: (metrics, {split: {tokens, pve_mm}})."""
    results = tmp / "results"
    _write_meshes(results / "demo/prepare_meshes/shards")
    vq = fx.tiny_vqvae()
    save_checkpoint(
        results / "demo/train_mesh_vqvae/model.pt", vq.state_dict(), vq.config.to_dict(), {}, 1,
        extra=mesh_vqvae_extra(vq),
    )  # fmt: skip
    section = {"batch_size": 3, "shard_size": 7, "pve_sample": pve_sample}
    params = {"demo": {"seed": 0, "data_root": "data", "check_data": {"datasets": ["anny"]},
                       "regimes": REGIMES, "tokenize_meshes": section}}  # fmt: skip
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    argv = ["--params", str(tmp / "params.yaml"), "--experiment", "demo", "--results", str(results)]
    argv += ["--no-track", "--workers", str(workers), "--device", "cpu"]
    assert tokenize_meshes.main(argv) == 0
    out = results / "demo/tokenize_meshes"
    tokens = ShardSet(out / "tokens", TOKENS)
    read = {s: tokens.read(s, ["id", "tokens", "pve_mm"]) for s in SPLIT_SIZES}
    columns = {
        s: {
            "id": t.column("id").to_pylist(),
            "tokens": np.stack(t.column("tokens").to_numpy(zero_copy_only=False)),
            "pve_mm": t.column("pve_mm").to_numpy(),
        }
        for s, t in read.items()
    }
    return json.loads((out / "metrics.json").read_text()), columns


def test_sampled_pve_keeps_tokens_bit_identical(tmp_path) -> None:
    full_metrics, full = _run(tmp_path / "full", None, workers=1)
    metrics, sampled = _run(tmp_path / "sampled", 3, workers=2)  # the worker pool, encode only
    for split, n in SPLIT_SIZES.items():
        assert sampled[split]["id"] == full[split]["id"]
        np.testing.assert_array_equal(sampled[split]["tokens"], full[split]["tokens"])
        assert np.isfinite(full[split]["pve_mm"]).all()
        measured = np.flatnonzero(np.isfinite(sampled[split]["pve_mm"]))
        seed = stage_seed(0, "tokenize_meshes", "pve_sample", split)
        np.testing.assert_array_equal(measured, sample_rows(n, 3, seed))  # rows found across row groups
        np.testing.assert_allclose(
            sampled[split]["pve_mm"][measured], full[split]["pve_mm"][measured], rtol=1e-5
        )
        assert metrics[f"{split}_pve_sample_size"] == min(3, n)
        assert full_metrics[f"{split}_pve_sample_size"] == n
        assert metrics[f"{split}_pve_mm"] == pytest.approx(full[split]["pve_mm"][measured].mean(), rel=1e-5)
        assert metrics[f"{split}_perplexity"] == full_metrics[f"{split}_perplexity"]


def test_sample_rows_is_seeded_sorted_and_capped() -> None:
    rows = sample_rows(100, 10, seed=4)
    assert len(set(rows)) == 10 and list(rows) == sorted(rows) and rows.max() < 100
    np.testing.assert_array_equal(rows, sample_rows(100, 10, seed=4))
    assert not np.array_equal(rows, sample_rows(100, 10, seed=5))
    np.testing.assert_array_equal(sample_rows(4, 10, seed=4), np.arange(4))
    np.testing.assert_array_equal(sample_rows(4, None, seed=4), np.arange(4))


def test_decoded_pve_matches_a_direct_decode() -> None:
    model = fx.tiny_vqvae()
    verts = torch.from_numpy(fx.meshes(5, 2))
    with torch.no_grad():
        tokens = model.encode_indices(verts).numpy()
        recon = model.decode_indices(torch.from_numpy(tokens))
    direct = (recon - recon.mean(1, keepdim=True) - verts + verts.mean(1, keepdim=True)).norm(dim=-1)
    np.testing.assert_allclose(
        decoded_pve_mm(model, verts, tokens, batch_size=2), direct.mean(1).numpy() * 1000, rtol=1e-5
    )
