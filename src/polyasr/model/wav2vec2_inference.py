"""wav2vec2 CTC checkpoints (XLSR, the card's model) run for inference without transformers' model code.

Importing transformers' modeling_wav2vec2 costs ~1.8 s and ~130 MiB on a 2-core machine before a
single weight is read: it pulls in torch.distributed.tensor, sympy, torch._dynamo and
scipy.optimize for sharding, masking and loss code that inference never calls (measured with
`python -X importtime`; docs/speed.md). This module is Wav2Vec2ForCTC's inference forward in
plain PyTorch, with the same module tree and parameter names, so the checkpoint's state dict
loads as is and everything that hooks into the network (the time-major front end, the fp32
positional convolution and head, `between_layers`) finds what it expects. The tests compare its
logits with transformers' own class on wav2vec2 configurations of both layer-norm orders.

`applies(config)` says which checkpoints it runs: model_type wav2vec2 with a layer-norm front end,
GELU activations and no adapters, whose weights are safetensors or a pytorch_model.bin. Anything else (MMS adapters, group-norm front ends, HuBERT,
WavLM, ...) and every training or export run keeps transformers' class: never a silently
different computation.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

POSITION_WEIGHTS = {  # weight-normalised positional convolution, as checkpoints store it: (magnitude, direction)
    "parametrizations.weight.original0": "g", "parametrizations.weight.original1": "v", "weight_g": "g", "weight_v": "v",
}
UNUSED = ("wav2vec2.masked_spec_embed", "quantizer.", "project_hid.", "project_q.")  # training-only parameters


def applies(config: Any) -> bool:
    """True for a wav2vec2 CTC configuration this module computes exactly as transformers does."""
    return (
        getattr(config, "model_type", None) == "wav2vec2"
        and getattr(config, "feat_extract_norm", None) == "layer"
        and getattr(config, "feat_extract_activation", None) == "gelu"
        and getattr(config, "hidden_act", None) == "gelu"
        and getattr(config, "adapter_attn_dim", None) is None
        and not getattr(config, "add_adapter", False)
        and getattr(config, "vocab_size", None) is not None
    )


class LayerNormConvLayer(nn.Module):
    """One front-end layer: convolution, LayerNorm over channels, GELU (channels-first in, as transformers')."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, bias: bool) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size=kernel, stride=stride, bias=bias)
        self.layer_norm = nn.LayerNorm(out_channels)
        self.activation = nn.GELU()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.activation(self.layer_norm(self.conv(hidden).transpose(-2, -1)).transpose(-2, -1))


class FeatureEncoder(nn.Module):
    """The convolutional front end: samples -> (batch, channels, frames). fast_frontend.py replaces its forward."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        channels = [1, *config.conv_dim]
        self.conv_layers = nn.ModuleList(
            LayerNormConvLayer(channels[i], channels[i + 1], config.conv_kernel[i], config.conv_stride[i], config.conv_bias)
            for i in range(config.num_feat_extract_layers)
        )

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        hidden = samples[:, None]
        for layer in self.conv_layers:
            hidden = layer(hidden)
        return hidden


class FeatureProjection(nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(config.conv_dim[-1], eps=config.layer_norm_eps)
        self.projection = nn.Linear(config.conv_dim[-1], config.hidden_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.projection(self.layer_norm(features))


class PositionalConvEmbedding(nn.Module):
    """The positional convolution, its weight normalisation applied once at load time (inference only)."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        kernel = config.num_conv_pos_embeddings
        self.conv = nn.Conv1d(config.hidden_size, config.hidden_size, kernel_size=kernel, padding=kernel // 2,
                              groups=config.num_conv_pos_embedding_groups)
        self.remove = 1 if kernel % 2 == 0 else 0  # an even kernel gives one frame too many

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = self.conv(hidden.transpose(1, 2))
        if self.remove:
            out = out[:, :, : -self.remove]
        return F.gelu(out).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        size = config.hidden_size
        self.heads = config.num_attention_heads
        self.q_proj, self.k_proj = nn.Linear(size, size), nn.Linear(size, size)
        self.v_proj, self.out_proj = nn.Linear(size, size), nn.Linear(size, size)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, frames, size = hidden.shape
        shape = (batch, frames, self.heads, size // self.heads)
        q, k, v = (p(hidden).view(shape).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=(size // self.heads) ** -0.5)
        return self.out_proj(out.transpose(1, 2).reshape(batch, frames, size))


class FeedForward(nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        self.intermediate_dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.output_dense = nn.Linear(config.intermediate_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.output_dense(F.gelu(self.intermediate_dense(hidden)))


class EncoderLayer(nn.Module):
    """A transformer layer, its LayerNorms before (stable: XLSR) or after (wav2vec2 base) each block."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.stable = bool(config.do_stable_layer_norm)
        self.attention = Attention(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feed_forward = FeedForward(config)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if self.stable:
            hidden = hidden + self.attention(self.layer_norm(hidden), mask)
            return hidden + self.feed_forward(self.final_layer_norm(hidden))
        hidden = self.layer_norm(hidden + self.attention(hidden, mask))
        return self.final_layer_norm(hidden + self.feed_forward(hidden))


class Encoder(nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        self.stable = bool(config.do_stable_layer_norm)
        self.pos_conv_embed = PositionalConvEmbedding(config)
        self.layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        mask = None
        if valid is not None:
            hidden = hidden.masked_fill(~valid[..., None], 0)  # padded frames are zeros, as transformers makes them
            if not bool(valid.all()):
                mask = valid[:, None, None, :]  # attend to real frames only
        hidden = hidden + self.pos_conv_embed(hidden)
        if not self.stable:
            hidden = self.layer_norm(hidden)
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return self.layer_norm(hidden) if self.stable else hidden


class Wav2Vec2Model(nn.Module):
    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.feature_extractor = FeatureEncoder(config)
        self.feature_projection = FeatureProjection(config)
        self.encoder = Encoder(config)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames the front end makes of `lengths` samples."""
        for kernel, stride in zip(self.config.conv_kernel, self.config.conv_stride):
            lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
        return lengths

    def forward(self, samples: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        features = self.feature_extractor(samples).transpose(1, 2)
        valid = None
        if attention_mask is not None:
            lengths = self.output_lengths(attention_mask.sum(-1))
            valid = torch.arange(features.shape[1], device=features.device)[None, :] < lengths[:, None]
        return self.encoder(self.feature_projection(features), valid)


class CTCOutput:
    """What the backends read of a forward pass: `.logits`."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits


class Wav2Vec2ForCTC(nn.Module):
    """transformers' Wav2Vec2ForCTC for inference: same parameters, same logits; `network(values, attention_mask=)`."""

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self.wav2vec2 = Wav2Vec2Model(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size)

    @property
    def base_model(self) -> Wav2Vec2Model:
        return self.wav2vec2

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> CTCOutput:
        return CTCOutput(self.lm_head(self.wav2vec2(input_values, attention_mask)))


def from_state_dict(config: Any, state: dict[str, torch.Tensor]) -> tuple[Wav2Vec2ForCTC, list[str]]:
    """The network with the checkpoint's tensors as its parameters (no copy), and the parameters it lacks.

    The positional convolution's weight is computed from its stored magnitude and direction (in
    the dtype they were read in); training-only tensors are ignored; any other unknown name is an
    error, so a checkpoint that does not fit is never run with a part left at random. A base
    model's names (Wav2Vec2Model, no `wav2vec2.` prefix) are read as transformers reads them.
    """
    if not any(name.startswith("wav2vec2.") for name in state):  # a base model's checkpoint (no head): its names lack the prefix
        state = {f"wav2vec2.{name}": tensor for name, tensor in state.items()}
    state = {name: tensor for name, tensor in state.items() if not name.startswith(UNUSED)}
    prefix = "wav2vec2.encoder.pos_conv_embed.conv."
    parts = {POSITION_WEIGHTS[name[len(prefix):]]: state.pop(name)
             for name in list(state) if name.startswith(prefix) and name[len(prefix):] in POSITION_WEIGHTS}
    if set(parts) == {"g", "v"}:
        state[prefix + "weight"] = torch._weight_norm(parts["v"], parts["g"], 2)
    with torch.device("meta"):
        network = Wav2Vec2ForCTC(config)
    expected = dict(network.state_dict())
    unknown = sorted(set(state) - set(expected))
    if unknown:
        raise ValueError(f"unexpected weights {', '.join(unknown[:5])}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}, the config says {tuple(expected[name].shape)}")
    missing = sorted(set(expected) - set(state))
    network.load_state_dict(state, strict=False, assign=True)
    return network.eval(), missing


__all__ = ["Wav2Vec2ForCTC", "applies", "from_state_dict"]
