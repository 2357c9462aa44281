"""Image-set rows from the real readers: crops, H36M keypoints, camera-frame rotation, gendered GT meshes."""

import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from vqhps import config
from vqhps.ingest import image_sets
from vqhps.ingest.keypoints import J24_TO_H36M, camera_joints_h36m, project_points
from vqhps.ingest.mesh_sets import load_models, load_regressor
from vqhps.io.schemas import IMAGES, MESHES
from vqhps.io.shards import to_table


@pytest.fixture(scope="module")
def models(mini_root):
    return load_models(mini_root, "smplh"), load_models(mini_root, "smpl"), load_regressor(mini_root)


def _rows(iset, models, index=None, split="train", crop=64):
    smplh, smpl, reg = models
    index = np.arange(len(iset.records)) if index is None else index
    return image_sets.image_rows(iset, index, split, crop, 90, smplh, smpl, reg)


def test_config_and_core_know_the_same_image_sets():
    assert tuple(image_sets.IMAGE_SETS) == config.IMAGE_SETS


def test_threedpw_rows_match_schema_camera_and_projection(mini_root, models):
    iset = image_sets.load_image_set("3dpw_test", mini_root, 0.2, seed=0)
    img, mesh = _rows(iset, models, split="test")
    to_table(img, IMAGES.schema(17), "images")  # raises on any schema mismatch
    to_table(mesh, MESHES.schema(6890), "meshes")
    n = len(iset.records)
    assert n == 7 and img["source"] == ["3dpw"] * n  # 2 people x 4 frames, one without campose_valid
    assert img["mesh_id"] == mesh["id"] == img["id"] and img["id"][0] == "3dpw_test-0000000"
    raw = pickle.loads(
        (mini_root / "3dpw/sequenceFiles/test/test_seq_00.pkl").read_bytes(), encoding="latin1"
    )
    row = int(np.flatnonzero((iset.records.person == 1) & (iset.records.frame == 2))[0])
    assert np.allclose(img["cam_R"][row].reshape(3, 3), raw["cam_poses"][2][:3, :3])
    assert np.allclose(img["cam_t"][row], raw["cam_poses"][2][:3, 3])
    # keypoints = the world fit, moved into the camera, regressed and projected with the crop intrinsics
    smpl, reg = models[1]["female"], models[2]  # person 1 is 'f'
    joints = camera_joints_h36m(
        smpl, reg, raw["betas"][1][None, :10], raw["poses"][1][2:3], raw["trans"][1][2:3],
        raw["cam_poses"][2:3, :3, :3], raw["cam_poses"][2:3, :3, 3],
    )  # fmt: skip
    want = project_points(joints, img["cam_K"][row].reshape(1, 3, 3))[0]
    got = img["keypoints2d"][row].reshape(17, 3)
    assert np.allclose(got[:, :2], want[:, :2], atol=1e-2)
    assert np.all(got[:, 2] == 1), "people stand in front of the camera, inside their crop"
    assert np.all((got[:, :2] >= 0) & (got[:, :2] < 64))
    x0, y0, x1, y1 = img["bbox"][row]
    assert x0 <= got[:, 0].min() and got[:, 0].max() <= x1 and y0 <= got[:, 1].min() and got[:, 1].max() <= y1


def test_global_rot_times_canonical_mesh_is_the_camera_frame_mesh(mini_root, models):
    iset = image_sets.load_image_set("3dpw_train", mini_root, 0.2, seed=0)
    img, mesh = _rows(iset, models, index=np.array([0, 5]))
    for j, i in enumerate((0, 5)):
        g = iset.records.gender[i]
        posed = (
            models[0][g]
            .smplh_body(
                torch.as_tensor(iset.records.betas[i : i + 1]),
                torch.as_tensor(iset.records.pose_body[i : i + 1]),
                root_orient=torch.as_tensor(iset.records.root_orient[i : i + 1]),
                center=True,
            )
            .vertices[0]
        )
        rotated = mesh["vertices"][j] @ img["global_rot"][j].reshape(3, 3).T
        assert np.allclose(rotated, posed.numpy(), atol=1e-5)
        assert mesh["gender"][j] == g
    assert np.abs(mesh["vertices"].mean(1)).max() < 1e-5


