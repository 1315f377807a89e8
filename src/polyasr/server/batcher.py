"""One worker thread runs all model work of a server process; requests that arrive together share passes.

    batcher = Batcher(recognizer, BatcherOptions(queue_size=64, max_batch=8, batch_wait_ms=10))
    batcher.start()
    result = await batcher.transcribe(samples, language="de", word_timestamps=False)   # 16 kHz mono
    ranked = await batcher.run(lambda: recognizer.detect_language(samples, sampling_rate=16_000), audio_seconds=3.0)
    events = await batcher.run(lambda: session.feed(chunk), stream=True)   # a live stream's model pass
    batcher.stop()

Design:

* Requests (transcription jobs and calls) wait in one bounded FIFO queue: `queue_size` items
  waiting (the one running is not counted), and `max_queued_audio_seconds` of audio held by the
  items waiting and running. Past either, :class:`QueueFullError` is raised at once (the server
  answers 503 with Retry-After) instead of letting latency or memory grow without bound. An item
  alone longer than the audio budget is still taken when nothing else is held, so it can run.
* Live streams' model passes (``stream=True``) wait in a second queue (also at most `queue_size`).
  When both queues hold work the worker alternates between them, so a stream delays a waiting
  request by at most the one stream call running when it arrived; the streaming route keeps each
  call to one model pass. Streams take turns among themselves in FIFO order. While a batch of
  requests runs, the streams' waiting passes also run between its forward passes (the engine's
  progress callback), so a stream's update waits at most one pass whatever uploads run.
* The worker thread takes the first item. If it is a transcription job, it keeps taking the
  transcription jobs queued right behind it, up to `max_batch`, waiting at most `batch_wait_ms`
  for more to arrive. The jobs are grouped by (language, word_timestamps, hotwords) and each group runs
  through ONE ``recognizer.transcribe_iter(arrays, language, word_timestamps, sampling_rate=16000)``
  call, whose windows share forward passes; results go back in input order, each to its own future.
* ``await batcher.run(fn)`` (or ``batcher.submit(fn)`` from a thread) runs any callable on the
  worker thread, serially with everything else, and returns its result (or raises its exception).
  Language detection uses it (stating the seconds of audio it holds). Keep calls short: the
  worker does nothing else while one runs.
* Futures are ``concurrent.futures.Future``; the async methods wrap them with
  ``asyncio.wrap_future``. Cancelling a waiting job (e.g. ``asyncio.wait_for`` timing out) removes it:
  the worker skips cancelled futures. A job already running finishes and its result is dropped.
* Audio is decoded by the caller (the request handler, in a thread pool), never on the worker, so
  decoding of new uploads overlaps inference.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, Callable, TypeVar, Union

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..decoding.options import BEAM, DecoderOptions, Hotword
from ..results import Transcription
from ..language.choice import LanguageChoice
from ..options import TranscribeOptions
from ..recognizer import Recognizer
from .options import BatcherOptions  # defined with the server's other options; re-exported here

T = TypeVar("T")
logger = logging.getLogger("polyasr.server")


class QueueFullError(RuntimeError):
    """The batcher's queue holds `queue_size` items already; try again later."""


class BatcherClosedError(RuntimeError):
    """The batcher was stopped (the server is shutting down)."""


@dataclass
class _Job:
    """One transcription: 16 kHz mono samples and how to decode them."""

    audio: np.ndarray
    language: LanguageChoice
    word_timestamps: bool
    hotwords: tuple[Hotword, ...] = ()  # from the request's prompt: decoded by beam search with these
    future: Future = field(default_factory=Future)

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class _Call:
    """Any callable to run on the worker thread."""

    fn: Callable[[], Any]
    seconds: float = 0.0  # audio the callable holds (counted against max_queued_audio_seconds)
    stream: bool = False  # a live stream's model pass (the stream queue)
    future: Future = field(default_factory=Future)


_Item = Union[_Job, _Call]


