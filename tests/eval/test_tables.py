"""Tests for vqhps.eval.tables and the packaged paper_numbers.csv."""

from __future__ import annotations

import csv
import io
import math
import re
from importlib import resources
from pathlib import Path

import pytest

from vqhps.eval.tables import (
    MISSING,
    ROW_FIELDS,
    build_tables,
    latex_escape,
    load_paper_numbers,
    normalize_row,
    read_table_csv,
    rows_from_metrics,
)


def _measured(regime: str = "full", **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "method": "vq_hps_small", "backbone": "small_cnn", "dataset": "synthetic_test", "regime": regime,
        "protocol": "vqhps", "data": "synthetic demo", "training_data": "anny synthetic (100%)",
        "pve_mm": 51.23456, "mpjpe_mm": float("nan"), "pa_mpjpe_mm": 30.0, "source": "results/evaluate",
    }  # fmt: skip
    row.update(over)
    return row


def _raw_paper_file() -> list[dict[str, str]]:
    text = resources.files("vqhps.eval").joinpath("paper_numbers.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def tables(tmp_path: Path) -> dict[str, Path]:
    measured = [
        _measured("full"),
        _measured("full", protocol="standard", method="regression", mpjpe_mm=60.0),
        _measured("scarce", pve_mm=None),
    ]
    return build_tables(measured, None, tmp_path / "tables")


def test_paper_file_is_well_formed() -> None:
    rows = _raw_paper_file()
    assert rows, "paper_numbers.csv has rows"
    for r in rows:
        assert None not in r.values() and None not in r, f"row with a wrong field count: {r}"
        assert r["source"].strip(), f"every paper row names its source: {r['method']}"
        normalize_row(r, "paper")  # raises on unknown regime/protocol or non-numeric metric
    scarce = [r for r in rows if r["regime"] == "scarce"]
    assert scarce, "the scarce-data regime is present"
    for r in scarce:
        # Reference section 5: the scarce-data numbers were not found; the file must say so, not invent them.
        assert "[not found]" in r["source"], f"scarce row {r['method']} admits the numbers are unknown"
        assert r["pve_mm"] == r["mpjpe_mm"] == r["pa_mpjpe_mm"] == "", f"no invented numbers: {r['method']}"


def test_paper_vqhps_row_matches_reference() -> None:
    # vqhps-reference.md section 6 (MEGA CVPR'25 Table 1): VQ-HPS HRNet-W48 3DPW 84.8 / 71.1 / 45.2.
    raw = [r for r in _raw_paper_file() if r["method"] == "VQ-HPS" and r["dataset"] == "3dpw"]
    full = [r for r in raw if r["regime"] == "full"]
    assert len(full) == 1, "one full-data VQ-HPS 3DPW row"
    assert (full[0]["pve_mm"], full[0]["mpjpe_mm"], full[0]["pa_mpjpe_mm"]) == ("84.8", "71.1", "45.2")
    assert full[0]["protocol"] == "vqhps", "the paper's own protocol"


def test_paper_rows_in_table_equal_data_file(tables: dict[str, Path]) -> None:
    written = {
        (r["method"], r["dataset"]): r for r in read_table_csv(tables["main_csv"]) if r["origin"] == "paper"
    }
    raw_full = [r for r in _raw_paper_file() if r["regime"] == "full"]
    assert len(written) == len(raw_full), "every full-regime paper row appears in the main table"
    for raw in raw_full:
        row = written[(raw["method"], raw["dataset"])]
        for key in ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm"):
            expected = float(raw[key]) if raw[key] else None
            assert row[key] == expected, f"{raw['method']} {raw['dataset']} {key}"
        assert row["source"] == raw["source"] and row["data"] == "paper datasets"


def test_csv_round_trip(tmp_path: Path) -> None:
    measured = [_measured("full"), _measured("full", protocol="standard", pa_mpjpe_mm=None)]
    paper = [r for r in load_paper_numbers() if r["regime"] == "full"][:3]
    paths = build_tables(measured, paper, tmp_path)
    back = read_table_csv(paths["main_csv"])
    expected = [normalize_row(r, "paper") for r in paper] + [normalize_row(r, "measured") for r in measured]
    key = lambda r: (r["origin"], r["dataset"], r["method"], r["protocol"])  # noqa: E731
    assert sorted(back, key=key) == sorted(expected, key=key), "CSV reads back into the same rows"
    assert [list(r) for r in back] == [list(ROW_FIELDS)] * len(back), "column order is ROW_FIELDS"
    measured_back = [r for r in back if r["origin"] == "measured"]
    assert measured_back[0]["pve_mm"] == 51.23456, "full precision kept in CSV"
    assert measured_back[0]["mpjpe_mm"] is None, "NaN -> missing, not 0"


def test_missing_values_are_dashes_not_zero(tables: dict[str, Path]) -> None:
    md = tables["main_md"].read_text(encoding="utf-8")
    vm_emdb = [line for line in md.splitlines() if "Virtual Marker" in line and "EMDB-1" in line]
    assert len(vm_emdb) == 1, "Virtual Marker EMDB row present"
    cells = [c.strip() for c in vm_emdb[0].strip("|").split("|")]
    assert cells[8:11] == [MISSING] * 3, f"unreported metrics shown as {MISSING!r}: {cells}"
    measured = [line for line in md.splitlines() if "vq_hps_small" in line]
    assert len(measured) == 1, "the measured full-regime VQ-HPS row"
    cells = [c.strip() for c in measured[0].strip("|").split("|")]
    assert cells[8:11] == ["51.2", MISSING, "30.0"], f"NaN MPJPE shown as {MISSING!r}, numbers 1 decimal"


def test_every_row_labelled_with_data_protocol_regime(tables: dict[str, Path]) -> None:
    for name in ("main", "scarce"):
        regime = "full" if name == "main" else "scarce"
        rows = read_table_csv(tables[f"{name}_csv"])
        assert {r["regime"] for r in rows} == {regime}, f"{name} table holds only the {regime} regime"
        assert {r["data"] for r in rows} == {"paper datasets", "synthetic demo"}, f"{name}: both data kinds"
        assert all(r["protocol"] in ("vqhps", "standard") for r in rows), f"{name}: protocol on every row"
    scarce_md = tables["scarce_md"].read_text(encoding="utf-8")
    assert "[not found]" in scarce_md and "synthetic demo" in scarce_md, "paper rows beside measured rows"


def test_latex_escapes_underscores(tables: dict[str, Path]) -> None:
    tex = tables["main_tex"].read_text(encoding="utf-8")
    assert r"vq\_hps\_small" in tex and r"synthetic\_test" in tex, "underscores escaped in cells"
    for line in tex.splitlines():
        if line.startswith((r"\label", "%")):
            continue
        assert not re.search(r"(?<!\\)_", line), f"unescaped underscore in: {line}"
    assert r"\begin{tabular}" in tex and r"\bottomrule" in tex, "a complete booktabs table"
    assert "–" not in tex and " -- " in tex, "missing values are LaTeX dashes"


def test_latex_escape_specials() -> None:
    assert latex_escape("a_b & 50% #1 $x$ {y} ~ ^ ->") == (
        r"a\_b \& 50\% \#1 \$x\$ \{y\} \textasciitilde{} \textasciicircum{} -\textgreater{}"
    )


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"regime": "Tiny regime!"}, r"regime 'Tiny regime!' is not a regime name"),
        ({"protocol": "spin14"}, r"unknown protocol 'spin14'"),
        ({"data": "3dpw"}, r"unknown data label"),
        ({"pve_mm": "about 50"}, r"not a number"),
    ],
)
def test_bad_rows_raise(tmp_path: Path, override: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_tables([_measured(**override)], [], tmp_path)
    assert not (tmp_path / "main_table.md").exists(), "nothing written for invalid input"


def test_missing_key_raises_and_names_it() -> None:
    row = _measured()
    del row["data"]
    with pytest.raises(ValueError, match=r"missing keys \['data'\]"):
        normalize_row(row, "measured")


def test_paper_numbers_are_finite_millimetres() -> None:
    for r in load_paper_numbers():
        for key in ("pve_mm", "mpjpe_mm", "pa_mpjpe_mm"):
            if r[key]:
                value = float(r[key])
                assert math.isfinite(value) and 20.0 < value < 200.0, f"{r['method']} {key}={value} in mm"
        if r["pve_mm"] and r["pa_mpjpe_mm"]:
            assert float(r["pa_mpjpe_mm"]) < float(r["mpjpe_mm"]) < float(r["pve_mm"]), (
                f"ordering {r['method']}"
            )


def test_rows_from_metrics_one_row_per_protocol(tmp_path: Path) -> None:
    metrics = {
        "vqhps/pve_mm": 50.0,
        "vqhps/mpjpe_mm": 40.0,
        "vqhps/pa_mpjpe_mm": 30.0,
        "standard/pve_mm": 55.0,
    }
    labels = {"method": "VQ-HPS", "dataset": "synthetic_test", "regime": "scarce", "data": "synthetic demo"}
    rows = rows_from_metrics({**metrics, "token_acc": 0.4}, **labels)
    assert [r["protocol"] for r in rows] == ["vqhps", "standard"], "one row per protocol present"
    assert (rows[0]["pve_mm"], rows[0]["mpjpe_mm"], rows[0]["pa_mpjpe_mm"]) == (50.0, 40.0, 30.0)
    assert rows[1]["pve_mm"] == 55.0 and rows[1]["mpjpe_mm"] is None, "absent metric -> missing"
    paths = build_tables(rows, [], tmp_path)
    assert read_table_csv(paths["scarce_csv"]) == rows, "rows go straight into build_tables"


def test_a_regime_of_params_gets_its_own_table(tmp_path: Path) -> None:
    """A third regime (params.yaml ``<experiment>.regimes``) is a table of its own beside main and scarce."""
    measured = [_measured("full"), _measured("scarce"), _measured("tiny", pve_mm=99.5, training_data="2.5 %")]
    paths = build_tables(measured, None, tmp_path, regimes=("full", "scarce", "tiny"))
    assert {"main_md", "scarce_md", "tiny_md", "tiny_csv", "tiny_tex"} <= set(paths)
    rows = read_table_csv(paths["tiny_csv"])
    assert [r["pve_mm"] for r in rows] == [99.5] and rows[0]["training_data"] == "2.5 %"
    assert "tiny" in paths["tiny_md"].read_text().splitlines()[0]
    assert all(r["regime"] != "tiny" for r in read_table_csv(paths["main_csv"]))


def test_measured_cells_show_the_interval_half_width_and_counts(tmp_path: Path) -> None:
    summary = {
        "vqhps/pve_mm": 84.81, "vqhps/pve_mm_lo": 83.0, "vqhps/pve_mm_hi": 85.4,
        "vqhps/mpjpe_mm": 70.0, "token_accuracy": 0.4213, "token_accuracy_lo": 0.41,
        "token_accuracy_hi": 0.43, "n_frames": 35515, "n_sequences": 37,
    }  # fmt: skip
    labels = {"method": "m", "dataset": "3dpw", "regime": "full", "data": "synthetic demo"}
    (row,) = rows_from_metrics(summary, **labels)
    assert (row["pve_mm_lo"], row["pve_mm_hi"]) == (83.0, 85.4) and row["mpjpe_mm_lo"] is None
    assert row["token_accuracy_pct"] == pytest.approx(42.13) and row["n_sequences"] == 37
    written = build_tables([row], [], tmp_path, regimes=("full",))
    md = written["main_md"].read_text()
    # 84.8 ± (85.4 - 83.0) / 2; no interval -> the bare mean; token accuracy in percent; counts
    assert "| 84.8 ± 1.2 | 70.0 | – | 42.1 ± 1.0 | 35,515 | 37 |" in md
    assert "half-width of the 95 % interval" in md and "`emdb`" in md
    assert r"84.8 $\pm$ 1.2" in written["main_tex"].read_text()
    (back,) = read_table_csv(written["main_csv"])
    assert back == row, "the CSV keeps the interval ends and counts exactly"
