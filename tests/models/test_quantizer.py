"""EMA vector quantiser: round trip, a hand-computed EMA step, eval mode freezes the codebook."""

from __future__ import annotations

import torch

from vqhps.models.quantizer import EMAVectorQuantizer


def _vq(**kw):
    torch.manual_seed(0)
    return EMAVectorQuantizer(codebook_size=3, dim=2, **kw)


def test_decode_of_indices_equals_quantized_latents():
    vq = _vq().eval()
    z = torch.randn(4, 5, 2)
    out = vq(z)
    assert out.indices.shape == (4, 5) and out.indices.dtype == torch.int64
    torch.testing.assert_close(vq.decode_indices(out.indices), out.quantized)
    # nearest code by brute force
    d = ((z[..., None, :] - vq.codebook) ** 2).sum(-1)
    assert torch.equal(out.indices, d.argmin(-1))


def test_ema_update_matches_hand_computation():
    vq = _vq(decay=0.5, eps=0.0)
    with torch.no_grad():
        vq._embedding.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 5.0]]))
        vq._ema_w.copy_(torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))
        vq._ema_cluster_size.copy_(torch.tensor([2.0, 2.0, 2.0]))
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]])  # codes 0, 0, 1
    vq.train()(z)
    # N = 0.5*2 + 0.5*[2,1,0] = [2, 1.5, 1]; sum 4.5, eps 0 -> unchanged
    torch.testing.assert_close(vq._ema_cluster_size, torch.tensor([2.0, 1.5, 1.0]))
    # m = 0.5*m + 0.5*[[1,1],[9,9],[0,0]]
    m = torch.tensor([[1.0, 1.0], [5.5, 5.5], [1.5, 1.5]])
    torch.testing.assert_close(vq._ema_w, m)
    torch.testing.assert_close(vq.codebook, m / torch.tensor([[2.0], [1.5], [1.0]]))


def test_training_step_reads_the_codes_before_the_ema_moves_them():
    """The original (Mesh-VQ-VAE's VectorQuantizerEMA) quantises with the codebook that chose the indices."""
    vq = _vq(decay=0.5, eps=0.0)
    before = torch.tensor([[0.0, 0.0], [10.0, 10.0], [-10.0, 5.0]])
    with torch.no_grad():
        vq._embedding.copy_(before)
        vq._ema_w.copy_(torch.tensor([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]))
        vq._ema_cluster_size.copy_(torch.tensor([2.0, 2.0, 2.0]))
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]])  # codes 0, 0, 1
    out = vq.train()(z)
    torch.testing.assert_close(out.quantized, before[[0, 0, 1]])  # not the moved codes (1, 1), (3.67, 3.67)
    assert not torch.equal(vq.codebook, before), "the step did update the codebook"
    torch.testing.assert_close(out.commit_loss, 0.25 * ((before[[0, 0, 1]] - z) ** 2).mean())


def test_laplace_smoothing_keeps_the_total_count():
    vq = _vq(decay=0.0, eps=0.1)
    z = torch.tensor([[0.0, 0.0]] * 4)
    vq.train()(z)
    n = vq._ema_cluster_size
    torch.testing.assert_close(n.sum(), torch.tensor(4.0))
    assert (n > 0).all()  # empty codes get a small positive count, never a division by zero


def test_codebook_frozen_in_eval_mode():
    vq = _vq().eval()
    before = {k: v.clone() for k, v in vq.state_dict().items()}
    vq(torch.randn(10, 2))
    assert all(torch.equal(before[k], v) for k, v in vq.state_dict().items())
    vq.train()(torch.randn(10, 2))
    assert not torch.equal(before["_embedding"], vq._embedding)


def test_straight_through_and_commitment():
    vq = _vq(beta=0.25).eval()
    z = torch.randn(6, 2, requires_grad=True)
    out = vq(z)
    (out.quantized * torch.arange(12.0).view(6, 2)).sum().backward()
    torch.testing.assert_close(z.grad, torch.arange(12.0).view(6, 2))  # identity gradient
    expected = 0.25 * ((vq.decode_indices(out.indices) - z.detach()) ** 2).mean()
    torch.testing.assert_close(out.commit_loss, expected)
    assert not vq._embedding.requires_grad and not vq._ema_w.requires_grad
    assert 1.0 <= float(out.perplexity) <= 3.0


def test_dead_code_restart_moves_unused_codes_onto_latents():
    vq = _vq(decay=0.5, dead_code_restart=True, dead_code_threshold=0.5)
    with torch.no_grad():
        vq._embedding.copy_(torch.tensor([[0.0, 0.0], [100.0, 100.0], [-100.0, 100.0]]))
    z = torch.randn(8, 2) * 0.1
    vq.train()(z)
    for c in (1, 2):  # never chosen -> count 0.5*0 + ... < threshold -> restarted on a batch latent
        assert ((z - vq.codebook[c]).abs().sum(1) < 1e-6).any()
