"""Image trainer: a few steps run with finite losses and curves, resume equals uninterrupted, NaN stops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import image_fixtures as fx
from vqhps.io.checkpoint import load_checkpoint
from vqhps.models.regression import MeshRegressor, RegressionConfig
from vqhps.models.vqhps import VQHPS, VQHPSConfig
from vqhps.training.image_setup import rest_joints
from vqhps.training.image_tasks import BaselineTask, VQHPSTask, rotation_error_deg
from vqhps.training.image_trainer import DistInfo, EpochBatches, ImageTrainSettings, train_image_model

SETTINGS = ImageTrainSettings(
    steps=6,
    batch_size=4,
    lr=1e-3,
    weight_decay=1e-3,
    lr_step=4,
    lr_gamma=0.5,
    val_every=2,
    ckpt_every=2,
    seed=11,
    eval_batch_size=3,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _vqhps(vqvae) -> VQHPS:
    torch.manual_seed(0)
    cfg = VQHPSConfig(
        num_tokens=vqvae.n_tokens,
        codebook_size=vqvae.codebook_size,
        backbone="small_cnn",
        backbone_width=4,
        shared_backbone=True,
        image_size=32,
        d_model=16,
        heads=2,
        ffn=32,
        rotcam_hidden=16,
    )
    return VQHPS(cfg, torch.from_numpy(rest_joints(fx.topology())))


def _baseline() -> MeshRegressor:
    torch.manual_seed(0)
    topo = fx.topology()
    cfg = RegressionConfig(
        backbone="small_cnn",
        backbone_width=4,
        shared_backbone=False,
        image_size=32,
        hidden=16,
        rank=4,
        rotcam_hidden=16,
    )
    return MeshRegressor(cfg, torch.from_numpy(topo.vertices), torch.from_numpy(rest_joints(topo)))


def _vq_task():
    return VQHPSTask(fx.tiny_vqvae(), torch.from_numpy(fx.topology().joint_regressor))


def test_vqhps_trains_logs_curves_and_freezes_the_tokenizer(tmp_path):
    train, val = fx.datasets()
    task = _vq_task()
    codebook = task.vqvae.quantizer.state_dict()
    model = _vqhps(task.vqvae)
    logged = []
    res = train_image_model(
        model,
        task,
        train,
        val,
        SETTINGS,
        tmp_path / "last.pt",
        log=lambda m, s: logged.append((s, m)),
        model_config={"kind": "vqhps"},
    )
    assert [s for s, _ in logged] == [2, 4, 6]
    for _, m in logged:
        for key in (
            "train_tokens_ce",
            "train_rotation",
            "train_reprojection",
            "train_total",
            "val_pve_mm",
            "val_token_accuracy",
            "val_rotation_error_deg",
            "val_mpjpe_mm",
            "lr",
        ):
            assert np.isfinite(m[key]), key
        assert 0.0 <= m["val_token_accuracy"] <= 1.0
    assert logged[0][1]["lr"] == 1e-3 and logged[-1][1]["lr"] == 5e-4, "StepLR halves the lr after 4 steps"
    assert [row["step"] for row in res.history] == [2, 4, 6]
    assert res.metrics["steps"] == 6
    for k, v in task.vqvae.quantizer.state_dict().items():
        assert torch.equal(v, codebook[k]), f"the frozen tokenizer changed: {k}"
    ck = load_checkpoint(tmp_path / "last.pt")
    assert ck["step"] == 6 and ck["model_config"] == {"kind": "vqhps"} and len(ck["extra"]["history"]) == 3


def test_ce_trains_token_branch_only_and_reprojection_reaches_rotation_branch():
    train, _ = fx.datasets(flip=0.0)
    task = _vq_task()
    torch.manual_seed(0)
    cfg = VQHPSConfig(
        num_tokens=task.vqvae.n_tokens,
        codebook_size=16,
        backbone="small_cnn",
        backbone_width=4,
        shared_backbone=False,
        image_size=32,
        d_model=16,
        heads=2,
        ffn=32,
        rotcam_hidden=16,
    )
    model = VQHPS(cfg, torch.zeros(17, 3))
    batch = {
        k: torch.stack([train[i][k] for i in range(4)])
        for k in ("image", "keypoints2d", "global_rot", "canonical_verts")
    }
    terms = task.losses(model, batch)
    grads = torch.autograd.grad(
        terms["tokens_ce"],
        [model.backbone_rot.features[0][0].weight, model.conv_1x1.weight],
        allow_unused=True,
    )
    assert grads[0] is None and grads[1].abs().sum() > 0
    grads = torch.autograd.grad(
        terms["reprojection"], [model.rotcam.cam_predictor.weight, model.conv_1x1.weight], allow_unused=True
    )
    assert grads[0].abs().sum() > 0 and grads[1] is None, (
        "the decoded mesh is a constant for the reprojection"
    )


class _Killed(Exception):
    pass


@pytest.mark.parametrize("kind", ["vqhps", "baseline"])
def test_resume_after_kill_equals_uninterrupted(tmp_path, kind):
    train, val = fx.datasets()

    def build():
        if kind == "vqhps":
            task = _vq_task()
            return _vqhps(task.vqvae), task
        return _baseline(), BaselineTask(torch.from_numpy(fx.topology().joint_regressor))

    full, task = build()
    res_full = train_image_model(full, task, train, val, SETTINGS, tmp_path / "a.pt")

    def kill_at_6(metrics, step):
        if step == 6:
            raise _Killed

    model, task = build()
    with pytest.raises(_Killed):
        train_image_model(model, task, train, val, SETTINGS, tmp_path / "b.pt", log=kill_at_6)
    assert load_checkpoint(tmp_path / "b.pt")["step"] == 4
    torch.manual_seed(999)  # a new process starts with other RNG states
    np.random.seed(999)
    resumed, task = build()
    res_resumed = train_image_model(resumed, task, train, val, SETTINGS, tmp_path / "b.pt")
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    timing = "train_images_per_second"
    assert {k: v for k, v in res_full.metrics.items() if k != timing} == {
        k: v for k, v in res_resumed.metrics.items() if k != timing
    }
    assert res_full.history == res_resumed.history, "the curve history survives the kill"


def test_nan_loss_raises_naming_step_and_term(tmp_path):
    train, val = fx.datasets()
    task = BaselineTask(torch.from_numpy(fx.topology().joint_regressor))
    model = _baseline()
    with torch.no_grad():
        model.basis.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match=r"'vertex' is nan at step 1"):
        train_image_model(model, task, train, val, SETTINGS, tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


def test_epoch_batches_resume_and_cover_each_epoch():
    full = list(EpochBatches(10, 3, 0, 7, seed=2, dist_info=DistInfo()))
    assert len(full) == 7 and all(len(b) == 3 for b in full)
    epoch0 = [i for e, i in sum(full[:3], []) if e == 0]
    assert len(set(epoch0)) == 9, "3 full batches of one permutation, no repeats"
    assert [b[0][0] for b in full] == [0, 0, 0, 1, 1, 1, 2]
    assert list(EpochBatches(10, 3, 4, 7, seed=2, dist_info=DistInfo())) == full[4:]
    ranks = [list(EpochBatches(10, 2, 0, 2, seed=2, dist_info=DistInfo(r, 2))) for r in (0, 1)]
    seen = [i for r in ranks for b in r for _, i in b]
    assert len(set(seen)) == len(seen) == 8, "ranks see disjoint shards"
    tiny = list(EpochBatches(2, 4, 0, 3, seed=0, dist_info=DistInfo()))
    assert all(len(b) == 4 for b in tiny), "a set smaller than a batch is repeated"


def test_rotation_error_deg_known_angles():
    from vqhps.geometry import axis_angle_to_matrix

    a = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, np.pi / 2], [np.pi / 3, 0.0, 0.0]]))
    err = rotation_error_deg(a, torch.eye(3).expand(3, 3, 3))
    torch.testing.assert_close(err, torch.tensor([0.0, 90.0, 60.0]), atol=1e-3, rtol=0)


def test_ddp_gloo_single_process_equals_plain_run(tmp_path):
    import torch.distributed as dist

    train, val = fx.datasets()
    settings = ImageTrainSettings(steps=2, batch_size=4, lr=1e-3, val_every=2, ckpt_every=2, seed=5)
    regressor = torch.from_numpy(fx.topology().joint_regressor)
    plain = _baseline()
    train_image_model(plain, BaselineTask(regressor), train, val, settings, tmp_path / "plain.pt")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        ddp = _baseline()
        res = train_image_model(ddp, BaselineTask(regressor), train, val, settings, tmp_path / "ddp.pt")
    finally:
        dist.destroy_process_group()
    assert res.metrics["steps"] == 2 and (tmp_path / "ddp.pt").is_file()
    for (k, a), b in zip(plain.state_dict().items(), ddp.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=k)
