"""The live streams' updates gathered into shared model calls (streaming/passes.update_together).

Each open stream awaits `StreamPasses.update(session)` once a step of its audio is waiting. The
first one schedules a call on the model worker (the batcher's stream queue, through `run`); when
the worker gets to it, the call takes every stream waiting at that moment, so streams whose
updates fall due while the model is busy share the next pass instead of queueing one pass each.

Streams sent at real time fall due at predictable moments: one step (`update_seconds`) after their
last update. Before it hands a call to an idle worker, the driver waits (at most `gather_seconds`)
for the open streams expected within that time, so streams whose steps end together (they were
opened together, or fell into step behind a busy worker) share one pass instead of one running
alone and the others waiting a whole pass behind it. A stream that stopped sending is waited for at
most once (its expected moment then lies in the past).

The server's only hook is the `run` it hands over (batcher.run with stream=True); the counters
(`passes`, `updates`, `model_seconds`, `audio_seconds`) are read by the metrics.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from typing import Any, Awaitable, Callable

from ..audio.decode import SAMPLE_RATE
from ..streaming.events import Event
from ..streaming.passes import update_together
from ..streaming.session import StreamingSession

Runner = Callable[[Callable[[], Any]], Awaitable[Any]]  # runs a function on the model worker

__all__ = ["GATHER_SECONDS", "StreamPasses"]

GATHER_SECONDS = 0.1  # how long a call may wait for streams expected to fall due (one 100 ms message)


class StreamPasses:
    """Updates of all open streams, run together on the model worker."""

    def __init__(self, run: Runner, gather_seconds: float = GATHER_SECONDS) -> None:
        self._run = run
        self.gather_seconds = gather_seconds
        self._lock = threading.Lock()  # the waiting list is taken on the worker thread
        self._waiting: list[tuple[StreamingSession, asyncio.Future]] = []
        self._scheduled = False
        # each open stream's next update: when it should fall due (time.monotonic()), if sent at real time
        self._expected: weakref.WeakKeyDictionary[StreamingSession, float] = weakref.WeakKeyDictionary()
        self._arrived: asyncio.Event | None = None  # set by each update; the driver's gathering waits on it
        self.passes = 0  # shared calls made
        self.updates = 0  # stream updates they held
        self.model_seconds = 0.0  # time the calls took (forward passes and decoding)
        self.audio_seconds = 0.0  # new audio the updates decoded

    async def update(self, session: StreamingSession) -> list[Event]:
        """The events of `session`'s next update (its pending audio must hold a step: `update_due`)."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._expected[session] = time.monotonic() + session.step_samples / SAMPLE_RATE
        if self._arrived is not None:
            self._arrived.set()
        with self._lock:
            self._waiting.append((session, future))
            schedule, self._scheduled = not self._scheduled, True
        if schedule:
            asyncio.get_running_loop().create_task(self._drive())
        return await future

    async def _drive(self) -> None:
        """Make calls until no stream waits; a failed call fails the streams it held."""
        while True:
            with self._lock:
                if not self._waiting:
                    self._scheduled = False
                    return
            taken: list[tuple[StreamingSession, asyncio.Future]] = []
            try:
                await self._gather()
                results = await self._run(lambda: self._call(taken))
            except BaseException as error:  # QueueFullError, a model failure, the server stopping
                with self._lock:
                    if taken:  # the call ran and failed
                        failed = taken
                    else:  # it never ran: the streams waiting for it fail
                        failed, self._waiting = self._waiting, []
                for _, future in failed:
                    if not future.done():
                        future.set_exception(error if isinstance(error, Exception) else RuntimeError(str(error)))
                if not isinstance(error, Exception):  # cancelled: the next update schedules a new driver
                    with self._lock:
                        self._scheduled = False
                    raise
                continue
            for (_, future), events in zip(taken, results):
                if not future.done():
                    future.set_result(events)

    async def _gather(self) -> None:
        """Wait (at most `gather_seconds`) until the open streams expected to fall due by then are waiting too."""
        deadline = time.monotonic() + self.gather_seconds
        arrived = self._arrived = self._arrived or asyncio.Event()
        while True:
            now = time.monotonic()
            with self._lock:
                waiting = {id(session) for session, _ in self._waiting}
            soon = [session for session, due in list(self._expected.items())
                    if id(session) not in waiting and not session.finished and now - self.gather_seconds <= due <= deadline]
            if not soon or now >= deadline:
                return
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), deadline - now)
            except asyncio.TimeoutError:
                return

    def _call(self, taken: list[tuple[StreamingSession, asyncio.Future]]) -> list[list[Event]]:
        """On the worker: every stream waiting now, one update each, the passes shared."""
        with self._lock:  # a stream closed while it waited (its future cancelled) costs no pass
            taken += [(session, future) for session, future in self._waiting if not future.cancelled()]
            self._waiting = []
        sessions = [session for session, _ in taken]
        began = time.monotonic()
        audio = sum(min(s.samples_per_pass, s.pending_samples) // s.step_samples * s.step_samples for s in sessions)
        results = update_together(sessions)
        self.passes += 1
        self.updates += len(sessions)
        self.model_seconds += time.monotonic() - began
        self.audio_seconds += audio / SAMPLE_RATE
        return results
