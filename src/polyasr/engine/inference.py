"""The one inference engine: inputs -> windows -> batched forward passes -> per-input reducers.

Every task that needs logits (transcription, alignment, language identification, evaluation, the
server) runs through `run_inference` with its own `FrameReducer`. Windows of one or several inputs
share batches. Each input is decoded twice: once to measure its level (mean and variance, so that
every window is normalised as one pass over the whole input would be), once to cut it into windows.
Each window's kept logits go straight to its input's reducer, which keeps only what
its task needs (a token and a probability per frame, a few columns of log-probabilities, ...), so
memory does not grow with the length of the audio beyond that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from itertools import groupby
from operator import itemgetter
from typing import Callable, Generic, Iterable, Iterator, Protocol, TypeVar

import numpy as np

from ..audio.decode import SAMPLE_RATE, stream_audio
from ..audio.levels import AudioStats, LevelMeter
from ..audio.repairs import SampleRepairs
from ..audio.sources import AudioInput, source_name
from ..model.buckets import plan_batches
from ..decoding.ctc import skipped_logits
from ..errors import OptionsError, PolyasrError, UnsupportedAudioError
from ..model.ctc_model import CTCModel
from ..audio.vad import SpeechDetector, merge_regions, region_blocks
from .windows import Window, WindowOptions, iter_windows

T = TypeVar("T")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)


# on_progress(source name, audio seconds done, audio seconds in the input), after each batch
ProgressCallback = Callable[[str, float, float], None]


class FrameReducer(Protocol[T_co]):
    """Consumes the kept logits of an input's windows (in any order) and summarises them."""

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        """Logits (frames x vocabulary, float32) of global frames first_frame, first_frame + 1, ..."""

    def finish(self, num_frames: int) -> T_co:
        """The summary, once all `num_frames` frames of the input were added."""


class PairReducer(Generic[T, U]):
    """Two reducers fed the same logits; finishes as the pair of their summaries."""

    def __init__(self, first: FrameReducer[T], second: FrameReducer[U]) -> None:
        self.first, self.second = first, second

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        self.first.add(first_frame, logits)
        self.second.add(first_frame, logits)

    def finish(self, num_frames: int) -> tuple[T, U]:
        return self.first.finish(num_frames), self.second.finish(num_frames)


@dataclass(frozen=True)
class BatchOptions:
    """How windows are grouped into forward passes."""

    batch_seconds: float = 160.0  # padded audio seconds per forward pass (batch size x padded window length)
    max_batch_size: int = 32  # windows per forward pass at most
    lookahead_batches: int = 4  # batches' worth of windows gathered before sorting them by length
    block_seconds: float = 30.0  # audio decoded at a time from each input

    def __post_init__(self) -> None:
        for name in ("batch_seconds", "block_seconds"):
            value = getattr(self, name)
            if not value > 0:
                raise OptionsError(f"{name} must be positive, not {value}")
        for name in ("max_batch_size", "lookahead_batches"):
            value = getattr(self, name)
            if value < 1:
                raise OptionsError(f"{name} must be at least 1, not {value}")


@dataclass(frozen=True)
class InputResult(Generic[T]):
    """The reducer's summary of one input, or the error that input raised."""

    source: str
    num_samples: int
    value: T | None
    error: PolyasrError | None
    warnings: tuple[str, ...] = ()  # what the user should know about this input (repaired samples)

    @property
    def duration(self) -> float:
        return self.num_samples / SAMPLE_RATE


@dataclass
class _Job(Generic[T]):
    source: str
    reducer: FrameReducer[T]
    level: tuple[float, float] | None = None  # (mean, variance) of the whole input
    num_samples: int = 0
    windows_total: int | None = None  # known once the input's windows are all produced
    windows_done: int = 0
    error: PolyasrError | None = None
    added: list[tuple[int, int]] = field(default_factory=list)  # (first frame, frames) handed to the reducer
    warnings: tuple[str, ...] = ()
    samples_done: int = 0  # audio the model has covered (with VAD, skipped silence counts as done)

    def finished(self) -> bool:
        return self.error is not None or self.windows_done == self.windows_total


