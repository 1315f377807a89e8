"""int8 matrix products for the transformer's linear layers on a CPU (`dtype="int8"`).

Each linear layer's weight is rounded once to int8 with one scale per output channel; each input
row (one frame) is rounded to int8 with its own scale when the layer runs, the product is taken in
int8 with int32 sums (`torch._int_mm`: oneDNN, VNNI where the CPU has it) and scaled back. Measured
on 2 AMD EPYC cores (avx512_bf16, avx512_vnni, no AMX): 1500x1024 by 1024x4096 at ~1,700 GOP/s
against ~830 GFLOP/s in bf16, and the full-size XLSR-53 1.26-1.28x faster than bf16 (docs/speed.md).

Every row has its own scale and integer sums are exact in any order, so a frame's result does not
depend on the other rows of its pass: batching stays bit-for-bit (unlike ONNX Runtime's dynamic
quantisation, whose activation scale is per pass). The rest of the network (front end, positional
convolution, CTC head, layer norms, attention's products) keeps the runtime's dtype.
"""

from __future__ import annotations

from typing import Any

import torch


class Int8Linear(torch.nn.Module):
    """A torch.nn.Linear whose product runs in int8: per-channel weight scales, per-row input scales."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(1, keepdim=True).clamp(min=1e-12) / 127
        # stored (in, out) as the transpose of an (out, in) tensor: the layout _int_mm ran fastest with
        self.register_buffer("weight_t", (weight / scale).round().clamp(-127, 127).to(torch.int8).t())
        self.register_buffer("weight_scale", scale.view(-1))
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().float())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1]).float()
        scale = rows.abs().amax(-1, keepdim=True).clamp(min=1e-12) / 127
        product = torch._int_mm((rows / scale).round_().to(torch.int8), self.weight_t)
        y = product.float().mul_(scale).mul_(self.weight_scale)
        if self.bias is not None:
            y.add_(self.bias)
        return y.to(x.dtype).reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def quantise_linears(network: Any) -> int:
    """Replace every torch.nn.Linear in the network's transformer layers by an Int8Linear; how many.

    Language adapters (MMS) are left as they are: `load_adapter` loads their weights by name.
    """
    layers = getattr(getattr(getattr(network, "base_model", None), "encoder", None), "layers", None) or ()
    count = 0
    for layer in layers:
        for name, module in list(layer.named_modules()):
            if isinstance(module, torch.nn.Linear) and "adapter" not in name:
                parent_name, _, child = name.rpartition(".")
                setattr(layer.get_submodule(parent_name) if parent_name else layer, child, Int8Linear(module))
                count += 1
    return count


__all__ = ["Int8Linear", "quantise_linears"]
