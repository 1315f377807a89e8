"""One worker thread runs all model work of a server process; requests that arrive together share passes.

    batcher = Batcher(recognizer, BatcherOptions(queue_size=64, max_batch=8, batch_wait_ms=10))
    batcher.start()
    result = await batcher.transcribe(samples, language="de", word_timestamps=False)   # 16 kHz mono
    ranked = await batcher.run(lambda: recognizer.detect_language(samples, sampling_rate=16_000), audio_seconds=3.0)
    events = await batcher.run(lambda: session.feed(chunk), stream=True)   # a live stream's model pass
    batcher.stop()

Design (the policy itself is schedule.py's):

* Requests (transcription jobs and calls) wait in one bounded queue: `queue_size` items waiting
  (runs in progress are not counted), and `max_queued_audio_seconds` of audio held by the items
  waiting and running. Past either, :class:`QueueFullError` is raised at once (the server answers
  503 with Retry-After) instead of letting latency or memory grow without bound. An item alone
  longer than the audio budget is still taken when nothing else is held, so it can run.
* Transcription jobs run as *runs*: a long job alone, short ones (at most one forward pass of
  audio) grouped with the short jobs waiting beside them (up to `max_batch`, waiting at most
  `batch_wait_ms` for more; grouped by (language, word_timestamps, hotwords)), each run one
  ``recognizer.transcribe_steps`` call. The worker advances runs one step (one forward pass, or one
  input's result) at a time, the least audio left first, so a short request waits about one pass
  whatever uploads run, and each result is handed over as soon as its own input is done.
* Live streams' model passes (``stream=True``) wait in a second queue (also at most `queue_size`).
  Streams and requests take turns: after a run's step every stream call then waiting runs (a
  stream's update waits at most one pass); after any other request item, one stream call. Stream
  calls that come in during a run's forward pass run inside it, between its transformer layers
  (`TorchBackend.between_layers`; not for models with per-language adapters), so a long upload's
  pass does not hold a live stream back for seconds.
* ``await batcher.run(fn)`` (or ``batcher.submit(fn)`` from a thread) runs any callable on the
  worker thread, serially with everything else, and returns its result (or raises its exception).
  Language detection and diarized transcription use it (stating the seconds of audio they hold).
  Keep calls short: the worker does nothing else while one runs.
* Futures are ``concurrent.futures.Future``; the async methods wrap them with
  ``asyncio.wrap_future``. Cancelling a job's future (e.g. ``asyncio.wait_for`` timing out, or the
  client leaving) stops its work: a waiting one is skipped, a run whose jobs are all cancelled is
  closed before its next pass; in a shared run the others go on and its result is dropped.
* ``submit_transcription(..., on_text=f)``: `f(text so far)` as the job's windows finish (greedy
  decoding), for ``stream=true`` responses; every text is a prefix of the final one.
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
from dataclasses import dataclass, replace
from typing import Any, Callable, TypeVar

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..decoding.options import BEAM, DecoderOptions, Hotword
from ..results import Transcription
from ..language.choice import LanguageChoice
from ..options import TranscribeOptions
from ..recognizer import Recognizer
from .options import BatcherOptions  # defined with the server's other options; re-exported here
from .schedule import START, Call, Choice, Job, Request, Run, Schedule

T = TypeVar("T")
logger = logging.getLogger("polyasr.server")


class QueueFullError(RuntimeError):
    """The batcher's queue holds `queue_size` items already; try again later."""


class BatcherClosedError(RuntimeError):
    """The batcher was stopped (the server is shutting down)."""


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
    workers: int = 1  # model workers running: 1 here; serve --ray: the model replicas Ray Serve reports running
    resent: int = 0  # serve --ray: requests sent to another replica after theirs was lost before they started
    replica_queued: int = 0  # serve --ray: requests in the replicas' batchers that have not started

    def expected_wait(self) -> float | None:
        """Seconds until the audio queued now is done, at the speed measured so far; None before any measurement."""
        if self.audio_seconds_done <= 0 or self.busy_seconds <= 0:
            return None
        return self.queued_audio_seconds * self.busy_seconds / self.audio_seconds_done