def run_inference(
    model: CTCModel,
    sources: Iterable[AudioInput],
    make_reducer: Callable[[], FrameReducer[T]],
    windows: WindowOptions = WindowOptions(),
    batch: BatchOptions = BatchOptions(),
    sampling_rate: int | None = None,
    detector: SpeechDetector | None = None,
    on_progress: ProgressCallback | None = None,
) -> Iterator[InputResult[T]]:
    """Run the model over every input and yield each input's result in input order, lazily
    (`inference_steps` without its pass markers)."""
    steps = inference_steps(model, sources, make_reducer, windows, batch, sampling_rate, detector, on_progress)
    return (item for item in steps if item is not None)


def inference_steps(
    model: CTCModel,
    sources: Iterable[AudioInput],
    make_reducer: Callable[[], FrameReducer[T]],
    windows: WindowOptions = WindowOptions(),
    batch: BatchOptions = BatchOptions(),
    sampling_rate: int | None = None,
    detector: SpeechDetector | None = None,
    on_progress: ProgressCallback | None = None,
) -> Iterator[InputResult[T] | None]:
    """Run the model over every input and yield each input's result in input order, lazily; also
    yield None after every forward pass, so that a caller advancing it with `next()` gets control
    back once per pass (the server interleaves other work there) and can stop it with `close()`.

    `on_progress(source, seconds done, seconds total)` is called for an input once its length is
    known and after every batch that holds one of its windows (for a progress bar; it must not raise).

    With a speech `detector`, only speech regions are run through the model; the reducer gets the
    frames of the rest as `decoding.skipped_logits` (certain silence), the one definition of a
    skipped frame. An input that cannot be decoded (missing,
    corrupt, ...) yields its error; the others go on.
    """
    spf = model.samples_per_frame
    windows.sizes(spf)  # invalid window options fail now, not after decoding
    budget = int(batch.batch_seconds * SAMPLE_RATE) * batch.lookahead_batches
    jobs: list[_Job[T]] = []  # not yet yielded, in input order
    queued: list[tuple[_Job[T], Window]] = []
    queued_samples = 0

    def flush() -> Iterator[InputResult[T] | None]:
        nonlocal queued, queued_samples
        yield from _forward(model, [(j, w) for j, w in queued if j.error is None], batch, on_progress)
        queued, queued_samples = [], 0
        while jobs and jobs[0].finished():
            yield _result(model, jobs.pop(0))

    for source in sources:
        job: _Job[T] = _Job(source_name(source), make_reducer())
        jobs.append(job)
        try:
            source = rereadable(source)
            repairs = SampleRepairs()
            stats, regions = _first_pass(source, sampling_rate, batch.block_seconds, detector, spf, repairs)
        except PolyasrError as error:
            job.error = error
            continue
        job.warnings = tuple(w for w in [repairs.warning(job.source)] if w)
        job.level, job.num_samples = (stats.mean, stats.variance), stats.num_samples
        job.samples_done = 0 if regions is None else stats.num_samples - sum(end - start for start, end in regions)
        _report(job, on_progress)
        stream = _windows(stream_audio(source, sampling_rate, batch.block_seconds), regions, windows, spf)
        count = 0
        while True:
            try:
                window = next(stream, None)
            except PolyasrError as error:
                job.error = error
                break
            if window is None:
                job.windows_total = count
                break
            count += 1
            queued.append((job, window))
            queued_samples += len(window.samples)
            if queued_samples >= budget:
                yield from flush()
    yield from flush()


