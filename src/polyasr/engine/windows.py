"""Cutting a stream of 16 kHz samples into overlapping model windows whose centres tile the file.

Window k starts at k x step samples and is `window` samples long; the model's logits for its first
and last `context` samples are dropped (except at the file's two ends), so each kept frame saw at
least `context` of audio on both sides. All sizes are multiples of the model's frame stride (320
samples), so a window's local frame i is exactly global frame start/320 + i and the kept frames of
consecutive windows meet without gap or overlap. Away from window edges the stitched frames equal
a single pass over the whole file; memory holds one window plus one decoded block, whatever the
file's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from ..errors import OptionsError
from ..audio.decode import SAMPLE_RATE


@dataclass(frozen=True)
class WindowOptions:
    """How long audio is split for the model."""

    # 15 s / 1.5 s, not 30 s / 3 s: a 60 s file cost 1.07x a 15 s clip per second instead of 1.24x,
    # same proxy CER (docs/speed.md, "Window length")
    window_seconds: float = 15.0  # audio per forward pass; attention cost grows with its square
    context_seconds: float = 1.5  # overlap on each side whose logits are discarded

    def __post_init__(self) -> None:
        if not self.window_seconds > 0:
            raise OptionsError(f"window_seconds must be positive, not {self.window_seconds}")
        if not self.context_seconds >= 0:
            raise OptionsError(f"context_seconds must be 0 or more, not {self.context_seconds}")
        if not self.window_seconds > 2 * self.context_seconds:
            raise OptionsError(
                f"window_seconds ({self.window_seconds}) must exceed twice context_seconds ({self.context_seconds})"
            )

    def sizes(self, samples_per_frame: int) -> tuple[int, int, int]:
        """(window, context, step) in samples, rounded down to whole frames.

        OptionsError when rounding to frames leaves no step (a window only a frame or two longer
        than its two contexts)."""
        window = int(self.window_seconds * SAMPLE_RATE) // samples_per_frame * samples_per_frame
        context = int(self.context_seconds * SAMPLE_RATE) // samples_per_frame * samples_per_frame
        step = window - 2 * context
        if step <= 0:
            raise OptionsError(
                f"window_seconds ({self.window_seconds}) must exceed twice context_seconds ({self.context_seconds}) "
                f"by at least one frame ({samples_per_frame} samples)"
            )
        return window, context, step


@dataclass(frozen=True)
class Window:
    """A slice of one file for the model, with the frames of its output to keep."""

    index: int  # 0, 1, ... within the file
    start_sample: int  # position of samples[0] in the file
    samples: np.ndarray
    keep_start: int  # first local frame kept
    keep_end: int | None  # local frame after the last one kept; None: to the end of the output
    is_last: bool

    def first_frame(self, samples_per_frame: int) -> int:
        """Global index of the first kept frame."""
        return self.start_sample // samples_per_frame + self.keep_start


def iter_windows(blocks: Iterable[np.ndarray], options: WindowOptions, samples_per_frame: int) -> Iterator[Window]:
    """Windows over consecutive sample blocks (e.g. from `stream_audio`), emitted as soon as known.

    A window is known not to be the last once a sample beyond its end has arrived.
    """
    window, context, step = options.sizes(samples_per_frame)
    keep_to = (context + step) // samples_per_frame
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0  # file position of buffer[0]; always the start of the next window
    index = 0
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while len(buffer) > window:
            keep_start = 0 if index == 0 else context // samples_per_frame
            yield Window(index, buffer_start, buffer[:window].copy(), keep_start, keep_to, is_last=False)
            buffer, buffer_start, index = buffer[step:], buffer_start + step, index + 1
    if len(buffer) or index == 0:
        keep_start = 0 if index == 0 else context // samples_per_frame
        yield Window(index, buffer_start, buffer, keep_start, None, is_last=True)
