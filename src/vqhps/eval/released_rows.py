"""The "VQ-HPS (released weights)" rows of make_tables: the original release, when it is under
``data_root``, evaluated through the same evaluation as the trained models (torch-free: labels and rows).

``evaluate`` asks :func:`vqhps.eval.released_models.released_models` for extra models: none unless
``<data_root>/released/`` holds the three release files (``mesh_vqvae_54``, ``vqhps_hrnet``, ``tpose.npy``;
where to get them: ``check_data``'s ``released_weights`` listing, README). They are converted with
:mod:`vqhps.models.released` (with the data root's ``mesh_connections`` and ``J_regressor_h36m.npy``) into a
temporary folder and loaded as a trained VQ-HPS of regime ``released``: its metrics are
``vqhps_released/<protocol>/<metric>``. ``make_tables`` turns those into rows with
:func:`released_table_rows`, in the table of the regime the release was trained like (the full mixture).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vqhps.eval.methods import MethodSpec

__all__ = ["METHOD_NAME", "SPEC", "released_table_rows"]

METHOD_NAME = "VQ-HPS (released weights)"
SPEC = MethodSpec("vqhps", "released")  # metrics.json prefix: vqhps_released/
TRAINING_DATA = "original release (Zenodo 12771018)"
BACKBONE = "HRNet-W48"


def released_table_rows(
    metrics: Mapping[str, float],
    *,
    data: str,
    dataset: str,
    tables: Mapping[str, str],
    protocols: Sequence[str],
) -> list[dict[str, object]]:
    """Table rows of the release's metrics (``vqhps_released/<protocol>/<metric>``), one per protocol;
    ``[]`` when evaluate had no release to measure.

    Args:
        metrics: evaluate's means for one test set (prefix of the test source already removed).
        data, dataset: the row labels of the other measured rows.
        tables: regime -> its table, for the regimes shown on this test set, in params order; the rows go
            to the ``full`` regime's table (the release was trained on the full mixture), else the first.
        protocols: protocols to show.
    """
    from vqhps.eval.measured_rows import label_rows

    prefix = f"{SPEC.label}/"
    if not tables or not any(k.startswith(prefix) for k in metrics):
        return []
    table = tables.get("full", next(iter(tables.values())))
    shown = [p for p in protocols if any(k.startswith(f"{prefix}{p}/") for k in metrics)]
    if not shown:
        return []
    return label_rows(
        metrics, SPEC.label, shown, method=METHOD_NAME, backbone=BACKBONE, training_data=TRAINING_DATA,
        dataset=dataset, regime=table, data=data,
    )  # fmt: skip