def test_genders_choose_their_own_model(mini_root, models):
    iset = image_sets.load_image_set("3dpw_train", mini_root, 0.2, seed=0)
    _, mesh = _rows(iset, models)
    male = np.flatnonzero(iset.records.gender == "male")[0]
    sel = slice(male, male + 1)
    as_female = models[0]["female"].smplh_body(
        torch.as_tensor(iset.records.betas[sel]), torch.as_tensor(iset.records.pose_body[sel]), center=True
    )
    as_female = as_female.vertices[0].numpy()
    assert mesh["gender"][male] == "male"
    assert not np.allclose(mesh["vertices"][male], as_female, atol=1e-3)


def test_label_set_rows(mini_root, models):
    iset = image_sets.load_image_set("coco", mini_root, 0.2, seed=0)
    img, mesh = _rows(iset, models, crop=48)
    part = np.load(mini_root / "bedlam_real/coco/coco.npz")["part"]
    kp = img["keypoints2d"].reshape(3, 17, 3)
    side = 200 * iset.records.scale
    left_knee_u = (part[:, 4, 0] - (iset.records.center[:, 0] - side / 2)) * 48 / side
    assert np.allclose(kp[:, 2, 0], left_knee_u, rtol=1e-4, atol=1e-3)  # H36M row 2 = SPIN J24 4
    inside = (kp[..., :2] >= 0).all(-1) & (kp[..., :2] < 48).all(-1)
    assert np.all(kp[~inside, 2] == 0), "keypoints outside the crop get confidence 0"
    assert np.allclose(kp[inside, 2], part[:, list(J24_TO_H36M)][inside, 2], atol=1e-6)
    assert np.isnan(img["cam_K"]).all() and np.isnan(img["cam_t"]).all()
    assert mesh["gender"] == ["male", "female", "male"] and img["source"] == ["coco"] * 3
    decoded = Image.open(io.BytesIO(img["image"][0]))
    assert decoded.size == (48, 48) and decoded.format == "JPEG"
    mpii = image_sets.load_image_set("mpii", mini_root, 0.2, seed=0)
    assert set(_rows(mpii, models)[1]["gender"]) == {"neutral"}  # no gender key -> neutral model


def test_emdb_sets_and_seeded_split(mini_root):
    e1 = image_sets.load_image_set("emdb1", mini_root, 0.25, seed=0)
    tr = image_sets.load_image_set("emdb2_train", mini_root, 0.25, seed=0)
    va = image_sets.load_image_set("emdb2_val", mini_root, 0.25, seed=0)
    assert set(e1.records.sequence) == {"P0/00_walk"} and e1.source == "emdb1"
    assert tr.source == va.source == "emdb2"
    assert len(set(va.records.sequence)) == 1 and len(set(tr.records.sequence)) == 3
    assert not set(tr.records.sequence) & set(va.records.sequence)
    again = image_sets.load_image_set("emdb2_val", mini_root, 0.25, seed=0)
    assert list(again.records.imgname) == list(va.records.imgname)
    assert e1.cameras.K.shape == (len(e1.records), 3, 3)
    with pytest.raises(ValueError, match="unknown image set"):
        image_sets.load_image_set("lsp", mini_root, 0.25, seed=0)


def test_iteration_order_is_deterministic_and_subsampling_keeps_ids(mini_root, models):
    smplh, smpl, reg = models
    kw = dict(crop_size=32, jpeg_quality=80, smplh_models=smplh, smpl_models=smpl, regressor=reg)
    splits = {"train": ("3dpw_train", "coco"), "test": ("emdb1",)}

    def ids(max_rows, chunk=3):
        out = []
        rows = image_sets.iter_image_rows(mini_root, splits, max_rows, 0, 0.2, chunk, **kw)
        for name, img, mesh, _ in rows:
            assert img["id"] == mesh["id"] and all(i.startswith(name) for i in img["id"])
            out += [(img["split"][0], i) for i in img["id"]]
        return out

    full = ids({})
    assert full == ids({}, chunk=100)
    assert [s for s, _ in full] == ["train"] * 10 + ["test"] * 2  # splits in order, sets as listed
    sub = ids({"3dpw_train": 4})
    assert len(sub) == 4 + 3 + 2 and set(sub) <= set(full)
    assert sub == ids({"3dpw_train": 4})


