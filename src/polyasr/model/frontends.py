"""What a model takes as input, and how many CTC frames it makes of a number of samples.

Two kinds of front end, decided by the model's feature extractor and config:

- **raw audio** (wav2vec2, HuBERT, WavLM, ..., omniASR): 16 kHz samples through a stack of strided
  convolutions (`conv_kernel`, `conv_stride` of the config, or of its `audio_config` for omniASR);
  320 samples (20 ms) per frame.
- **log-mel** (Parakeet-CTC, LASR-CTC, w2v-BERT 2.0): the model's own feature extractor computes
  log-mel features of each window, then the encoder subsamples them: Parakeet 160-sample hop x 8
  (80 ms), LASR 160 x 4 (40 ms), w2v-BERT 160 x 2 stacked frames (20 ms; x the adapter's stride
  when the checkpoint has one).

Either way the geometry is a chain of 1-D stages (kernel, stride, total padding), each
`out = (in + padding - kernel) // stride + 1`, read from the config and checked in the tests
against the network's own output lengths. Windows (engine/windows.py) are cut at multiples of
`samples_per_frame`, so a window's local frame i is global frame start / samples_per_frame + i.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelLoadError

RAW_AUDIO = "raw audio"
LOG_MEL = "log-mel"
MAX_SEARCH_SAMPLES = 1 << 20  # min_samples is searched below this many samples


@dataclass(frozen=True)
class Stage:
    """One length-changing step between samples and CTC frames."""

    kernel: int  # samples (or frames) one output looks at
    stride: int  # samples (or frames) between outputs
    padding: int = 0  # total padding added to the input (both sides together)

    def out(self, length: int) -> int:
        """Outputs for `length` inputs; 0 when the input is shorter than the (padded) kernel."""
        if length + self.padding < self.kernel:
            return 0
        return (length + self.padding - self.kernel) // self.stride + 1


@dataclass(frozen=True)
class FrontEnd:
    """A model's input and frame geometry."""

    kind: str  # RAW_AUDIO or LOG_MEL
    stages: tuple[Stage, ...]  # samples -> CTC frames
    min_frames: int = 1  # fewest frames the network takes (SEW pools frames in groups of squeeze_factor)
    extractor_per_window: bool = False  # the model's feature extractor prepares each window (else CTCModel.normalize)

    @property
    def samples_per_frame(self) -> int:
        """Samples between CTC frames: the product of the strides (320 for wav2vec2, 1280 for Parakeet)."""
        return int(math.prod(stage.stride for stage in self.stages))

    def frames_for_samples(self, num_samples: int) -> int:
        """CTC frames the network emits for `num_samples` samples (inputs are padded up to `min_samples`)."""
        length = max(num_samples, self.min_samples)
        for stage in self.stages:
            length = stage.out(length)
        return length

    @property
    def min_samples(self) -> int:
        """Shortest input that gives `min_frames` frames (400 samples for wav2vec2)."""
        low, high = 1, MAX_SEARCH_SAMPLES
        while low < high:
            middle = (low + high) // 2
            if self._frames(middle) >= self.min_frames:
                high = middle
            else:
                low = middle + 1
        return low

    def _frames(self, length: int) -> int:
        for stage in self.stages:
            length = stage.out(length)
        return length

    def inputs(self, samples: np.ndarray, feature_extractor: Any) -> dict[str, np.ndarray]:
        """The network's keyword inputs for one window, made by the model's own feature extractor."""
        padded = samples if len(samples) >= self.min_samples else np.pad(samples, (0, self.min_samples - len(samples)))
        prepared = feature_extractor(padded, sampling_rate=feature_extractor.sampling_rate, return_tensors="pt")
        return {name: value.numpy() for name, value in prepared.items()}  # omniASR's extractor only returns torch tensors


def front_end_for(config: Any, feature_extractor: Any, name: str) -> FrontEnd:
    """The front end of a model from its config and feature extractor; ModelLoadError when unknown."""
    kind = getattr(config, "model_type", "?")
    audio = getattr(config, "audio_config", None)
    if hasattr(config, "conv_stride") or hasattr(audio, "conv_stride"):
        convolutions = config if hasattr(config, "conv_stride") else audio
        stages = tuple(Stage(int(k), int(s)) for k, s in zip(convolutions.conv_kernel, convolutions.conv_stride))
        squeeze = max(1, int(getattr(config, "squeeze_factor", 1) or 1))
        return FrontEnd(RAW_AUDIO, stages, squeeze, extractor_per_window=audio is not None)
    given = (getattr(feature_extractor, "model_input_names", None) or ["?"])[0]
    if given != "input_features":
        raise ModelLoadError(
            f"model '{name}' is a {kind} CTC model that takes log-mel features, but its feature extractor "
            f"({type(feature_extractor).__name__}) gives {given}; save the model's own processor with it"
        )
    hop = int(getattr(feature_extractor, "hop_length", 160) or 160)
    if kind == "parakeet_ctc":
        encoder = config.encoder_config
        n_fft = int(feature_extractor.n_fft)
        k, s = int(encoder.subsampling_conv_kernel_size), int(encoder.subsampling_conv_stride)
        layers = int(math.log2(encoder.subsampling_factor))
        return FrontEnd(LOG_MEL, (Stage(n_fft, hop, 2 * (n_fft // 2)),) + (Stage(k, s, 2 * ((k - 1) // 2)),) * layers,
                        extractor_per_window=True)
    if kind == "lasr_ctc":
        encoder = config.encoder_config
        k, s = int(encoder.subsampling_conv_kernel_size), int(encoder.subsampling_conv_stride)
        return FrontEnd(LOG_MEL, (Stage(int(feature_extractor.win_length), hop), Stage(k, s), Stage(k, s)),
                        extractor_per_window=True)
    if kind == "wav2vec2-bert":
        stack = int(getattr(feature_extractor, "stride", 1) or 1)
        stages = [Stage(400, 160), Stage(stack, stack, stack - 1)]  # SeamlessM4T: 25 ms frames, 10 ms hop, stacked
        if getattr(config, "add_adapter", False):
            k, s = int(config.adapter_kernel_size), int(config.adapter_stride)
            stages += [Stage(k, s, 2 * (k // 2))] * int(config.num_adapter_layers)
        return FrontEnd(LOG_MEL, tuple(stages), extractor_per_window=True)
    raise ModelLoadError(f"model '{name}' is a {kind} CTC model whose input front end polyasr does not know; "
                         "it runs raw-audio models (wav2vec2 family, omniASR) and Parakeet, LASR and w2v-BERT CTC models")


__all__ = ["FrontEnd", "LOG_MEL", "RAW_AUDIO", "Stage", "front_end_for"]
