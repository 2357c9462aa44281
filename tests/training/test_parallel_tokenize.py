"""Process-parallel tokenising returns exactly what one process returns, in the input order."""

from __future__ import annotations

import numpy as np
import torch

from helpers.meshes import icosphere
from vqhps.models.mesh_hierarchy import HierarchySettings, build_hierarchy
from vqhps.models.mesh_vqvae import MeshVQVAE, MeshVQVAEConfig
from vqhps.training.mesh_vqvae_trainer import tokenize
from vqhps.training.parallel_tokenize import ParallelTokenizer


def test_two_processes_equal_one_process():
    verts, faces = icosphere(1)
    h = build_hierarchy(faces, 42, HierarchySettings(((1, 1, 1), (2, 2, 2), (1, 1, 1))))
    torch.manual_seed(0)
    model = MeshVQVAE(h, MeshVQVAEConfig(channels=(8, 4), codebook_size=16))
    g = torch.Generator().manual_seed(1)
    meshes = torch.from_numpy(verts).float() * (1 + 0.3 * torch.rand(23, 1, 3, generator=g))
    meshes = meshes - meshes.mean(1, keepdim=True)
    ids, pve = tokenize(model, meshes, batch_size=4)
    assert len(np.unique(pve)) == len(pve)  # every mesh has its own error, so the order is checked
    with ParallelTokenizer(model, workers=2, batch_size=4) as tok:
        assert tok.workers == 2
        ids2, pve2 = tok(meshes)
        small = tok(meshes[:3])  # fewer meshes than 2 per worker: done in this process
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_allclose(pve2, pve, rtol=1e-6)
    np.testing.assert_array_equal(small[0], ids[:3])
    assert ParallelTokenizer(model, workers=4, device="cuda").workers == 1
