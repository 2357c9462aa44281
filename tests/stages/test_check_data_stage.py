"""check_data passes without the optional released weights and says where to get them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from vqhps.stages import check_data

REPO = Path(__file__).resolve().parents[2]


def test_missing_released_weights_are_listed_but_do_not_fail(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    data = tmp_path / "data"
    params["paper"]["data_root"] = str(data)
    params["paper"]["check_data"]["datasets"] = ["j_regressor_h36m", "released_weights"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (data / "body_models").mkdir(parents=True)
    np.save(data / "body_models" / "J_regressor_h36m.npy", np.full((17, 6890), 1 / 6890))
    log = tmp_path / "check_data.log"
    argv = ["--params", tmp_path / "params.yaml", "--experiment", "paper", "--results", tmp_path / "results"]
    assert check_data.main([str(a) for a in [*argv, "--log", log, "--no-track"]]) == 0
    text = log.read_text()
    assert "[released_weights]" in text and "(optional)" in text and "zenodo.org/records/12771018" in text
    for name in ("mesh_vqvae_54", "vqhps_hrnet", "tpose.npy"):
        assert f"- {name}:" in text
    assert (tmp_path / "results" / "paper" / "check_data" / "record.json").is_file()
