"""nn.linear: the Linear used by attention, SwiGLU and the generator head, and its row-major sampling copies."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from videoflextok.nn.linear import Linear, row_major_weights


@pytest.mark.parametrize("bias", [False, True])
def test_row_major_copies_give_the_same_outputs_and_are_dropped_after(bias):
    torch.manual_seed(0)
    model = nn.Sequential(Linear(16, 40, bias=bias), nn.SiLU(), Linear(40, 8, bias=bias))
    x = torch.randn(3, 1, 16)
    expected = model(x)
    with torch.no_grad(), row_major_weights(model):
        assert model[0].weight_t.shape == (16, 40) and model[0].weight_t.is_contiguous()
        assert_close(model(x), expected)
    assert model[0].weight_t is None and model[2].weight_t is None
    assert set(model.state_dict()) == {n for n, _ in model.named_parameters()}  # the copies are never saved


def test_row_major_copies_take_the_autocast_dtype_and_are_dropped_on_error():
    layer = Linear(8, 4, bias=False)
    with torch.autocast("cpu", dtype=torch.bfloat16), row_major_weights(layer):
        assert layer.weight_t.dtype == torch.bfloat16
        assert layer(torch.randn(2, 8)).dtype == torch.bfloat16
    with pytest.raises(RuntimeError, match="boom"), row_major_weights(layer):
        raise RuntimeError("boom")
    assert layer.weight_t is None


def test_linear_is_an_nn_linear_with_its_gradients():
    layer = Linear(5, 3)
    assert isinstance(layer, nn.Linear)
    layer(torch.randn(2, 5)).sum().backward()
    assert layer.weight.grad is not None and layer.bias.grad is not None