@dataclass(frozen=True)
class BatcherStats:
    """Counters since the batcher was created (a snapshot)."""

    jobs: int  # transcription jobs completed (with a result or an error)
    model_calls: int  # transcribe_iter calls made for them
    calls: int  # callables run through `run` / `submit`
    cancelled: int  # items skipped because their future was cancelled while waiting
    largest_group: int  # most jobs that shared one transcribe_iter call
    recent_groups: tuple[int, ...]  # sizes of the last groups (at most 256)
    queue_length: int  # items waiting now
    queued_audio_seconds: float  # audio of the items waiting and running now
    busy_seconds: float = 0.0  # time the worker spent running items
    audio_seconds_done: float = 0.0  # audio of the requests it finished (streams' passes not counted)
    running_seconds: float = 0.0  # how long the item running now has been running (0: idle)
    alive: bool = False  # the worker thread is running

    def expected_wait(self) -> float | None:
        """Seconds until the audio queued now is done, at the speed measured so far; None before any measurement."""
        if self.audio_seconds_done <= 0 or self.busy_seconds <= 0:
            return None
        return self.queued_audio_seconds * self.busy_seconds / self.audio_seconds_done


class Batcher:
    """Runs transcription jobs in shared batches, and any other model work, on one worker thread."""

    def __init__(self, recognizer: Recognizer, options: BatcherOptions = BatcherOptions()) -> None:
        self.recognizer = recognizer
        self.options = options
        self._items: deque[_Item] = deque()  # requests
        self._streams: deque[_Call] = deque()  # live streams' model passes
        self._held_seconds = 0.0  # audio of the requests waiting and running
        self._stream_turn = False  # when both queues hold work, whose turn it is
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._jobs = self._model_calls = self._calls = self._cancelled = self._largest = 0
        self._groups: deque[int] = deque(maxlen=256)
        self._busy = self._audio_done = 0.0
        self._running_since: float | None = None  # time.monotonic() when the running item began

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the worker thread (done on first use too); idempotent."""
        with self._cond:
            if self._closed:
                raise BatcherClosedError("the batcher was stopped")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="polyasr-model-worker", daemon=True)
                self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Refuse new work, fail what is still queued, and wait for the running item to finish."""
        with self._cond:
            self._closed = True
            pending: list[_Item] = [*self._items, *self._streams]
            self._items, self._streams = deque(), deque()
            self._cond.notify_all()
        for item in pending:
            if item.future.set_running_or_notify_cancel():
                item.future.set_exception(BatcherClosedError("the server is shutting down"))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def queue_length(self) -> int:
        """Items waiting for the worker (not counting the one running)."""
        with self._cond:
            return len(self._items)

    def stats(self) -> BatcherStats:
        with self._cond:
            running = 0.0 if self._running_since is None else time.monotonic() - self._running_since
            return BatcherStats(self._jobs, self._model_calls, self._calls, self._cancelled, self._largest,
                                tuple(self._groups), len(self._items), self._held_seconds, self._busy, self._audio_done,
                                running, self._thread is not None and self._thread.is_alive() and not self._closed)

    # ------------------------------------------------------------------ submitting

    def _put(self, item: _Item) -> Future:
        if self._thread is None:
            self.start()
        with self._cond:
            if self._closed:
                raise BatcherClosedError("the server is shutting down")
            stream = isinstance(item, _Call) and item.stream
            queue = self._streams if stream else self._items
            if len(queue) >= self.options.queue_size:
                raise QueueFullError(f"the queue is full ({self.options.queue_size} {'stream updates' if stream else 'requests'} waiting)")
            seconds = 0.0 if stream else item.seconds
            limit = self.options.max_queued_audio_seconds
            if seconds and self._held_seconds and self._held_seconds + seconds > limit:
                raise QueueFullError(f"{self._held_seconds:.0f} s of audio are queued; {seconds:.0f} s more would pass "
                                     f"the limit of {limit:g} s")
            self._held_seconds += seconds
            queue.append(item)
            self._cond.notify_all()
        return item.future

    def submit_transcription(
        self, audio: np.ndarray, language: LanguageChoice, word_timestamps: bool = False,
        hotwords: tuple[Hotword, ...] = (),
    ) -> Future:
        """Queue 16 kHz mono float32 `audio`; the future gives its Transcription or raises its error."""
        return self._put(_Job(np.asarray(audio, dtype=np.float32), language, word_timestamps, hotwords))

    def submit(self, fn: Callable[[], T], audio_seconds: float = 0.0, stream: bool = False) -> Future:
        """Queue `fn` to run on the worker thread; the future gives its return value or raises its exception.

        `audio_seconds`: audio `fn` holds (counted against the queue's audio budget until it ran).
        `stream`: a live stream's model pass, queued in the stream queue that alternates with requests.
        """
        return self._put(_Call(fn, audio_seconds, stream))

    async def transcribe(self, audio: np.ndarray, language: LanguageChoice, word_timestamps: bool = False) -> Transcription:
        """Transcribe in a shared batch; raises QueueFullError at once when the queue is full."""
        return await asyncio.wrap_future(self.submit_transcription(audio, language, word_timestamps))

    async def run(self, fn: Callable[[], T], audio_seconds: float = 0.0, stream: bool = False) -> T:
        """Run `fn` on the worker thread, serially with all other model work, and return its result (see `submit`)."""
        return await asyncio.wrap_future(self.submit(fn, audio_seconds, stream))

    # ------------------------------------------------------------------ the worker

    def _next(self) -> list[_Item] | None:
        """The next call, or the next batch of transcription jobs; None once stopped."""
        with self._cond:
            while not self._items and not self._streams and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            if self._streams and (self._stream_turn or not self._items):
                self._stream_turn = False
                return [self._streams.popleft()]
            self._stream_turn = True
            first = self._items.popleft()
            if isinstance(first, _Call):
                return [first]
            batch: list[_Item] = [first]
            deadline = time.monotonic() + self.options.batch_wait_ms / 1000.0
            while len(batch) < self.options.max_batch and not self._closed:
                if self._items:
                    if isinstance(self._items[0], _Call):
                        break  # keep FIFO order: the call runs right after this batch
                    batch.append(self._items.popleft())
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return batch

    def _work(self) -> None:
        while True:
            batch = self._next()
            if batch is None:
                return
            live = [item for item in batch if item.future.set_running_or_notify_cancel()]
            with self._cond:
                self._cancelled += len(batch) - len(live)
                self._running_since = time.monotonic()
            try:
                for call in (item for item in live if isinstance(item, _Call)):
                    self._run_call(call)
                jobs = [item for item in live if isinstance(item, _Job)]
                groups: dict[tuple[str | None, bool, tuple[Hotword, ...]], list[_Job]] = {}
                for job in jobs:
                    groups.setdefault((job.language, job.word_timestamps, job.hotwords), []).append(job)
                for (language, words, hotwords), group in groups.items():
                    self._run_group(language, words, group, self.options_with(hotwords))
            finally:
                with self._cond:
                    seconds = sum(item.seconds for item in batch if not (isinstance(item, _Call) and item.stream))
                    self._held_seconds = max(0.0, self._held_seconds - seconds)
                    self._audio_done += sum(item.seconds for item in live if not (isinstance(item, _Call) and item.stream))
                    self._busy += time.monotonic() - (self._running_since or time.monotonic())
                    self._running_since = None

    def _between_passes(self, *_: object) -> None:
        """Called by the engine after each forward pass of a request batch: the live streams' waiting passes
        run now, so a stream's update waits at most one pass however long the uploads being transcribed."""
        while True:
            with self._cond:
                if not self._streams or self._closed:
                    return
                call = self._streams.popleft()
            if call.future.set_running_or_notify_cancel():
                self._run_call(call)

    def _run_call(self, call: _Call) -> None:
        try:
            value = call.fn()
        except BaseException as error:  # handed to the caller, who decides
            call.future.set_exception(error)
        else:
            call.future.set_result(value)
        with self._cond:
            self._calls += 1

    def options_with(self, hotwords: tuple[Hotword, ...]) -> TranscribeOptions:
        """The server's options; with hotwords, beam search (the server's beam options) favouring them."""
        base = self.options.transcribe or TranscribeOptions()
        if not hotwords:
            return base
        return replace(base, decoder=DecoderOptions(BEAM, replace(base.decoder.beam, hotwords=hotwords)))

    def _run_group(self, language: LanguageChoice, words: bool, group: list[_Job], options: TranscribeOptions) -> None:
        done = 0
        try:
            options = replace(options, language=language, word_timestamps=words)
            outcomes = self.recognizer.transcribe_iter([job.audio for job in group], options, sampling_rate=SAMPLE_RATE,
                                                       on_progress=self._between_passes)
            for job, outcome in zip(group, outcomes):
                if outcome.error is not None:
                    job.future.set_exception(outcome.error)
                else:
                    job.future.set_result(outcome.result)
                done += 1
        except BaseException as error:  # a failure of the whole call fails every job left in it
            logger.exception("transcription of a batch of %d failed", len(group))
            for job in group[done:]:
                job.future.set_exception(error)
        with self._cond:
            self._jobs += len(group)
            self._model_calls += 1
            self._largest = max(self._largest, len(group))
            self._groups.append(len(group))
