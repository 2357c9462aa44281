"""The flip augmentation needs a left/right symmetric template (within 1 mm); otherwise the run stops early
with one line naming the fix (the SMPL fixtures are random bodies, so they must be refused)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.body_fixtures import write_smplh_npz
from vqhps.io.shards import MeshTopology
from vqhps.training.image_setup import mirror_permutation


def _topology(vertices: np.ndarray) -> MeshTopology:
    return MeshTopology(vertices=vertices, faces=np.zeros((0, 3), np.int64), topology_id="t")


def test_a_symmetric_template_gets_its_partners_and_0_9_mm_passes():
    rng = np.random.default_rng(0)
    half = rng.uniform(0.01, 0.3, (50, 3))
    verts = np.concatenate([half, half * [-1, 1, 1]])
    verts[:50, 1] += 0.0009  # 0.9 mm off: within the 1 mm tolerance
    perm = mirror_permutation(_topology(verts), flip_prob=0.5)
    assert np.array_equal(perm, np.r_[np.arange(50, 100), np.arange(50)])
    assert mirror_permutation(_topology(verts), flip_prob=0.0) is None, "no flips, no check"


def test_the_smplh_fixture_template_is_refused_with_the_fix(tmp_path):
    path = write_smplh_npz(tmp_path / "neutral/model.npz", seed=20)
    template = np.load(path)["v_template"]
    fix = r"set image_training.augment.flip_prob to 0"
    with pytest.raises(ValueError, match=r"not left/right symmetric.*" + fix):
        mirror_permutation(_topology(template), flip_prob=0.5)
