"""Resampling to the model's 16 kHz with soxr: a whole array at once, or a stream block by block.

`resample` converts one array (files and numpy inputs, through audio.decode); `StreamResampler`
converts a stream that arrives in blocks of any size (live PCM over the WebSocket, the microphone
of `polyasr listen`). Both use the same soxr quality, `SOXR_QUALITY`.
"""

from __future__ import annotations

import numpy as np
import soxr

__all__ = ["MAX_SAMPLE_RATE", "MIN_SAMPLE_RATE", "SAMPLE_RATE", "SOXR_QUALITY", "StreamResampler", "resample"]

SAMPLE_RATE: int = 16_000  # the rate every input is resampled to (the model's)
SOXR_QUALITY = "HQ"  # soxr's high quality (the one-shot and the streaming resampler alike)
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8_000, 192_000  # rates a StreamResampler accepts


def resample(samples: np.ndarray, orig_sr: int, target_sr: int = SAMPLE_RATE) -> np.ndarray:
    """Resample float samples (1-D, or 2-D as (frames, channels)) from `orig_sr` to `target_sr` (soxr HQ).

    Returns float32; when the rates are equal the samples are returned as float32 unchanged.
    """
    if int(orig_sr) != orig_sr or orig_sr <= 0 or int(target_sr) != target_sr or target_sr <= 0:
        raise ValueError(f"sample rates must be positive integers, got {orig_sr!r} -> {target_sr!r}")
    x = np.asarray(samples, dtype=np.float32)
    if orig_sr == target_sr or x.size == 0:
        return x
    return soxr.resample(x, int(orig_sr), int(target_sr), quality=SOXR_QUALITY).astype(np.float32, copy=False)


class StreamResampler:
    """Mono float32 blocks at `sample_rate` -> 16 kHz, block by block (soxr's streaming resampler).

    NaN and infinite samples become 0 and +-1 before resampling (the filter would spread them).
    """

    def __init__(self, sample_rate: int) -> None:
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise ValueError(f"unsupported sample rate {sample_rate}; use {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz")
        self.sample_rate = sample_rate
        self._stream = (
            None if sample_rate == SAMPLE_RATE else soxr.ResampleStream(sample_rate, SAMPLE_RATE, 1, "float32", SOXR_QUALITY)
        )

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """The 16 kHz samples this block completes (the filter holds a few back until `flush`)."""
        x = np.nan_to_num(np.asarray(samples, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
        return x if self._stream is None else self._stream.resample_chunk(x)

    def flush(self) -> np.ndarray:
        """The last samples held back by the filter, at the end of the stream."""
        if self._stream is None:
            return np.zeros(0, np.float32)
        return self._stream.resample_chunk(np.zeros(0, np.float32), last=True)
