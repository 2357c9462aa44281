"""Run length as the original's epochs: steps = epochs x (epoch items // batch), epoch = largest source."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from vqhps.data.mixture import SourceMixture
from vqhps.training.image_setup import RegimeData, run_length


class Rows:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def set_epoch(self, epoch: int) -> None:
        pass


def _data(sizes: dict[str, int]) -> RegimeData:
    sources = [s for s, n in sizes.items() for _ in range(n)]
    base = Rows(len(sources))
    train = SourceMixture(base, sources, list(sizes)) if len(sizes) > 1 else base
    return RegimeData(train=train, val=Rows(4), n_train=len(sources), n_val=4, rows_per_source=dict(sizes))


def _p(**kw):
    base = {"steps": None, "epochs": 200.0, "lr_step": None, "lr_step_epochs": 100.0, "batch_size": 32}
    return SimpleNamespace(**(base | kw))


def test_epochs_become_steps_of_the_largest_source():
    data = _data({"coco": 1000, "mpii": 300, "h36m_train": 31_250, "mpi_inf_3dhp_train": 9000})
    length = run_length(_p(), SimpleNamespace(steps=None), data)
    per_epoch = 31_250 // 32  # MixedDataset length = the largest dataset, DataLoader drop_last
    assert (length.steps_per_epoch, length.steps, length.lr_step) == (
        per_epoch,
        200 * per_epoch,
        100 * per_epoch,
    )
    assert length.epoch_rows == 31_250 and "200 epochs x 976 steps" in length.describe(_p())


def test_single_source_epoch_is_its_rows_and_explicit_steps_win():
    data = _data({"3dpw": 22_735})
    assert run_length(_p(), SimpleNamespace(steps=None), data).steps == 200 * (22_735 // 32)  # 142,000
    assert run_length(_p(), SimpleNamespace(steps=77), data).steps == 77  # a regime's steps override
    both = run_length(_p(steps=60), SimpleNamespace(steps=None), data)  # steps wins over epochs
    assert both.steps == 60 and "60 steps (params)" in both.describe(_p(steps=60))
    fixed = run_length(
        _p(steps=500, epochs=None, lr_step=100, lr_step_epochs=None), SimpleNamespace(steps=None), data
    )
    assert (fixed.steps, fixed.lr_step) == (500, 100) and "500 steps (params)" in fixed.describe(
        _p(steps=500, epochs=None)
    )
    assert np.isclose(run_length(_p(epochs=0.5), SimpleNamespace(steps=None), data).steps, 355, atol=1)
