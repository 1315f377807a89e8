"""The level of a whole input (sample count, mean, variance), measured block by block, for
normalising it window by window: :class:`AudioStats`, :class:`LevelMeter`, :func:`measure_audio`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .decode import stream_audio
from .sources import AudioInput

__all__ = ["AudioStats", "LevelMeter", "measure_audio"]


@dataclass(frozen=True)
class AudioStats:
    """Length and level of a whole input at 16 kHz, for normalising it window by window."""

    num_samples: int
    mean: float
    variance: float


class LevelMeter:
    """Accumulates AudioStats over consecutive blocks (float64 sums)."""

    def __init__(self) -> None:
        self.count, self.total, self.squares = 0, 0.0, 0.0

    def add(self, block: np.ndarray) -> None:
        values = block.astype(np.float64)
        self.count += values.size
        self.total += float(values.sum())
        self.squares += float(np.square(values).sum())

    def stats(self) -> AudioStats:
        mean = self.total / max(1, self.count)
        return AudioStats(self.count, mean, max(0.0, self.squares / max(1, self.count) - mean * mean))


def measure_audio(source: AudioInput, sampling_rate: int | None = None, block_seconds: float = 30.0) -> AudioStats:
    """Decode the input once, keeping only its sample count, mean and variance."""
    meter = LevelMeter()
    for block in stream_audio(source, sampling_rate, block_seconds):
        meter.add(block)
    return meter.stats()
