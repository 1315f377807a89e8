"""What the model worker does next: the batcher's queues and scheduling policy, apart from its thread.

The worker does one step at a time: a live stream's call, a request's call, or one step of a
*run* (a group of transcription jobs sharing one `Recognizer.transcribe_steps` call): one forward
pass, or one finished input's result. The rules:

* Streams and requests take turns: one stream call after a request's call or a run's start, and
  after a run's step every stream call waiting then, so a stream's update waits at most one pass
  whatever uploads run.
* Among requests, the least audio left goes first (shortest remaining first) across waiting jobs,
  waiting calls (the audio they state) and runs in progress (audio not yet passed); ties go in
  arrival order, a run in progress first. A short request arriving while long uploads run waits
  for one forward pass; long uploads run one after the other, the shortest first. A long upload
  can wait while shorter work keeps coming; its request deadline bounds that (408).
* A job of at most one forward pass of audio (`short_seconds`) may share a run with other short
  jobs (at most `max_batch`, `group_seconds` together: the engine's lookahead, so every result of
  the group comes after the same passes); a longer job runs alone, so no result waits for another
  request's passes.
* At most `MAX_LONG_RUNS` long runs are in progress at once (a run holds up to the engine's
  lookahead of windows while it waits its turn); another long job waits, short jobs never do.

Not thread-safe: the batcher calls it under its lock.
"""

from __future__ import annotations

import itertools
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Union

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..decoding.options import Hotword
from ..language.choice import LanguageChoice

MAX_LONG_RUNS = 4  # long runs in progress at once at most


@dataclass(eq=False)  # compared by identity (a queue holds each once; audio arrays do not compare)
class Job:
    """One transcription: 16 kHz mono samples and how to decode them."""

    audio: np.ndarray
    language: LanguageChoice
    word_timestamps: bool
    hotwords: tuple[Hotword, ...] = ()  # from the request's prompt: decoded by beam search with these
    on_text: Callable[[str], None] | None = None  # called with the text so far as windows finish (greedy only)
    future: Future = field(default_factory=Future)
    arrival: int = 0

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def key(self) -> tuple[LanguageChoice, bool, tuple[Hotword, ...]]:
        """Jobs with the same key can share a run."""
        return self.language, self.word_timestamps, self.hotwords


@dataclass(eq=False)
class Call:
    """Any callable to run on the worker thread."""

    fn: Callable[[], Any]
    seconds: float = 0.0  # audio the callable holds (counted against max_queued_audio_seconds)
    stream: bool = False  # a live stream's model pass (the stream queue)
    future: Future = field(default_factory=Future)
    arrival: int = 0


@dataclass(eq=False)
class Run:
    """Jobs sharing one transcribe_steps call, advanced one step at a time; `done` results handed out."""

    jobs: list[Job]
    steps: Iterator[Any]
    long: bool
    arrival: int
    done: int = 0  # outcomes handed to jobs[:done]
    seconds_passed: float = 0.0  # audio the model has covered (reported by the engine; long runs only)

    @property
    def remaining(self) -> float:
        return max(sum(job.seconds for job in self.jobs[self.done:]) - self.seconds_passed, 0.0)


Request = Union[Job, Call]
STREAM, CALL, START, STEP = "stream", "call", "start", "step"  # what a Choice asks the worker to do


@dataclass(frozen=True)
class Choice:
    kind: str  # STREAM or CALL: `call`; START: `jobs` (one group, to start as a run); STEP: `run`
    call: Call | None = None
    jobs: tuple[Job, ...] = ()
    run: Run | None = None


class Schedule:
    """The waiting requests and stream calls, the runs in progress, and which goes next."""

    def __init__(self, max_batch: int, short_seconds: float, group_seconds: float) -> None:
        self.max_batch, self.short_seconds, self.group_seconds = max_batch, short_seconds, group_seconds
        self.waiting: list[Request] = []  # requests not started, in arrival order
        self.streams: deque[Call] = deque()  # live streams' calls, in arrival order
        self.runs: list[Run] = []  # started and not finished
        self._stream_credit = 0  # stream calls that may run before the next request step
        self._after_pass = False  # a run's step was the last request step
        self._arrivals = itertools.count()

    def add(self, item: Request) -> None:
        item.arrival = next(self._arrivals)
        (self.streams if isinstance(item, Call) and item.stream else self.waiting).append(item)

    def new_run(self, jobs: list[Job], steps: Iterator[Any]) -> Run:
        run = Run(jobs, steps, self.is_long(jobs[0]), next(self._arrivals))
        self.runs.append(run)
        return run

    def is_long(self, job: Job) -> bool:
        return job.seconds > self.short_seconds

    @property
    def idle(self) -> bool:
        return not (self.waiting or self.streams or self.runs)

    def pick(self) -> Choice | None:
        """The next step; None when there is nothing to do. A START's first job leaves `waiting`; the
        worker may `gather` more jobs for its group."""
        requests = self._eligible()
        if self._after_pass:  # every stream call waiting at the end of a run's step goes before the next one
            self._stream_credit, self._after_pass = len(self.streams), False
        if self.streams and (self._stream_credit > 0 or (not requests and not self.runs)):
            self._stream_credit -= 1
            return Choice(STREAM, call=self.streams.popleft())
        run = min(self.runs, key=lambda r: (r.remaining, r.arrival), default=None)
        item = min(requests, key=lambda i: (i.seconds, i.arrival), default=None)
        if run is not None and (item is None or run.remaining <= item.seconds):
            self._after_pass = True
            return Choice(STEP, run=run)
        if item is None:
            return None
        self._stream_credit = 1
        self.waiting.remove(item)
        if isinstance(item, Call):
            return Choice(CALL, call=item)
        return Choice(START, jobs=(item,))

    def gather(self, first: Job, group: list[Job]) -> bool:
        """Add to `group` (which starts with `first`) the next waiting short job that fits; False if none does."""
        if self.is_long(first) or len(group) >= self.max_batch:
            return False
        total = sum(job.seconds for job in group)
        fits = [j for j in self.waiting if isinstance(j, Job) and not self.is_long(j) and total + j.seconds <= self.group_seconds]
        if not fits:
            return False
        job = min(fits, key=lambda j: (j.seconds, j.arrival))
        self.waiting.remove(job)
        group.append(job)
        return True

    def full_group(self, group: list[Job]) -> bool:
        """True when `group` can take no more jobs (a long job, `max_batch` jobs)."""
        return self.is_long(group[0]) or len(group) >= self.max_batch

    def _eligible(self) -> list[Request]:
        """Waiting requests that may start now (a long job only while fewer than MAX_LONG_RUNS are in progress)."""
        if sum(run.long for run in self.runs) < MAX_LONG_RUNS:
            return self.waiting
        return [item for item in self.waiting if not (isinstance(item, Job) and self.is_long(item))]

    def drain(self) -> list[Request]:
        """Everything waiting (requests and stream calls), removed; runs in progress stay."""
        pending: list[Request] = [*self.waiting, *self.streams]
        self.waiting, self.streams = [], deque()
        return pending
