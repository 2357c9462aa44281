"""The full regime's mixture: each source drawn with its weight (the original's MixedDataset: 1/4 each), an
epoch = the largest source; measured over 10,000 sampled rows through the training loop's batch sampler."""

from __future__ import annotations

import numpy as np
import pytest
from torch.utils.data import Dataset

from vqhps.data.mixture import SourceMixture, mixture_probabilities
from vqhps.training.image_trainer import DistInfo, EpochBatches

SIZES = {"coco": 40, "mpii": 15, "h36m_train": 250, "mpi_inf_3dhp_train": 95}  # H36M dominates the union


class Rows(Dataset):
    """Training rows that only say which source they come from (the mixture never decodes them here)."""

    def __init__(self) -> None:
        self.sources = [s for s, n in SIZES.items() for _ in range(n)]
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)

    def __len__(self) -> int:
        return len(self.sources)

    def item(self, row: int, draw: int) -> tuple[str, int, int]:
        return self.sources[row], row, draw


def _sampled(weights, n: int = 10_000, batch: int = 25, seed: int = 3) -> list[tuple[str, int, int]]:
    """``n`` items as the trainer draws them: (epoch, index) batches of EpochBatches, epoch set per item."""
    rows = Rows()
    mix = SourceMixture(rows, rows.sources, list(SIZES), weights, seed=seed)
    out = []
    for keys in EpochBatches(len(mix), batch, 0, n // batch, seed, DistInfo(rank=0, world=1)):
        for epoch, index in keys:
            mix.set_epoch(epoch)
            out.append(mix[index])
    assert len(out) == n and rows.epochs, "the base dataset follows the mixture's epoch"
    return out


@pytest.mark.parametrize(
    "weights",
    [None, {"coco": 0.25, "mpii": 0.25, "h36m_train": 0.25, "mpi_inf_3dhp_train": 0.25},
     {"coco": 4.0, "mpii": 3.0, "h36m_train": 2.0, "mpi_inf_3dhp_train": 1.0}],
)  # fmt: skip
def test_each_source_is_drawn_with_its_weight_over_10000_rows(weights):
    items = _sampled(weights)
    want = mixture_probabilities(list(SIZES), weights)
    got = np.array([sum(s == name for s, _, _ in items) for name in SIZES]) / len(items)
    # 4 binomial standard deviations of a share near 1/4 over 10,000 draws: 0.017
    assert np.abs(got - want).max() < 0.017, dict(zip(SIZES, got.round(4), strict=True))
    union = np.array(list(SIZES.values())) / sum(SIZES.values())  # what sampling the union would give
    if weights is None:
        assert np.abs(got - union).max() > 0.3, "not uniform over the union"


def test_epoch_is_the_largest_source_and_small_sources_cycle_through_all_rows():
    rows = Rows()
    mix = SourceMixture(rows, rows.sources, list(SIZES), None, seed=0)
    assert len(mix) == max(SIZES.values())
    items = _sampled(None)
    mpii = {row for s, row, _ in items if s == "mpii"}
    first = sum(list(SIZES.values())[:1])
    assert mpii == set(range(first, first + SIZES["mpii"])), "every MPII row is drawn"
    assert len({d for s, _, d in items if s == "mpii"}) > SIZES["mpii"], "repeats get their own augmentation"


def test_the_draw_is_seeded_by_epoch_and_index():
    rows = Rows()
    a = SourceMixture(rows, rows.sources, list(SIZES), None, seed=5)
    b = SourceMixture(rows, rows.sources, list(SIZES), None, seed=5)
    b.set_epoch(0)
    assert [a.row_of(i) for i in range(100)] == [b.row_of(i) for i in range(100)]
    b.set_epoch(1)
    assert [a.row_of(i) for i in range(100)] != [b.row_of(i) for i in range(100)]


def test_weights_must_name_exactly_the_sources():
    with pytest.raises(ValueError, match="exactly the sources"):
        mixture_probabilities(["coco", "mpii"], {"coco": 1.0})
    with pytest.raises(ValueError, match="no training row"):
        SourceMixture(Rows(), Rows().sources, ["coco", "emdb2"])
