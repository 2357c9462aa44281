"""Evaluation core on tiny tensors: zero error for perfect predictions, rotation sensitivity, tables, rows."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from vqhps.config import EVAL_PROTOCOLS
from vqhps.eval import evaluation as ev
from vqhps.eval.measured_rows import DIFFERENCE_NAME, METHOD_NAMES, headline_numbers, measured_rows
from vqhps.eval.methods import NO_REGIME, MethodSpec
from vqhps.eval.protocols import DEFAULT_PROTOCOLS, METRIC_KEYS, PROTOCOLS
from vqhps.eval.summaries import summarize_all
from vqhps.eval.tables import normalize_row
from vqhps.eval.test_sets import demo_frame_ids
from vqhps.geometry import axis_angle_to_matrix, random_rotations

V, B, N = 30, 3, 7


def _regressor() -> np.ndarray:
    reg = np.random.default_rng(0).random((17, V))
    return (reg / reg.sum(1, keepdims=True)).astype(np.float32)


def _batches(n: int = N, batch: int = B) -> list[dict[str, torch.Tensor]]:
    """Loader-like batches of random canonical (centred) meshes and rotations."""
    g = torch.Generator().manual_seed(0)
    verts = torch.randn(n, V, 3, generator=g) * 0.3
    verts = verts - verts.mean(1, keepdim=True)
    rots = random_rotations(n, generator=g).float()
    return [
        {
            "image": torch.zeros(min(batch, n - i), 3, 8, 8),
            "canonical_verts": verts[i : i + batch],
            "global_rot": rots[i : i + batch],
            "index": torch.arange(i, min(i + batch, n)),
        }
        for i in range(0, n, batch)
    ]


def _perfect(batch):
    return ev.Prediction(ev.ground_truth(batch), batch["global_rot"], torch.zeros(len(batch["image"]), 3))


class _IdentityTokenizer:
    """Stands in for a lossless Mesh-VQ-VAE: the 'tokens' are the vertices themselves."""

    def encode_indices(self, verts):
        return verts.clone()

    def decode_indices(self, indices):
        return indices.clone()


def test_config_protocol_names_match_the_protocol_registry():
    assert set(EVAL_PROTOCOLS) == set(PROTOCOLS)


def test_perfect_predictions_score_zero_for_every_method_and_protocol():
    specs = [MethodSpec("vqhps", "full"), MethodSpec("baseline", "scarce")]
    results = [ev.evaluate_method(s, _perfect, _batches(), _regressor()) for s in specs]
    oracle = MethodSpec("oracle", NO_REGIME)
    results.append(
        ev.evaluate_method(oracle, ev.oracle_predictor(_IdentityTokenizer()), _batches(), _regressor())
    )
    for res in results:
        assert sorted(res.errors) == sorted(f"{p}/{m}" for p in DEFAULT_PROTOCOLS for m in METRIC_KEYS)
        for key, values in res.errors.items():
            assert values.shape == (N,) and np.abs(values).max() < 1e-3, (res.spec.label, key)
        assert np.abs(res.extras["rotation_error_deg"]).max() < 0.1
        assert np.array_equal(res.index, np.arange(N))


def test_rotated_prediction_has_pve_but_no_pa_mpjpe_and_the_rotation_error_is_measured():
    extra = axis_angle_to_matrix(torch.tensor([0.0, 0.5, 0.0])).float()  # 0.5 rad about y

    def rotated(batch):
        rot = extra @ batch["global_rot"]
        return ev.Prediction(batch["canonical_verts"] @ rot.transpose(1, 2), rot)

    res = ev.evaluate_method(MethodSpec("vqhps", "full"), rotated, _batches(), _regressor())
    for protocol in DEFAULT_PROTOCOLS:
        assert res.errors[f"{protocol}/pve_mm"].min() > 10.0
        assert res.errors[f"{protocol}/mpjpe_mm"].min() > 1.0
        assert res.errors[f"{protocol}/pa_mpjpe_mm"].max() < 1e-2
    np.testing.assert_allclose(res.extras["rotation_error_deg"], math.degrees(0.5), atol=1e-2)


def test_per_sample_table_has_one_row_per_sample_method_protocol_and_round_trips(tmp_path):
    specs = [
        MethodSpec("vqhps", "full"),
        MethodSpec("baseline", "full"),
        MethodSpec("oracle", "none"),
    ]
    shift = {"vqhps": 0.01, "baseline": 0.02, "oracle": 0.0}

    def shifted(method):
        # A pure scale error: PVE grows with the shift, differently per method.
        return lambda b: ev.Prediction(ev.ground_truth(b) * (1.0 + shift[method]), b["global_rot"])

    results = [ev.evaluate_method(s, shifted(s.method), _batches(), _regressor()) for s in specs]
    ids, sources = [f"img{i}" for i in range(N)], ["anny"] * (N - 1) + ["coco"]
    frame = ev.per_sample_frame(results, ids, sources)
    assert list(frame.columns) == list(ev.PER_SAMPLE_COLUMNS)
    assert len(frame) == N * len(specs) * len(DEFAULT_PROTOCOLS)
    assert not frame.duplicated(["id", "method", "regime", "protocol"]).any()
    sel = frame[(frame.method == "baseline") & (frame.protocol == "standard")]
    np.testing.assert_allclose(sel["pve_mm"].to_numpy(), results[1].errors["standard/pve_mm"])
    assert sel.set_index("id").loc["img6", "source"] == "coco"
    means = summarize_all(results, [], ids, sources, n_boot=20, seed=0)
    assert means["vqhps_full/vqhps/pve_mm"] == pytest.approx(results[0].errors["vqhps/pve_mm"].mean())
    assert (
        means["baseline_full/vqhps/pve_mm"] > means["vqhps_full/vqhps/pve_mm"] > means["oracle/vqhps/pve_mm"]
    )
    path = tmp_path / "per_sample.parquet"
    ev.write_per_sample(frame, path)
    back = pq.read_table(path).to_pandas()
    assert back.equals(frame) and [p.name for p in tmp_path.iterdir()] == ["per_sample.parquet"]


def test_keep_returns_the_first_predictions_for_overlays():
    def pred(b):
        return ev.Prediction(ev.ground_truth(b), b["global_rot"], b["index"].float()[:, None].repeat(1, 3))

    res = ev.evaluate_method(MethodSpec("vqhps", "full"), pred, _batches(), _regressor(), keep=5)
    assert res.kept_verts.shape == (5, V, 3) and res.kept_cam.shape == (5, 3)
    np.testing.assert_array_equal(res.kept_cam[:, 0], np.arange(5))
    first = _batches()[0]
    np.testing.assert_allclose(res.kept_verts[:B], ev.ground_truth(first).numpy(), atol=1e-6)


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="unknown method"):
        MethodSpec("hmr", "full")


def _flat_metrics() -> dict[str, float]:
    """A hand-made evaluate metrics.json: distinct numbers per method, regime, protocol and metric."""
    out = {"n_test": 10}
    for i, label in enumerate(["vqhps_full", "vqhps_scarce", "baseline_full", "baseline_scarce", "oracle"]):
        for j, protocol in enumerate(DEFAULT_PROTOCOLS):
            for k, m in enumerate(METRIC_KEYS):
                out[f"{label}/{protocol}/{m}"] = 100.0 + 10 * i + 3 * j + k
        out[f"{label}/rotation_error_deg"] = 5.0
    return out


def test_measured_rows_carry_labels_and_the_exact_numbers():
    metrics = _flat_metrics()
    rows = measured_rows(
        metrics,
        data="synthetic demo",
        dataset="Anny test",
        backbone="small_cnn",
        training_data={"full": "all", "scarce": "10 %"},
        regimes=("full", "scarce"),
    )
    assert len(rows) == 2 * 3 * len(DEFAULT_PROTOCOLS)  # regimes x (vqhps, baseline, oracle) x protocols
    for row in rows:
        assert normalize_row(row, "measured") == row
        assert row["data"] == "synthetic demo" and row["dataset"] == "Anny test"
    by = {(r["method"], r["regime"], r["protocol"]): r for r in rows}
    r = by[(METHOD_NAMES["baseline"], "scarce", "standard")]
    assert r["pve_mm"] == metrics["baseline_scarce/standard/pve_mm"] and r["training_data"] == "10 %"
    assert r["pa_mpjpe_mm"] == metrics["baseline_scarce/standard/pa_mpjpe_mm"]
    for regime in ("full", "scarce"):
        oracle = by[(METHOD_NAMES["oracle"], regime, "vqhps")]
        assert oracle["mpjpe_mm"] == metrics["oracle/vqhps/mpjpe_mm"]
    only_vqhps = measured_rows(
        metrics,
        data="paper datasets",
        dataset="3dpw",
        backbone="hrnet",
        training_data={},
        regimes=("full", "scarce"),
        protocols=["vqhps"],
    )
    assert {r["protocol"] for r in only_vqhps} == {"vqhps"} and len(only_vqhps) == 6
    del metrics["oracle/vqhps/pve_mm"], metrics["oracle/vqhps/mpjpe_mm"], metrics["oracle/vqhps/pa_mpjpe_mm"]
    with pytest.raises(ValueError, match="'oracle/<protocol>/<metric>'"):
        measured_rows(
            metrics,
            data="synthetic demo",
            dataset="x",
            backbone="y",
            training_data={},
            regimes=["full"],
            protocols=["vqhps"],
        )


def test_headline_numbers_are_computed_differences_with_their_sign():
    metrics = _flat_metrics()
    head = headline_numbers(metrics, ("full", "scarce"))
    key = "scarce/vqhps/vqhps_minus_baseline_pve_mm"
    assert head[key] == metrics["vqhps_scarce/vqhps/pve_mm"] - metrics["baseline_scarce/vqhps/pve_mm"] < 0
    metrics["vqhps_scarce/standard/pve_mm"] = 500.0
    head = headline_numbers(metrics, ("full", "scarce"))
    assert head["scarce/standard/vqhps_minus_baseline_pve_mm"] > 0, "a losing VQ-HPS is reported as such"
    assert head["full/vqhps/vqhps_minus_oracle_mpjpe_mm"] == pytest.approx(
        metrics["vqhps_full/vqhps/mpjpe_mm"] - metrics["oracle/vqhps/mpjpe_mm"]
    )


def test_a_loader_that_drops_or_repeats_frames_is_refused():
    spec = MethodSpec("vqhps", "full")
    whole = ev.evaluate_method(spec, _perfect, _batches(), _regressor())
    ev.check_every_frame_once(whole, N)  # every row once: accepted
    dropped = ev.evaluate_method(spec, _perfect, _batches()[:-1], _regressor())  # as drop_last would
    with pytest.raises(ValueError, match=rf"evaluated {N - N % B} rows .* of {N}.*drop_last=False"):
        ev.check_every_frame_once(dropped, N)
    repeated = ev.evaluate_method(spec, _perfect, _batches()[:-1] + _batches()[:1], _regressor())
    with pytest.raises(ValueError, match="distinct"):
        ev.check_every_frame_once(repeated, N)


def test_per_frame_rows_carry_sequence_frame_person_and_token_accuracy():
    def with_tokens(b):
        pred = _perfect(b)
        pred.extras["token_accuracy"] = b["index"].double().numpy() / N
        return pred

    results = [
        ev.evaluate_method(MethodSpec("vqhps", "full"), with_tokens, _batches(), _regressor()),
        ev.evaluate_method(MethodSpec("baseline", "full"), _perfect, _batches(), _regressor()),
    ]
    ids = [f"m{i // 2}-v{i % 2}" for i in range(N)]
    frames = demo_frame_ids(ids, ["anny"] * N)
    table = ev.per_sample_frame(results, ids, ["anny"] * N, frames)
    vq = table[(table.method == "vqhps") & (table.protocol == "vqhps")].set_index("id")
    assert (
        vq.loc["m1-v1", "sequence"] == "m1"
        and vq.loc["m1-v1", "frame"] == 1
        and vq.loc["m1-v1", "person"] == 0
    )
    assert vq.loc["m1-v1", "token_accuracy"] == pytest.approx(3 / N)
    assert table[table.method == "baseline"]["token_accuracy"].isna().all(), "no tokens: NaN, never 0"


def test_summaries_become_rows_with_intervals_counts_and_a_paired_difference_row():
    # given real summaries of two methods on frames of 4 sequences
    pve = np.arange(N, dtype=float)
    results = []
    for method, regime, offset in (
        ("vqhps", "full", 0.0),
        ("baseline", "full", 4.0),
        ("oracle", "none", -1.0),
    ):
        errors = {f"{p}/{m}": pve + offset for p in DEFAULT_PROTOCOLS for m in METRIC_KEYS}
        extras = {"token_accuracy": np.full(N, 0.25)} if method == "vqhps" else {}
        results.append(ev.MethodResult(MethodSpec(method, regime), np.arange(N), errors, extras,
                                       np.zeros((0, V, 3), np.float32), None))  # fmt: skip
    groups, sources = [f"s{i % 4}" for i in range(N)], ["anny"] * N
    metrics = summarize_all(results, [("vqhps_full", "baseline_full")], groups, sources, n_boot=100, seed=0)
    # when turned into table rows
    rows = measured_rows(metrics, data="synthetic demo", dataset="t", backbone="b", training_data={},
                            regimes=("full",))  # fmt: skip
    # then every row has its interval and counts, VQ-HPS its token accuracy, and the difference has rows
    by = {(r["method"], r["protocol"]): r for r in rows}
    vq = by[(METHOD_NAMES["vqhps"], "standard")]
    assert vq["pve_mm_lo"] <= vq["pve_mm"] <= vq["pve_mm_hi"] and vq["pve_mm"] == pytest.approx(pve.mean())
    assert (vq["n_frames"], vq["n_sequences"], vq["token_accuracy_pct"]) == (N, 4, pytest.approx(25.0))
    assert by[(METHOD_NAMES["baseline"], "standard")]["token_accuracy_pct"] is None
    diff = by[(DIFFERENCE_NAME, "vqhps")]
    assert diff["pve_mm"] == pytest.approx(-4.0) and diff["pve_mm_lo"] == pytest.approx(-4.0)
    assert len(rows) == 4 * len(DEFAULT_PROTOCOLS)
    head = headline_numbers(metrics, ("full",))
    assert head["full/vqhps/vqhps_minus_baseline_pve_mm_hi"] == pytest.approx(-4.0)


def test_per_frame_rows_of_the_emdb_protocol_are_on_emdb_frames_only():
    errors = {f"{p}/{m}": np.arange(4.0) for p in ("vqhps", "emdb") for m in METRIC_KEYS}
    res = ev.MethodResult(MethodSpec("oracle", NO_REGIME), np.arange(4), errors, {},
                          np.zeros((0, V, 3), np.float32), None)  # fmt: skip
    table = ev.per_sample_frame([res], ["a", "b", "c", "d"], ["3dpw", "emdb1", "3dpw", "emdb1"])
    assert table[table.protocol == "emdb"]["id"].tolist() == ["b", "d"]
    assert table[table.protocol == "emdb"]["pve_mm"].tolist() == [1.0, 3.0]
    assert len(table[table.protocol == "vqhps"]) == 4


def _hand_body() -> tuple:
    """A hand-made SMPL-like body: 24 vertices on the joints, plus one fingertip 10 cm along x of joint 22.

    Each vertex is skinned rigidly to one joint (fingertip -> 22, the left hand), no pose or shape
    blend shapes: bending joint 22 by 90 degrees moves only the fingertip, by 0.1 * sqrt(2) m.
    """
    from helpers.body_fixtures import SMPL_PARENTS
    from vqhps.body.smpl import BodyModel

    joints = np.random.default_rng(3).normal(0.0, 0.2, (24, 3))
    verts = np.concatenate([joints, joints[22:23] + [0.1, 0.0, 0.0]])
    weights = np.zeros((25, 24))
    weights[np.arange(24), np.arange(24)] = 1.0
    weights[24, 22] = 1.0
    arrays = {
        "v_template": verts, "shapedirs": np.zeros((25, 3, 10)), "posedirs": np.zeros((25, 3, 207)),
        "J_regressor": np.eye(24, 25), "weights": weights,
        "kintree_table": np.array([[2**32 - 1, *SMPL_PARENTS[1:]], list(range(24))]),
        "f": np.array([[0, 1, 2]]),
    }  # fmt: skip
    return BodyModel(arrays, gender="neutral"), np.eye(24, 25)


def test_full_pose_protocols_score_against_the_smpl_gt_with_bent_hands():
    """standard / emdb score against the full-pose SMPL GT; vqhps keeps the flat-hand GT (known answer)."""
    from vqhps.ingest.mesh_sets import canonical_vertices

    model, smpl24 = _hand_body()
    body = np.random.default_rng(4).normal(0.0, 0.3, (1, 63)).astype(np.float32)  # any body pose
    hands = np.array([[0.0, 0.0, math.pi / 2, 0.0, 0.0, 0.0]], np.float32)  # joint 22: 90 deg about z
    betas, gender, models = np.zeros((1, 10), np.float32), np.array(["n"]), {"neutral": model}
    flat = canonical_vertices(betas, body, gender, models, 10)
    full = canonical_vertices(betas, np.concatenate([body, hands], 1), gender, models, 10)
    moved = np.linalg.norm((full - full[:, :1]) - (flat - flat[:, :1]), axis=-1)[0]  # vertex 0: pelvis
    assert moved[24] == pytest.approx(0.1 * math.sqrt(2), abs=1e-5) and moved[:24].max() < 1e-5
    batch = {
        "image": torch.zeros(1, 3, 8, 8),
        "canonical_verts": torch.from_numpy(flat),
        "global_rot": random_rotations(1, generator=torch.Generator().manual_seed(1)).float(),
        "index": torch.tensor([0]),
    }
    regressors = {"h36m": np.eye(17, 25), "smpl24": smpl24}  # H36M rows: body joints 0..16, no hand
    names = ("vqhps", "standard", "emdb")
    spec = MethodSpec("vqhps", "full")
    res = ev.evaluate_method(spec, _perfect, [batch], regressors, names, full_pose_gt=[full[0]])
    # A perfect flat-hand prediction: only the fingertip is off, by 141.4 mm, averaged over 25 vertices.
    expected_pve = 1000 * 0.1 * math.sqrt(2) / 25
    assert res.errors["vqhps/pve_mm"][0] == pytest.approx(0.0, abs=1e-3)
    for name in ("standard", "emdb"):
        assert res.errors[f"{name}/pve_mm"][0] == pytest.approx(expected_pve, rel=1e-4)
        assert res.errors[f"{name}/mpjpe_mm"][0] == pytest.approx(0.0, abs=1e-3)  # joint 22 does not move
    without = ev.evaluate_method(spec, _perfect, [batch], regressors, names)  # no full-pose GT (demo)
    assert all(without.errors[f"{n}/pve_mm"][0] == pytest.approx(0.0, abs=1e-3) for n in names)
    assert {n for n, p in PROTOCOLS.items() if p.gt_full_pose} == {"standard", "emdb"}