def test_every_row_reports_its_sequence_frame_and_person(mini_root, models):
    smplh, smpl, reg = models
    kw = dict(crop_size=32, jpeg_quality=80, smplh_models=smplh, smpl_models=smpl, regressor=reg)
    splits = {"train": ("3dpw_train", "coco"), "test": ("emdb1",)}
    got: dict[str, list] = {}

    def keep(split, cols):
        for key, values in cols.items():
            got.setdefault(f"{split}/{key}", []).extend(values)

    rows = list(image_sets.iter_image_rows(mini_root, splits, {}, 0, 0.2, 3, on_frames=keep, **kw))
    assert got["test/id"] == [i for _, img, _, _ in rows if img["split"][0] == "test" for i in img["id"]]
    e1 = image_sets.load_image_set("emdb1", mini_root, 0.2, seed=0).records
    assert got["test/sequence"] == list(e1.sequence) and got["test/frame"] == list(e1.frame)
    assert set(got["test/person"]) == {0} and set(got["test/source"]) == {"emdb1"}
    pw = image_sets.load_image_set("3dpw_train", mini_root, 0.2, seed=0).records
    n = len(pw)
    assert got["train/sequence"][:n] == list(pw.sequence) and got["train/person"][:n] == list(pw.person)
    # label-set rows (COCO) have no video: each row is its own sequence
    assert got["train/sequence"][n:] == got["train/id"][n:]


def test_test_rows_get_a_full_pose_smpl_gt_that_poses_the_hands(mini_root, models):
    """The standard / emdb GT: SMPL with 3DPW's 72-d pose; the hand joints 22, 23 move the hand vertices."""
    smplh, smpl, reg = models
    kw = dict(crop_size=32, jpeg_quality=80, smplh_models=smplh, smpl_models=smpl, regressor=reg)
    splits = {"train": ("coco",), "test": ("3dpw_test",)}
    rows = list(image_sets.iter_image_rows(mini_root, splits, {}, 0, 0.2, 3, full_pose_models=smpl, **kw))
    assert all((full is None) == (img["split"][0] != "test") for _, img, _, full in rows)
    full = {k: sum((list(f[k]) for *_, f in rows if f is not None), []) for k in ("id", "pose", "gender")}
    mesh_ids = [i for _, img, mesh, f in rows if f is not None for i in mesh["id"]]
    assert full["id"] == mesh_ids  # one full-pose GT per test mesh, same ids
    rec = image_sets.load_image_set("3dpw_test", mini_root, 0.2, seed=0).records
    assert np.allclose(np.stack(full["pose"])[:, 63:], rec.pose_hands) and np.abs(rec.pose_hands).max() > 0
    iset = image_sets.load_image_set("3dpw_test", mini_root, 0.2, seed=0)
    cols = image_sets.full_pose_mesh_columns(iset, np.array([0]), "test", smpl)
    to_table(cols, MESHES.schema(6890), "meshes")
    g = rec.gender[0]
    betas = torch.as_tensor(rec.betas[:1])
    with torch.no_grad():
        ref = smpl[g].smplh_body(betas, torch.as_tensor(rec.full_pose[:1]), center=True).vertices[0].numpy()
        no_hands = smpl[g].smplh_body(betas, torch.as_tensor(rec.pose_body[:1]), center=True).vertices[0]
    assert np.allclose(cols["vertices"][0], ref, atol=1e-5)
    assert np.abs(ref - no_hands.numpy()).max() > 1e-3  # the hand rotations change the GT mesh