class Batcher:
    """Runs transcription jobs pass by pass, shortest first, and any other model work, on one worker thread."""

    def __init__(self, recognizer: Recognizer, options: BatcherOptions = BatcherOptions()) -> None:
        self.recognizer = recognizer
        self.options = options
        batch = recognizer.batch
        self._schedule = Schedule(options.max_batch, short_seconds=batch.batch_seconds,
                                  group_seconds=batch.batch_seconds * batch.lookahead_batches)
        self._held_seconds = 0.0  # audio of the requests waiting and running
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._jobs = self._model_calls = self._calls = self._cancelled = self._largest = 0
        self._groups: deque[int] = deque(maxlen=256)
        self._busy = self._audio_done = 0.0
        self._running_since: float | None = None  # time.monotonic() when the running step began

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
        """Refuse new work, fail what is waiting, and wait for the running step to finish (the worker
        then fails the runs in progress)."""
        with self._cond:
            self._closed = True
            pending = self._schedule.drain()
            self._cond.notify_all()
        for item in pending:
            if item.future.set_running_or_notify_cancel():
                item.future.set_exception(BatcherClosedError("the server is shutting down"))
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def queue_length(self) -> int:
        """Requests waiting for the worker (not counting the runs in progress)."""
        with self._cond:
            return len(self._schedule.waiting)

    def stats(self) -> BatcherStats:
        with self._cond:
            running = 0.0 if self._running_since is None else time.monotonic() - self._running_since
            alive = self._thread is not None and self._thread.is_alive() and not self._closed
            return BatcherStats(self._jobs, self._model_calls, self._calls, self._cancelled, self._largest,
                                tuple(self._groups), len(self._schedule.waiting), self._held_seconds, self._busy,
                                self._audio_done, running,
                                alive, workers=int(alive))

    # ------------------------------------------------------------------ submitting

    def _put(self, item: Request) -> Future:
        if self._thread is None:
            self.start()
        with self._cond:
            if self._closed:
                raise BatcherClosedError("the server is shutting down")
            stream = isinstance(item, Call) and item.stream
            waiting = len(self._schedule.streams if stream else self._schedule.waiting)
            if waiting >= self.options.queue_size:
                raise QueueFullError(f"the queue is full ({self.options.queue_size} {'stream updates' if stream else 'requests'} waiting)")
            seconds = 0.0 if stream else item.seconds
            limit = self.options.max_queued_audio_seconds
            if seconds and self._held_seconds and self._held_seconds + seconds > limit:
                raise QueueFullError(f"{self._held_seconds:.0f} s of audio are queued; {seconds:.0f} s more would pass "
                                     f"the limit of {limit:g} s")
            self._held_seconds += seconds
            self._schedule.add(item)
            self._cond.notify_all()
        return item.future

    def submit_transcription(
        self, audio: np.ndarray, language: LanguageChoice, word_timestamps: bool = False,
        hotwords: tuple[Hotword, ...] = (), on_text: Callable[[str], None] | None = None,
    ) -> Future:
        """Queue 16 kHz mono float32 `audio`; the future gives its Transcription or raises its error.

        `on_text(text so far)` is called on the worker thread as the audio's windows are done, with
        greedy decoding only (see Recognizer.transcribe_steps); it must be quick and must not raise.
        Cancelling the future stops the work, even once it started.
        """
        return self._put(Job(np.asarray(audio, dtype=np.float32), language, word_timestamps, hotwords, on_text))

    def submit(self, fn: Callable[[], T], audio_seconds: float = 0.0, stream: bool = False) -> Future:
        """Queue `fn` to run on the worker thread; the future gives its return value or raises its exception.

        `audio_seconds`: audio `fn` holds (counted against the queue's audio budget until it ran).
        `stream`: a live stream's model pass, queued in the stream queue that alternates with requests.
        """
        return self._put(Call(fn, audio_seconds, stream))

    async def transcribe(self, audio: np.ndarray, language: LanguageChoice, word_timestamps: bool = False) -> Transcription:
        """Transcribe (pass by pass, shortest first); raises QueueFullError at once when the queue is full."""
        return await asyncio.wrap_future(self.submit_transcription(audio, language, word_timestamps))

    async def run(self, fn: Callable[[], T], audio_seconds: float = 0.0, stream: bool = False) -> T:
        """Run `fn` on the worker thread, serially with all other model work, and return its result (see `submit`)."""
        return await asyncio.wrap_future(self.submit(fn, audio_seconds, stream))

    # ------------------------------------------------------------------ the worker

    def _next(self) -> Choice | None:
        """The next step (a START with its whole group gathered); None once stopped."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                choice = self._schedule.pick()
                if choice is not None:
                    break
                self._cond.wait()
            if choice.kind != START:
                return choice
            group = list(choice.jobs)
            deadline = time.monotonic() + self.options.batch_wait_ms / 1000.0
            while not self._closed and not self._schedule.full_group(group):
                if self._schedule.gather(group[0], group):
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return Choice(START, jobs=tuple(group))

    def _work(self) -> None:
        try:
            self._loop()
        except BaseException:  # a bug here would leave every request waiting until its deadline: say so
            logger.exception("the model worker stopped")
            raise

    def _loop(self) -> None:
        while True:
            choice = self._next()
            if choice is None:
                self._fail_runs()
                return
            with self._cond:
                self._running_since = time.monotonic()
            try:
                if choice.call is not None:
                    self._run_call(choice.call)
                elif choice.run is not None:
                    self._step(choice.run)
                else:
                    self._start(list(choice.jobs))
            finally:
                with self._cond:
                    self._busy += time.monotonic() - (self._running_since or time.monotonic())
                    self._running_since = None

    def _run_call(self, call: Call) -> None:
        if call.future.set_running_or_notify_cancel():
            try:
                value = call.fn()
            except BaseException as error:  # handed to the caller, who decides
                call.future.set_exception(error)
            else:
                call.future.set_result(value)
            with self._cond:
                self._calls += 1
                self._audio_done += 0.0 if call.stream else call.seconds
        else:
            with self._cond:
                self._cancelled += 1
        if not call.stream:
            self._release(call.seconds)

    def _waiting_streams(self) -> None:
        """Run the streams' calls waiting now (inside a run's forward pass, between its layers)."""
        with self._cond:
            calls = list(self._schedule.streams)
            self._schedule.streams.clear()
        for call in calls:
            self._run_call(call)

    def _release(self, seconds: float) -> None:
        with self._cond:
            self._held_seconds = max(0.0, self._held_seconds - seconds)

    def options_with(self, hotwords: tuple[Hotword, ...]) -> TranscribeOptions:
        """The server's options; with hotwords, beam search (the server's beam options) favouring them."""
        base = self.options.transcribe or TranscribeOptions()
        if not hotwords:
            return base
        return replace(base, decoder=DecoderOptions(BEAM, replace(base.decoder.beam, hotwords=hotwords)))

    def _start(self, jobs: list[Job]) -> None:
        """Start one run per (language, words, hotwords) group of `jobs` (those not cancelled while waiting)."""
        gone = [job for job in jobs if job.future.cancelled()]
        live = [job for job in jobs if job not in gone]
        with self._cond:
            self._cancelled += len(gone)
        self._release(sum(job.seconds for job in gone))
        groups: dict[Any, list[Job]] = {}
        for job in live:
            groups.setdefault(job.key, []).append(job)
        for (language, words, hotwords), group in groups.items():
            options = replace(self.options_with(hotwords), language=language, word_timestamps=words)
            texts = [job.on_text for job in group]
            holder: list[Run] = []

            def progress(_source: str, done: float, _total: float, holder: list[Run] = holder) -> None:
                if holder and holder[0].long:
                    holder[0].seconds_passed = done

            def on_text(index: int, text: str, texts: list[Any] = texts) -> None:
                if texts[index] is not None:
                    texts[index](text)

            try:
                steps = self.recognizer.transcribe_steps([job.audio for job in group], options, sampling_rate=SAMPLE_RATE,
                                                         on_progress=progress, on_text=on_text)
            except BaseException as error:  # e.g. a language the model lacks: every job of the group fails
                self._settle(group, error)
                continue
            with self._cond:
                holder.append(self._schedule.new_run(group, steps))
                self._model_calls += 1
                self._largest = max(self._largest, len(group))
                self._groups.append(len(group))

    def _step(self, run: Run) -> None:
        """One step of `run`: a forward pass, or one input's result handed to its job. The streams' calls
        that come in meanwhile run between the pass's transformer layers (`TorchBackend.between_layers`)."""
        left = run.jobs[run.done:]
        backend = self.recognizer.model.backend
        # not with per-language adapters (MMS): a stream's pass could switch the adapter inside the upload's
        inside = hasattr(backend, "between_layers") and self.recognizer.model.adapters is None
        try:
            if all(job.future.cancelled() for job in left):  # nobody waits for the rest: stop
                run.steps.close()
                with self._cond:
                    self._cancelled += len(left)
                self._finish(run, left)
                return
            if inside:
                backend.between_layers = self._waiting_streams  # type: ignore[attr-defined]
            try:
                outcome = next(run.steps)
            finally:
                if inside:
                    backend.between_layers = None  # type: ignore[attr-defined]
        except StopIteration:
            self._finish(run, left)
            return
        except BaseException as error:  # a failure of the whole call fails every job left in it
            logger.exception("transcription of a batch of %d failed", len(run.jobs))
            self._finish(run, left, error)
            return
        if outcome is not None:
            job = run.jobs[run.done]
            run.done += 1
            self._settle([job], outcome.error, outcome.result)
            if run.done == len(run.jobs):
                self._finish(run, [])

    def _settle(self, jobs: list[Job], error: BaseException | None, result: Transcription | None = None) -> None:
        """Hand `jobs` their result (or error), unless their future was cancelled; release their audio."""
        for job in jobs:
            if job.future.set_running_or_notify_cancel():
                if error is not None:
                    job.future.set_exception(error)
                else:
                    job.future.set_result(result)
        with self._cond:
            self._jobs += len(jobs)
            self._audio_done += sum(job.seconds for job in jobs)
        self._release(sum(job.seconds for job in jobs))

    def _finish(self, run: Run, left: list[Job], error: BaseException | None = None) -> None:
        """`run` ends; the jobs `left` without a result fail (with `error`, or as cut short)."""
        with self._cond:
            if run in self._schedule.runs:
                self._schedule.runs.remove(run)
        unsettled = [job for job in left if not job.future.done()]
        if unsettled:
            self._settle(unsettled, error or RuntimeError("the transcription ended without a result"))
        self._release(sum(job.seconds for job in left if job.future.cancelled()))

    def _fail_runs(self) -> None:
        """On stop: the runs in progress end, their jobs told the server is shutting down."""
        with self._cond:
            runs, self._schedule.runs = self._schedule.runs, []
        for run in runs:
            run.steps.close()
            self._finish(run, run.jobs[run.done:], BatcherClosedError("the server is shutting down"))
