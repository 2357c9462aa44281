"""File-then-frame draws of the training rows: uniform files, uniform frames, seeded, resumable."""

import numpy as np
import pytest
import torch

from vqhps.data.motion_sampler import FileFrameSampler, motion_of_id, motion_row_id

FRAMES = {"short": 2, "mid": 15, "long": 240}  # very different lengths: a row-uniform draw gives long 93 %


def shuffled_ids(seed: int = 0) -> list[str]:
    """Row ids of the three files, rows interleaved (the sampler must not rely on contiguous files)."""
    lengths = enumerate(FRAMES.values())
    ids = [motion_row_id("bedlam_animations", i, 3 * t) for i, n in lengths for t in range(n)]
    return [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]


def test_ids_name_the_file_and_rows_without_frames_are_their_own():
    assert motion_row_id("amass", 12, 40) == "amass-000012-f000040"
    assert motion_of_id("amass-000012-f000040") == "amass-000012"
    assert motion_of_id("3dpw-test-downtown-p1-f00010") == "3dpw-test-downtown-p1"
    assert motion_of_id("anny-0000042") == "anny-0000042"


def test_files_equally_likely_and_frames_uniform_within_a_file():
    ids = shuffled_ids()
    sampler = FileFrameSampler(ids)
    assert (sampler.n_rows, sampler.n_files) == (257, 3) and not sampler.per_row
    n = 30_000
    rows = sampler.draw(n, torch.Generator().manual_seed(1)).numpy()
    files = np.array([motion_of_id(ids[r]) for r in rows])
    for i in range(3):
        share = np.mean(files == f"bedlam_animations-{i:06d}")
        assert abs(share - 1 / 3) < 0.015, (i, share)  # binomial sd 0.0027
    long_rows = rows[files == "bedlam_animations-000002"]
    long_idx = [k for k, i in enumerate(ids) if motion_of_id(i) == "bedlam_animations-000002"]
    counts = np.bincount(long_rows, minlength=len(ids))[long_idx]
    assert len(counts) == 240 and counts.min() > 0, "every stored frame of the long file is drawn"
    expected = len(long_rows) / 240
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 239 + 5 * np.sqrt(2 * 239), chi2  # 239 degrees of freedom: mean 239, sd 21.9
    short_rows = rows[files == "bedlam_animations-000000"]
    assert abs(np.mean(short_rows == ids.index(motion_row_id("bedlam_animations", 0, 0))) - 0.5) < 0.03


def test_draws_seeded_and_resumable_from_the_generator_state():
    sampler = FileFrameSampler(shuffled_ids())
    g = torch.Generator().manual_seed(7)
    straight = [sampler.draw(16, g) for _ in range(4)]
    g = torch.Generator().manual_seed(7)
    first = [sampler.draw(16, g) for _ in range(2)]
    state = g.get_state()  # what the trainer checkpoints
    resumed = torch.Generator()
    resumed.set_state(state)
    second = [sampler.draw(16, resumed) for _ in range(2)]
    assert all(torch.equal(a, b) for a, b in zip(straight, first + second, strict=True))
    other = sampler.draw(16, torch.Generator().manual_seed(8))
    assert not torch.equal(other, straight[0])


def test_rows_without_files_draw_exactly_as_uniform_rows():
    ids = [f"anny-{i:07d}" for i in range(50)]
    sampler = FileFrameSampler(ids)
    assert sampler.per_row
    got = sampler.draw(64, torch.Generator().manual_seed(3))
    assert torch.equal(got, torch.randint(0, 50, (64,), generator=torch.Generator().manual_seed(3)))


def test_no_rows_refused():
    with pytest.raises(ValueError, match="no training rows"):
        FileFrameSampler([])
