"""The fast vc-conv and pooling layers equal their plain reference computations (forward and gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vqhps.models.connections import random_table
from vqhps.models.vcconv import LearnedPool, VCConv, pool_reference, vcconv_reference


@pytest.fixture
def table():
    return random_table(37, 45, 8, np.random.default_rng(1))


def _grads(y, tensors, g):
    return torch.autograd.grad(y, tensors, g)


@pytest.mark.parametrize(("c_in", "c_out"), [(3, 7), (7, 3), (5, 5)])  # coefficient-first and basis-first
@pytest.mark.parametrize("batch", [1, 4])
def test_vcconv_fast_equals_reference(table, c_in, c_out, batch):
    torch.manual_seed(0)
    layer = VCConv(table, c_in, c_out, n_basis=9)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(batch, 45, c_in, requires_grad=True)
    fast = layer(x.transpose(0, 1)).transpose(0, 1)
    ref = vcconv_reference(layer, x)
    assert fast.shape == (batch, 37, c_out)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(ref)
    params = [x, layer.coeff, layer.basis, layer.bias]
    for a, b in zip(_grads(fast, params, g), _grads(ref, params, g), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("c_in", "c_out"), [(3, 7), (7, 3), (5, 5)])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("activation", [True, False])
def test_vcconv_channel_major_equals_reference(table, c_in, c_out, batch, activation):
    torch.manual_seed(1)
    layer = VCConv(table, c_in, c_out, n_basis=9, activation=activation)
    with torch.no_grad():
        layer.bias.normal_()
        x = torch.randn(batch, 45, c_in)
        cm = layer.forward_cm(x.permute(1, 2, 0).contiguous()).permute(2, 0, 1)
        torch.testing.assert_close(cm, vcconv_reference(layer, x), atol=1e-5, rtol=1e-5)


def test_pool_channel_major_equals_reference(table):
    torch.manual_seed(2)
    layer = LearnedPool(table)
    x = torch.randn(3, 45, 6)
    with torch.no_grad():
        cm = layer.forward_cm(x.permute(1, 2, 0).contiguous()).permute(2, 0, 1)
        torch.testing.assert_close(cm, pool_reference(layer, x), atol=1e-6, rtol=1e-6)


def test_padding_coefficients_get_no_gradient(table):
    layer = VCConv(table, 2, 3)
    layer(torch.randn(45, 2, 2)).sum().backward()
    pad = ~table.mask
    assert pad.any()
    assert torch.all(layer.coeff.grad[torch.from_numpy(pad)] == 0)


@pytest.mark.parametrize("batch", [1, 3])
def test_pool_fast_equals_reference(table, batch):
    torch.manual_seed(0)
    layer = LearnedPool(table)
    w = layer.normalised_weight()
    torch.testing.assert_close(w.sum(1), torch.ones(37), atol=1e-6, rtol=0)
    assert torch.all(w[~torch.from_numpy(table.mask)] == 0)
    x = torch.randn(batch, 45, 6, requires_grad=True)
    fast = layer(x.transpose(0, 1)).transpose(0, 1)
    ref = pool_reference(layer, x)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(ref)
    for a, b in zip(_grads(fast, [x, layer.weight], g), _grads(ref, [x, layer.weight], g), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_vcconv_float64_gradcheck():
    table = random_table(6, 7, 3, np.random.default_rng(2))
    layer = VCConv(table, 2, 3, n_basis=2).double()
    x = torch.randn(7, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, a, w: _apply(layer, x, a, w), (x, layer.coeff, layer.basis))


def _apply(layer, x, coeff, basis):
    # gradcheck needs the parameters as explicit inputs
    return torch.func.functional_call(layer, {"coeff": coeff, "basis": basis}, (x,))


def test_bag_sum_gradients_with_unreferenced_rows():
    from vqhps.models.bag_sum import BagStructure

    bags = BagStructure(np.array([0, 2, 2, 0]), np.array([1, 3, 0]), n_rows=4)  # rows 1 and 3 unused
    table = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, dtype=torch.float64, requires_grad=True)
    out = bags(table, w)
    expected = torch.stack(
        [w[0] * table[0], w[1] * table[2] + w[2] * table[2] + w[3] * table[0], table[0] * 0]
    )
    torch.testing.assert_close(out, expected)
    assert torch.autograd.gradcheck(lambda t, w: bags(t, w), (table, w))
    out.sum().backward()
    assert torch.all(table.grad[[1, 3]] == 0)
