"""SPIN-J24 -> native H36M-17 reordering: every regressor row gets the label of the same body joint."""

import numpy as np
import pytest

from vqhps.ingest.keypoints import J24_TO_H36M, spin24_to_h36m

# SPIN's J24 names (constants.JOINT_NAMES[25:]) and the joint order of J_regressor_h36m (mmhuman3d's "h36m"
# convention: left leg at rows 1-3, right leg at 4-6).
J24_NAMES = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "r_wrist", "r_elbow", "r_shoulder",
    "l_shoulder", "l_elbow", "l_wrist", "neck", "headtop_lsp", "pelvis", "thorax", "spine", "jaw", "head",
    "nose", "l_eye", "r_eye", "l_ear", "r_ear",
)  # fmt: skip
H36M_REGRESSOR_ROWS = (
    "pelvis", "l_hip", "l_knee", "l_ankle", "r_hip", "r_knee", "r_ankle", "spine", "neck", "jaw", "head",
    "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
)  # fmt: skip


def test_each_regressor_row_gets_the_same_named_joint():
    assert len(set(J24_TO_H36M)) == 17
    for row, j24 in enumerate(J24_TO_H36M):
        assert J24_NAMES[j24] == H36M_REGRESSOR_ROWS[row], (row, J24_NAMES[j24])


def test_spin24_to_h36m_moves_pixels_and_confidence():
    part = np.zeros((2, 24, 3), np.float32)
    part[:, :, 0] = np.arange(24)
    part[1, 14, 2] = 0.7  # pelvis confidence
    out = spin24_to_h36m(part)
    assert out.shape == (2, 17, 3) and out[0, 0, 0] == 14 and out[1, 0, 2] == np.float32(0.7)
    with pytest.raises(ValueError, match="24, 3"):
        spin24_to_h36m(np.zeros((2, 17, 3)))