def _first_pass(
    source: AudioInput, sampling_rate: int | None, block_seconds: float, detector: SpeechDetector | None, spf: int,
    repairs: SampleRepairs,
) -> tuple[AudioStats, list[tuple[int, int]] | None]:
    """Decode once: the input's level, what was repaired and, with a detector, its speech regions
    (frame-aligned starts)."""
    meter = LevelMeter()
    found: list[tuple[int, int]] = []
    for block in stream_audio(source, sampling_rate, block_seconds, repairs):
        if detector is not None:
            found += [(meter.count + start, meter.count + end) for start, end in detector(block)]
        meter.add(block)
    if detector is None:
        return meter.stats(), None
    return meter.stats(), [(start // spf * spf, end) for start, end in merge_regions(found, min_gap=2 * spf)]


def _windows(
    blocks: Iterator[np.ndarray], regions: list[tuple[int, int]] | None, options: WindowOptions, spf: int
) -> Iterator[Window]:
    """Windows over the whole input, or over each speech region (shifted to its place in the input)."""
    if regions is None:
        yield from iter_windows(blocks, options, spf)
        return
    for index, pieces in groupby(region_blocks(blocks, regions), key=itemgetter(0)):
        offset = regions[index][0]
        for window in iter_windows((piece for _, piece in pieces), options, spf):
            yield replace(window, start_sample=window.start_sample + offset)


def _forward(
    model: CTCModel, queued: list[tuple[_Job[T], Window]], batch: BatchOptions, on_progress: ProgressCallback | None
) -> Iterator[None]:
    """Run queued windows in length-sorted batches and hand each its kept logits; None after each pass.

    A batch holds at most one forward pass of the model (`CTCModel.pass_samples`: 40 s of padded audio on a CPU),
    so a caller advancing the steps gets control back after every pass, not after a `batch_seconds`
    batch of several (the passes, and so the logits, are the same)."""
    max_samples = max(1, int(batch.batch_seconds * SAMPLE_RATE))
    if model.pass_samples is not None:
        max_samples = min(max_samples, model.pass_samples)
    lengths = [model.padded_length(len(w.samples)) for _, w in queued]
    for group in plan_batches(lengths, max_samples, batch.max_batch_size, min_fill=1.0):  # one length per pass
        outputs = model.iter_logits([queued[i][1].samples for i in group], [queued[i][0].level for i in group])
        for row, logits in outputs:  # each pass's logits go to the reducers before the next pass runs
            job, window = queued[group[row]]
            kept = logits[window.keep_start : window.keep_end]
            job.reducer.add(window.first_frame(model.samples_per_frame), kept)
            job.added.append((window.first_frame(model.samples_per_frame), len(kept)))
            job.windows_done += 1
            job.samples_done += len(kept) * model.samples_per_frame
            del logits, kept  # not held through the next pass
        for job in {id(queued[i][0]): queued[i][0] for i in group}.values():
            _report(job, on_progress)
        yield None


def _report(job: _Job, on_progress: ProgressCallback | None) -> None:
    if on_progress is not None:
        total = job.num_samples / SAMPLE_RATE
        done = total if job.finished() else min(job.samples_done / SAMPLE_RATE, total)
        on_progress(job.source, done, total)


def rereadable(source: AudioInput) -> AudioInput:
    """The input in a form that can be decoded twice (a file object is read into bytes)."""
    if isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview, np.ndarray)):
        return source
    if not hasattr(source, "read"):
        return source  # let the decoder name the problem
    try:
        return source.read()
    except (OSError, ValueError) as error:
        raise UnsupportedAudioError(f"<file object>: cannot be read ({error})") from error


def _result(model: CTCModel, job: _Job[T]) -> InputResult[T]:
    if job.error is not None:
        return InputResult(job.source, job.num_samples, None, job.error)
    num_frames = model.frames_for_samples(job.num_samples)
    _add_skipped_frames(model, job, num_frames)
    value = job.reducer.finish(num_frames)
    return InputResult(job.source, job.num_samples, value, None, job.warnings)


_SKIPPED_CHUNK_FRAMES = 500  # skipped frames handed over at a time (the vocabulary may have 10,000 classes)


def _add_skipped_frames(model: CTCModel, job: _Job, num_frames: int) -> None:
    """Hand the reducer every frame no window covered (VAD found no speech there) as skipped_logits."""
    if num_frames == 0:
        return
    covered = np.zeros(num_frames, dtype=bool)
    for first, count in job.added:
        covered[first : first + count] = True
    starts = np.flatnonzero(~covered & np.r_[True, covered[:-1]])
    ends = np.flatnonzero(~covered & np.r_[covered[1:], True]) + 1
    for start, end in zip(starts.tolist(), ends.tolist()):
        for first in range(start, end, _SKIPPED_CHUNK_FRAMES):
            count = min(_SKIPPED_CHUNK_FRAMES, end - first)
            job.reducer.add(first, skipped_logits(count, len(model.vocabulary), model.vocabulary.blank_id))
