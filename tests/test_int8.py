"""model/int8.py: a linear layer as an int8 product, in any compute dtype, rows independent of each other."""

from __future__ import annotations

import pytest
import torch

from polyasr.model.int8 import Int8Linear


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_int8_linear_is_close_to_the_layer_and_keeps_the_input_dtype(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    x = torch.randn(3, 20, 64)
    expected = linear(x)
    got = Int8Linear(linear)(x.to(dtype))
    assert got.dtype == dtype and got.shape == (3, 20, 48)
    # two roundings to 1/127 of a row's and a channel's largest value: ~1 % of the output's range
    assert (got.float() - expected).abs().max() < 0.02 * expected.abs().max()


def test_int8_linear_rows_do_not_depend_on_each_other() -> None:
    torch.manual_seed(1)
    layer = Int8Linear(torch.nn.Linear(32, 16, bias=False))
    x = torch.randn(10, 32)
    x[3] *= 1000  # one loud row: a per-tensor scale would flatten every other row
    together = layer(x)
    for i in range(len(x)):
        assert torch.equal(layer(x[i : i + 1])[0], together[i])
    assert layer.bias is None and layer.weight_t.dtype == torch.int8
