"""Test-set evaluation of trained mesh predictors: per-sample errors under both protocols, means, table rows.

A *predictor* turns a batch of ``ImageCropDataset`` items into a posed mesh (canonical mesh rotated into the
camera frame, centred, metres). The ground truth is the canonical GT mesh rotated by the GT global rotation,
so every method is compared on the same posed meshes under :func:`vqhps.protocols.evaluate_protocols`.
Methods: VQ-HPS (tokens -> frozen Mesh-VQ-VAE decoder), the regression baseline, and the oracle
(Mesh-VQ-VAE encode -> decode of the GT canonical mesh posed by the GT rotation: the floor of VQ-HPS).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import Tensor
from tqdm import tqdm

from vqhps.io.atomic import atomic_path
from vqhps.models.vqhps import pose_canonical
from vqhps.protocols import METRIC_KEYS, PROTOCOLS, evaluate_protocols
from vqhps.tables import rows_from_metrics
from vqhps.training.image_tasks import rotation_error_deg

METHODS: tuple[str, ...] = ("vqhps", "baseline", "oracle", "constant")
NO_REGIME = "none"  # regime of the oracle row: it sees no training image
PER_SAMPLE_COLUMNS: tuple[str, ...] = (
    "id", "source", "method", "regime", "protocol", *METRIC_KEYS,
)  # fmt: skip


@dataclass
class Prediction:
    """Predicted meshes of a batch of B samples.

    Attributes:
        verts: (B, V, 3) float posed mesh (canonical @ R^T), camera-frame orientation, metres.
        rotmat: (B, 3, 3) float predicted global rotation (canonical -> camera).
        cam: (B, 3) float weak-perspective camera (s, tx, ty) in the [-1, 1] crop frame, or None.
        extras: per-sample extra metrics, name -> (B,) float64 (e.g. ``token_accuracy``).
    """

    verts: Tensor
    rotmat: Tensor
    cam: Tensor | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)


Predictor = Callable[[dict[str, Tensor]], Prediction]


@dataclass(frozen=True)
class MethodSpec:
    """Which method and training regime a result belongs to."""

    method: str  # one of METHODS
    regime: str  # "full", "scarce", or NO_REGIME for the oracle

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; allowed: {list(METHODS)}")

    @property
    def label(self) -> str:
        """Key prefix in metrics.json: ``vqhps_full``, ``baseline_scarce``, ``oracle``."""
        return self.method if self.regime == NO_REGIME else f"{self.method}_{self.regime}"


@dataclass
class MethodResult:
    """Per-sample results of one method over a test set of N samples.

    Attributes:
        spec: method and regime.
        index: (N,) int64 dataset indices, in loader order.
        errors: ``"<protocol>/<metric>"`` -> (N,) float64 mm.
        extras: extra per-sample metrics -> (N,) float64 (``rotation_error_deg``, ``token_accuracy``, ...).
        kept_verts: (k, V, 3) float32 posed meshes of the first ``keep`` samples (for overlays), metres.
        kept_cam: (k, 3) float32 their weak-perspective cameras, or None when the method has none.
    """

    spec: MethodSpec
    index: np.ndarray
    errors: dict[str, np.ndarray]
    extras: dict[str, np.ndarray]
    kept_verts: np.ndarray
    kept_cam: np.ndarray | None


def ground_truth(batch: Mapping[str, Tensor]) -> Tensor:
    """Posed GT mesh: canonical GT (B, V, 3) rotated by the GT global rotation (B, 3, 3) -> (B, V, 3)."""
    return pose_canonical(batch["canonical_verts"].float(), batch["global_rot"].float())


def vqhps_predictor(trained) -> Predictor:
    """Predictor of a :class:`vqhps.models.pretrained.TrainedVQHPS` (argmax tokens -> frozen decoder).

    Extras: ``token_accuracy`` against the tokens of the GT canonical mesh under the same tokenizer.
    """

    def predict(batch: dict[str, Tensor]) -> Prediction:
        pred = trained.predict(batch["image"])
        with torch.no_grad():
            gt_tokens = trained.mesh_vqvae.encode_indices(batch["canonical_verts"].float())
        accuracy = (pred.output.indices == gt_tokens).float().mean(1).cpu().numpy().astype(np.float64)
        return Prediction(pred.verts, pred.output.rotmat, pred.output.cam, {"token_accuracy": accuracy})

    return predict


def baseline_predictor(trained) -> Predictor:
    """Predictor of a :class:`vqhps.models.pretrained.TrainedBaseline` (direct vertex regression)."""

    def predict(batch: dict[str, Tensor]) -> Prediction:
        out = trained.predict(batch["image"])
        return Prediction(out.verts, out.rotmat, out.cam)

    return predict


def oracle_predictor(mesh_vqvae) -> Predictor:
    """The oracle: GT canonical mesh -> Mesh-VQ-VAE tokens -> decoded mesh, posed by the GT rotation.

    It sees no image: its error is the quantisation floor that a perfect token classifier would reach.
    """

    @torch.no_grad()
    def predict(batch: dict[str, Tensor]) -> Prediction:
        canonical = mesh_vqvae.decode_indices(mesh_vqvae.encode_indices(batch["canonical_verts"].float()))
        rot = batch["global_rot"].float()
        return Prediction(pose_canonical(canonical.float(), rot), rot)

    return predict


def _to_device(batch: Mapping[str, Tensor], device: str | torch.device) -> dict[str, Tensor]:
    return {k: (v.to(device) if isinstance(v, Tensor) else v) for k, v in batch.items()}


@torch.no_grad()
def evaluate_method(
    spec: MethodSpec,
    predict: Predictor,
    batches: Iterable[Mapping[str, Tensor]],
    regressor: np.ndarray | Tensor,
    protocols: Sequence[str] = tuple(PROTOCOLS),
    device: str | torch.device = "cpu",
    keep: int = 0,
) -> MethodResult:
    """Run one predictor over a test loader and compute per-sample errors under every protocol.

    Args:
        spec: method and regime of the predictor.
        predict: batch -> :class:`Prediction`.
        batches: ``ImageCropDataset`` batches (``image``, ``canonical_verts``, ``global_rot``, ``index``),
            without augmentation, in a fixed order.
        regressor: (17, V) native-H36M-order joint regressor of the topology.
        protocols: names of :data:`vqhps.protocols.PROTOCOLS`.
        device: where the predictor runs.
        keep: keep the posed meshes (and cameras) of the first ``keep`` samples, for overlays.

    Returns:
        A :class:`MethodResult`; errors in mm.
    """
    reg = torch.as_tensor(np.asarray(regressor) if not isinstance(regressor, Tensor) else regressor)
    errors: dict[str, list[np.ndarray]] = {}
    extras: dict[str, list[np.ndarray]] = {}
    index, kept_v, kept_c = [], [], []
    n_kept = 0
    for batch in tqdm(batches, desc=spec.label, disable=not sys.stderr.isatty(), leave=False):
        batch = _to_device(batch, device)
        pred = predict(batch)
        gt = ground_truth(batch)
        for key, values in evaluate_protocols(pred.verts.float(), gt, reg, protocols).items():
            errors.setdefault(key, []).append(values)
        rot_err = rotation_error_deg(pred.rotmat.float(), batch["global_rot"].float())
        for key, values in {"rotation_error_deg": rot_err.cpu().numpy(), **pred.extras}.items():
            extras.setdefault(key, []).append(np.asarray(values, np.float64))
        index.append(batch["index"].cpu().numpy())
        if n_kept < keep:
            take = min(keep - n_kept, len(gt))
            kept_v.append(pred.verts[:take].float().cpu().numpy())
            if pred.cam is not None:
                kept_c.append(pred.cam[:take].float().cpu().numpy())
            n_kept += take
    if not index:
        raise ValueError(f"{spec.label}: the test loader yielded no batch")
    return MethodResult(
        spec=spec,
        index=np.concatenate(index).astype(np.int64),
        errors={k: np.concatenate(v) for k, v in errors.items()},
        extras={k: np.concatenate(v) for k, v in extras.items()},
        kept_verts=np.concatenate(kept_v) if kept_v else np.zeros((0, reg.shape[1], 3), np.float32),
        kept_cam=np.concatenate(kept_c) if kept_c else None,
    )


def per_sample_frame(
    results: Sequence[MethodResult], ids: Sequence[str], sources: Sequence[str]
) -> pd.DataFrame:
    """Long table with one row per (sample, method, regime, protocol) and the three errors in mm.

    Args:
        results: one :class:`MethodResult` per method, over the same test set.
        ids, sources: per dataset index, the sample id and its source (``MethodResult.index`` indexes them).

    Returns:
        DataFrame with columns :data:`PER_SAMPLE_COLUMNS`.
    """
    ids_arr, src_arr = np.asarray(ids, dtype=object), np.asarray(sources, dtype=object)
    frames = []
    for res in results:
        protocols = list(dict.fromkeys(k.split("/", 1)[0] for k in res.errors))
        for protocol in protocols:
            frame = {
                "id": ids_arr[res.index],
                "source": src_arr[res.index],
                "method": res.spec.method,
                "regime": res.spec.regime,
                "protocol": protocol,
            }
            frame |= {m: res.errors[f"{protocol}/{m}"] for m in METRIC_KEYS}
            frames.append(pd.DataFrame(frame, columns=list(PER_SAMPLE_COLUMNS)))
    if not frames:
        return pd.DataFrame(columns=list(PER_SAMPLE_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def write_per_sample(frame: pd.DataFrame, path) -> None:
    """Write the per-sample table as Parquet (pyarrow, atomic rename)."""
    table = pa.Table.from_pandas(frame[list(PER_SAMPLE_COLUMNS)], preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def summarize(results: Sequence[MethodResult]) -> dict[str, float]:
    """Means: ``"<label>/<protocol>/<metric>"`` (mm) and ``"<label>/<extra>"`` for every result.

    ``label`` is :attr:`MethodSpec.label` (``vqhps_full``, ``baseline_scarce``, ``oracle``, ...).
    """
    out: dict[str, float] = {}
    for res in results:
        for key, values in {**res.errors, **res.extras}.items():
            out[f"{res.spec.label}/{key}"] = float(np.mean(values))
    return out


def summarize_by_source(results: Sequence[MethodResult], sources: Sequence[str]) -> dict[str, float]:
    """Means per test source: ``"<source>:<label>/<protocol>/<metric>"`` (mm).

    The paper reports 3DPW and EMDB-1 separately; a test split holding both must never be averaged
    across them. ``sources`` gives each dataset index's source (``MethodResult.index`` indexes it).
    """
    src = np.asarray(sources, dtype=object)
    out: dict[str, float] = {}
    for source in sorted(set(src.tolist())):
        for res in results:
            mask = src[res.index] == source
            for key, values in {**res.errors, **res.extras}.items():
                out[f"{source}:{res.spec.label}/{key}"] = float(np.mean(values[mask]))
    return out


def per_protocol_series(results: Sequence[MethodResult], protocol: str) -> dict[str, np.ndarray]:
    """Input of :func:`vqhps.plots.plot_error_histograms` for one protocol: ``"<label>/<metric>"`` -> (N,)."""
    return {
        f"{res.spec.label}/{m}": res.errors[f"{protocol}/{m}"]
        for res in results
        for m in METRIC_KEYS
        if f"{protocol}/{m}" in res.errors
    }


# -- measured table rows (make_tables) --------------------------------------------------------------------

METHOD_NAMES: dict[str, str] = {
    "vqhps": "VQ-HPS (measured)",
    "baseline": "Regression baseline (measured)",
    "oracle": "Oracle: Mesh-VQ-VAE enc->dec of GT",
    "constant": "Constant: mean train mesh, best fixed rotation",
}


def _section(metrics: Mapping[str, float], label: str, protocols: Sequence[str]) -> dict[str, float]:
    """``"<label>/<protocol>/<metric>"`` keys -> ``"<protocol>/<metric>"`` for the given protocols."""
    prefix = f"{label}/"
    out = {k[len(prefix) :]: v for k, v in metrics.items() if k.startswith(prefix)}
    out = {
        k: v for k, v in out.items() if k.split("/", 1)[0] in protocols and k.split("/", 1)[-1] in METRIC_KEYS
    }
    if not out:
        raise ValueError(
            f"evaluate metrics have no '{label}/<protocol>/<metric>' keys for protocols {list(protocols)}; "
            "re-run the evaluate stage"
        )
    return out


def measured_rows(
    metrics: Mapping[str, float],
    *,
    data: str,
    dataset: str,
    backbone: str,
    training_data: Mapping[str, str],
    regimes: Sequence[str],
    protocols: Sequence[str] = tuple(PROTOCOLS),
    tables: Mapping[str, str] | None = None,
) -> list[dict[str, object]]:
    """Rows of :func:`vqhps.tables.build_tables` from the evaluate stage's flat means.

    Every regime gets a VQ-HPS and a baseline row per protocol, plus the oracle rows once per table (the
    oracle sees no training image, so the same numbers appear in every regime's table, for comparison).

    Args:
        metrics: evaluate ``metrics.json`` means in mm (``vqhps_full/vqhps/pve_mm``,
            ``oracle/standard/mpjpe_mm``, ...).
        data: "synthetic demo" or "paper datasets".
        dataset: test-set label of the measured rows.
        backbone: backbone label of the image models.
        training_data: regime -> description of its training images.
        regimes, protocols: which rows to build.
        tables: regime -> the table (row ``regime``) its rows go to, e.g. ``scarce_emdb -> scarce`` where
            the paper reports it (absent = the regime's own name).

    Raises:
        ValueError: a method/regime has no metric in ``metrics``.
    """
    rows: list[dict[str, object]] = []
    with_oracle: set[str] = set()
    for regime in regimes:
        table = (tables or {}).get(regime, regime)
        common = {"dataset": dataset, "regime": table, "data": data}
        for method in ("vqhps", "baseline"):
            values = _section(metrics, MethodSpec(method, regime).label, protocols)
            rows += rows_from_metrics(
                values, method=METHOD_NAMES[method], backbone=backbone,
                training_data=training_data.get(regime, regime), **common,
            )  # fmt: skip
        if table in with_oracle:
            continue
        with_oracle.add(table)
        rows += rows_from_metrics(
            _section(metrics, "oracle", protocols), method=METHOD_NAMES["oracle"], backbone="none (GT mesh)",
            training_data="GT test meshes (no image)", **common,
        )  # fmt: skip
        if any(k.startswith("constant/") for k in metrics):  # what learning nothing scores
            rows += rows_from_metrics(
                _section(metrics, "constant", protocols), method=METHOD_NAMES["constant"],
                backbone="none (no image)", training_data="mean of the train meshes", **common,
            )  # fmt: skip
    return rows


def headline_numbers(
    metrics: Mapping[str, float],
    regimes: Sequence[str],
    protocols: Sequence[str] = tuple(PROTOCOLS),
) -> dict[str, float]:
    """Differences behind the paper's claim, mm: VQ-HPS minus baseline (negative = VQ-HPS better) and
    VQ-HPS minus oracle (how far above its quantisation floor), per regime, protocol and metric.

    Returns:
        ``"<regime>/<protocol>/vqhps_minus_baseline_<metric>"`` and ``".../vqhps_minus_oracle_<metric>"``.
    """
    out: dict[str, float] = {}
    for regime in regimes:
        for protocol in protocols:
            for m in METRIC_KEYS:
                vq = metrics.get(f"vqhps_{regime}/{protocol}/{m}")
                base = metrics.get(f"baseline_{regime}/{protocol}/{m}")
                oracle = metrics.get(f"oracle/{protocol}/{m}")
                if vq is not None and base is not None:
                    out[f"{regime}/{protocol}/vqhps_minus_baseline_{m}"] = float(vq) - float(base)
                if vq is not None and oracle is not None:
                    out[f"{regime}/{protocol}/vqhps_minus_oracle_{m}"] = float(vq) - float(oracle)
    return out
