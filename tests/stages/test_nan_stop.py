"""A diverging run stops with one line (term, step, what to lower), exit 1, and no stage folder left."""

from __future__ import annotations

import pytest

from helpers.image_stages import stage_argv, write_project
from vqhps import losses
from vqhps.stages import train_vqhps


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path)


def test_nan_loss_is_one_line_and_leaves_no_folder(project, monkeypatch, capfd):
    real = losses.token_cross_entropy
    monkeypatch.setattr(losses, "token_cross_entropy", lambda logits, t: real(logits, t) * float("nan"))
    before = sorted(p.relative_to(project) for p in (project / "results").rglob("*"))
    assert train_vqhps.main(stage_argv(project, "full")) == 1
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if " ERROR " in line]
    assert "Traceback" not in err and len(errors) == 1
    assert "loss term 'tokens_ce' is nan at step 1; lower the learning rate" in errors[0]
    assert sorted(p.relative_to(project) for p in (project / "results").rglob("*")) == before
    assert not (project / "results/demo/train_vqhps").exists()
