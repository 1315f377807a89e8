"""Voice activity detection: which stretches of an input hold speech, so silence costs no model time.

Uses the Silero VAD model that ships inside the `silero-vad` wheel (no download; `pip install
polyasr[vad]`). Optional and off by default: the CTC model already marks pauses with blank frames,
so segments are cut at pauses without it; VAD pays off on recordings with long silences or noise
(meetings, lectures with breaks), where it skips them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Protocol

import numpy as np

from .decode import SAMPLE_RATE
from ..errors import OptionsError, PolyasrError


@dataclass(frozen=True)
class VadOptions:
    """Silero VAD settings (the names of its `get_speech_timestamps` parameters, in seconds)."""

    threshold: float = 0.5  # speech probability above which a 32 ms chunk counts as speech
    min_speech_seconds: float = 0.25  # shorter bursts are ignored
    min_silence_seconds: float = 0.5  # shorter silences do not split speech
    speech_pad_seconds: float = 0.2  # audio kept on each side of every speech region

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise OptionsError(f"threshold must lie between 0 and 1, not {self.threshold}")
        for name in ("min_speech_seconds", "min_silence_seconds", "speech_pad_seconds"):
            value = getattr(self, name)
            if not value >= 0:
                raise OptionsError(f"{name} must be 0 or more, not {value}")


class SpeechDetector(Protocol):
    """Finds speech in a block of 16 kHz samples; regions as (start, end) sample offsets in the block."""

    def __call__(self, block: np.ndarray) -> list[tuple[int, int]]: ...


class SileroDetector:
    """A SpeechDetector backed by Silero VAD.

    Silero's model keeps state between the chunks of one call, so calls are serialised by a lock:
    one detector may be shared between threads (they take turns; VAD is cheap next to the model).
    """

    def __init__(self, options: VadOptions = VadOptions()) -> None:
        try:
            from silero_vad import get_speech_timestamps, load_silero_vad
        except ImportError as error:
            raise PolyasrError("voice activity detection needs the silero-vad package: pip install 'polyasr[vad]'") from error
        self.options = options
        self._model: Any = load_silero_vad()
        self._detect = get_speech_timestamps
        self._lock = threading.Lock()

    def __call__(self, block: np.ndarray) -> list[tuple[int, int]]:
        import torch

        o = self.options
        with self._lock:
            found = self._detect(
                torch.from_numpy(np.ascontiguousarray(block, dtype=np.float32)), self._model,
                threshold=o.threshold, sampling_rate=SAMPLE_RATE,
                min_speech_duration_ms=int(o.min_speech_seconds * 1000),
                min_silence_duration_ms=int(o.min_silence_seconds * 1000),
                speech_pad_ms=int(o.speech_pad_seconds * 1000),
            )
        return [(int(r["start"]), int(r["end"])) for r in found]


def merge_regions(regions: Iterable[tuple[int, int]], min_gap: int) -> list[tuple[int, int]]:
    """Sorted regions with those closer than `min_gap` samples (e.g. split by a block edge) joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(regions):
        if merged and start - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def region_blocks(
    blocks: Iterable[np.ndarray], regions: list[tuple[int, int]]
) -> Iterator[tuple[int, np.ndarray]]:
    """The samples of each region, as (region index, piece) in order, read from consecutive blocks."""
    position = 0
    index = 0
    for block in blocks:
        end = position + len(block)
        while index < len(regions) and regions[index][0] < end:
            start, stop = regions[index]
            piece = block[max(start, position) - position : min(stop, end) - position]
            if len(piece):
                yield index, piece
            if stop <= end:
                index += 1
            else:
                break
        position = end
