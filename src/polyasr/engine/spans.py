"""Running the model over chosen spans of one input only, through the one inference engine.

The input is decoded once, block by block; the samples of each span (overlapping or nearby spans
merged into one region) become one input of `run_inference`, so the regions share batches and
each is normalised as the utterance it is. Audio outside the spans is decoded but never reaches
the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Callable, Generic, Iterator, Sequence, TypeVar

import numpy as np

from ..audio.decode import SAMPLE_RATE, stream_audio
from ..audio.repairs import SampleRepairs
from ..audio.sources import AudioInput, source_name
from .inference import BatchOptions, FrameReducer, ProgressCallback, run_inference
from ..model.ctc_model import CTCModel
from ..audio.vad import SpeechDetector, merge_regions, region_blocks
from .windows import WindowOptions

T = TypeVar("T")


@dataclass(frozen=True)
class SpanResults(Generic[T]):
    """Each region's reducer summary with the global frame it starts at, and the input's length."""

    starts: tuple[int, ...]  # first global frame of each region, increasing
    values: tuple[T, ...]  # the reducer's summary of each region
    num_samples: int  # samples of the whole input at 16 kHz
    warnings: tuple[str, ...] = ()  # what the user should know about the input (repaired samples)


def run_over_spans(
    model: CTCModel,
    audio: AudioInput,
    spans: Sequence[tuple[int, int]],
    make_reducer: Callable[[], FrameReducer[T]],
    windows: WindowOptions = WindowOptions(),
    batch: BatchOptions = BatchOptions(),
    sampling_rate: int | None = None,
    merge_gap_frames: int = 50,
    detector: SpeechDetector | None = None,
    on_progress: ProgressCallback | None = None,
) -> SpanResults[T]:
    """Run the model over the frame spans [start, end) of `audio` only (ends may lie past the audio's end).

    Spans closer than `merge_gap_frames` are merged into one region. Audio errors are raised.
    With a `detector`, the model runs on the speech inside each region only (as with --vad).
    `on_progress(source, seconds done, seconds total)` follows each region.
    """
    name = source_name(audio)
    repairs = SampleRepairs()
    spf = model.samples_per_frame
    regions = merge_regions([(a * spf, b * spf) for a, b in spans if b > a], min_gap=max(1, merge_gap_frames * spf))
    found: list[int] = []  # index of each region that has samples, in the order they are yielded
    total = [0]

    def blocks() -> Iterator[np.ndarray]:
        for block in stream_audio(audio, sampling_rate, batch.block_seconds, repairs):
            total[0] += len(block)
            yield block

    def pieces() -> Iterator[np.ndarray]:
        for index, parts in groupby(region_blocks(blocks(), regions), key=itemgetter(0)):
            found.append(index)
            yield np.concatenate([piece for _, piece in parts])

    values: list[T] = []
    progress = None if on_progress is None else lambda _, done, total: on_progress(name, done, total)
    for item in run_inference(model, pieces(), make_reducer, windows, batch, SAMPLE_RATE, detector, progress):
        if item.error is not None:
            raise item.error
        assert item.value is not None
        values.append(item.value)
    warning = repairs.warning(name)
    return SpanResults(tuple(regions[i][0] // spf for i in found), tuple(values), total[0], (warning,) if warning else ())
