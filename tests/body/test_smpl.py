"""Own LBS against smplx 0.1.28 on random models written in the official SMPL / SMPL-H file layouts."""

import numpy as np
import pytest
import torch

from helpers.body_fixtures import SMPLH_PARENTS, random_body_arrays, write_smpl_pkl, write_smplh_npz
from vqhps.body.smpl import (
    BodyModel,
    convert_smpl_pkl_to_npz,
    load_body_model,
    normalize_gender,
    read_model_arrays,
)

smplx = pytest.importorskip("smplx")


@pytest.fixture(scope="module")
def smpl_pkl(tmp_path_factory):
    return write_smpl_pkl(tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.pkl", seed=1)


@pytest.fixture(scope="module")
def smplh_npz(tmp_path_factory):
    return write_smplh_npz(tmp_path_factory.mktemp("smplh") / "male" / "model.npz", seed=2)


def _smplx_struct(arrays, **extra):
    from smplx.utils import Struct

    return Struct(**{k: np.asarray(v) for k, v in arrays.items()}, **extra)


def test_smpl_pkl_matches_smplx(smpl_pkl):
    arrays = read_model_arrays(smpl_pkl)  # chumpy shapedirs + sparse regressor read without chumpy
    assert arrays["J_regressor"].shape == (24, 6890) and isinstance(arrays["shapedirs"], np.ndarray)
    ours = BodyModel(arrays)
    ref = smplx.SMPL(model_path="", data_struct=_smplx_struct(arrays), batch_size=3)
    gen = torch.Generator().manual_seed(0)
    betas = torch.randn(3, 10, generator=gen)
    pose = torch.randn(3, 72, generator=gen) * 0.5
    out = ours(betas, pose)
    with torch.no_grad():
        exp = ref(betas=betas, global_orient=pose[:, :3], body_pose=pose[:, 3:])
    assert torch.allclose(out.vertices, exp.vertices, atol=2e-5)
    assert torch.allclose(out.joints, exp.joints[:, :24], atol=2e-5)
    # the pose blend must matter, or the comparison above would not test it
    assert not torch.allclose(out.vertices, ours(betas, pose * 0.0).vertices, atol=1e-3)


def test_smplh_sixteen_betas_match_padded_smplx(smplh_npz):
    arrays = read_model_arrays(smplh_npz)
    ours = load_body_model(smplh_npz)
    assert ours.gender == "male" and ours.num_betas == 16 and ours.num_joints == 52
    # smplx 0.1.28 keeps only 10 betas unless shapedirs has 300 columns: pad, as VQ-HPS does.
    padded = dict(arrays, shapedirs=np.concatenate([arrays["shapedirs"], np.zeros((6890, 3, 284))], -1))
    zeros_hand = {"hands_componentsl": np.eye(45), "hands_componentsr": np.eye(45)}
    zeros_hand |= {"hands_meanl": np.zeros(45), "hands_meanr": np.zeros(45)}
    ref = smplx.SMPLH(
        model_path="", data_struct=_smplx_struct(padded, **zeros_hand), use_pca=False,
        flat_hand_mean=True, num_betas=16, batch_size=2,
    )  # fmt: skip
    gen = torch.Generator().manual_seed(1)
    betas = torch.randn(2, 16, generator=gen)
    pose_body = torch.randn(2, 63, generator=gen) * 0.4
    root = torch.randn(2, 3, generator=gen)
    out = ours.smplh_body(betas, pose_body, root)
    with torch.no_grad():
        exp = ref(betas=betas, global_orient=root, body_pose=pose_body)
    assert torch.allclose(out.vertices, exp.vertices, atol=2e-5)
    # betas 10..15 are really used (smplx without padding would drop them silently)
    assert not torch.allclose(
        out.vertices, ours.smplh_body(betas[:, :10], pose_body, root).vertices, atol=1e-4
    )


def test_canonical_centred_and_rotation_identity(smplh_npz):
    model = load_body_model(smplh_npz)
    gen = torch.Generator().manual_seed(3)
    betas, pose_body = torch.randn(2, 16, generator=gen), torch.randn(2, 63, generator=gen) * 0.3
    root = torch.randn(2, 3, generator=gen)
    canon = model.smplh_body(betas, pose_body, None, center=True).vertices
    assert canon.mean(dim=1).abs().max() < 1e-6
    # reference §3.3: centred global mesh == R_root @ centred canonical mesh
    from vqhps.geometry import axis_angle_to_matrix

    glob = model.smplh_body(betas, pose_body, root, center=True).vertices
    rotated = canon @ axis_angle_to_matrix(root).transpose(1, 2)
    assert torch.allclose(glob, rotated, atol=1e-5)


def test_convert_pkl_to_npz_roundtrip(smpl_pkl, tmp_path):
    npz = convert_smpl_pkl_to_npz(smpl_pkl, tmp_path / "SMPL_NEUTRAL.npz")
    a, b = read_model_arrays(smpl_pkl), read_model_arrays(npz)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_too_many_betas_and_wrong_pose_rejected():
    model = BodyModel(random_body_arrays(SMPLH_PARENTS, num_betas=16, num_verts=200))
    with pytest.raises(ValueError, match="only 16"):
        model(torch.zeros(1, 17), torch.zeros(1, 52 * 3))
    with pytest.raises(ValueError, match="joints"):
        model(torch.zeros(1, 10), torch.zeros(1, 24 * 3))


@pytest.mark.parametrize(
    ("label", "expected"),
    [("m", "male"), ("male", "male"), (b"male", "male"), ("F", "female"), ("female", "female"),
     ("neutral", "neutral"), ("n", "neutral"), (np.array("female"), "female"), (np.array(b"m"), "male")],
)  # fmt: skip
def test_gender_mapping_is_not_the_original_bug(label, expected):
    # original code: everything but "m" -> female, so "male" and "neutral" were female
    assert normalize_gender(label) == expected


def test_unknown_gender_rejected():
    with pytest.raises(ValueError, match="unknown gender"):
        normalize_gender("x")


def test_malicious_model_pickle_refused(tmp_path):
    from helpers.realdata_fixtures import evil_pickle_bytes
    from vqhps.io.safe_pickle import UnsafePickleError

    marker = tmp_path / "pwned"
    (tmp_path / "SMPL_MALE.pkl").write_bytes(evil_pickle_bytes(marker))
    with pytest.raises(UnsafePickleError, match="SMPL_MALE.pkl"):
        load_body_model(tmp_path / "SMPL_MALE.pkl")
    assert not marker.exists()


def test_full_smpl_pose_bends_the_hand_joints_and_other_lengths_are_refused(smpl_pkl):
    """69 values pose SMPL joints 1..23 (the standard / emdb GT); 63 keep joints 22, 23 flat."""
    model = load_body_model(smpl_pkl)
    gen = torch.Generator().manual_seed(5)
    betas, full = torch.randn(2, 10, generator=gen), torch.randn(2, 69, generator=gen) * 0.3
    pose = torch.cat([torch.zeros(2, 3), full], 1)
    assert torch.allclose(model.smplh_body(betas, full).vertices, model(betas, pose).vertices, atol=1e-6)
    flat = model(betas, torch.cat([pose[:, :66], torch.zeros(2, 6)], 1)).vertices
    assert torch.allclose(model.smplh_body(betas, full[:, :63]).vertices, flat, atol=1e-6)
    assert not torch.allclose(flat, model(betas, pose).vertices, atol=1e-4)
    with pytest.raises(ValueError, match="expected 63"):
        model.smplh_body(betas, full[:, :66])
