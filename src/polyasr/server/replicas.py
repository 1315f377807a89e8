"""The ingress side of `polyasr serve --ray` (ray_serve.py): create_app's batcher and model, the model work on replicas.

The ingress runs the app of `polyasr serve` (create_app: the same routes, limits, page, metrics and
health) with two stand-ins; nothing here imports Ray Serve (the replicas' handle is passed in):

* `ReplicaBatcher` (a Batcher): each transcription request goes to one model replica, whose own
  `Batcher` batches it with the other requests it holds, so a result equals a single process's.
  The replica says when the job is in its batcher's queue and when it starts. A request whose
  replica is lost before it starts (SIGKILL, a lost node) is sent to another replica (counted in
  `resent`; one Ray Serve's router had not yet handed over, the router sends on by itself); one
  lost while it runs fails with 503 and Retry-After. `replica_queued`: requests the replicas hold
  and have not started.
  The queue limits of BatcherOptions apply here, times the replicas running.
* Other model work (language detection, diarization, live streams' passes) runs on the ingress in
  a thread per call, as the routes wrote it, with each forward pass sent to a replica by
  `RemoteBackend` (model/backends.Backend). A pass carries all it needs, so a stream's state lives
  in the ingress: any replica can run its next pass, a pass whose replica is lost is sent again,
  and a stream outlives the replica that ran its last pass. Streams' passes wait in the replicas'
  stream queue, which alternates with request batches as in `polyasr serve`.
* `stand_in(model)` (called on a replica): its CTCModel without the network, for the ingress's
  vocabulary, language tables, frame geometry and decoders.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Callable

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..decoding.options import Hotword
from ..language.choice import LanguageChoice
from ..model.ctc_model import CTCModel
from ..recognizer import Recognizer
from ..results import Transcription
from .batcher import Batcher, BatcherClosedError, BatcherStats, QueueFullError
from .errors import ApiError
from .options import BatcherOptions

logger = logging.getLogger("polyasr.server")
QUEUED, STARTED, RESULT, ERROR = "queued", "started", "result", "error"  # what a replica's transcribe() yields
PASSES = ("forward", "forward_inputs")  # the Backend methods a replica runs for the ingress
ATTEMPTS = 4  # replicas tried for a request (or a pass) that has not started
RETRY_PAUSE_SECONDS = 0.5  # between them: Ray Serve's router learns that a replica is gone
PASS_TIMEOUT_SECONDS = 600.0  # a thread of the ingress waits this long for one pass at most (then TimeoutError)


@dataclass(frozen=True)
class BackendFacts:
    """What the ingress says about the replicas' backend (/health, the model card, the log)."""

    device: str
    precision: str
    threads: int
    speed: str
    batch_invariant: bool
    time_major_features: bool


def stand_in(model: CTCModel) -> tuple[CTCModel, BackendFacts]:
    """`model` without its network (a replica sends it to the ingress), and its backend's facts."""
    backend = model.backend
    facts = BackendFacts(backend.device, backend.precision, backend.threads, backend.describe(), backend.batch_invariant,
                         bool(getattr(backend, "time_major_features", False)))
    return replace(model, backend=None), facts  # type: ignore[arg-type]


def run_pass(model: CTCModel, kind: str, args: tuple, adapter: str | None) -> np.ndarray:
    """One backend pass of the ingress on a replica's model (`kind`: forward or forward_inputs), with its adapter."""
    if kind not in PASSES:
        raise ValueError(f"unknown backend pass {kind!r}; one of: {', '.join(PASSES)}")
    backend = model.backend
    args = tuple(np.array(a) if isinstance(a, np.ndarray) and not a.flags.writeable else a for a in args)  # Ray's are read-only
    if adapter is None:
        return getattr(backend, kind)(*args)
    with backend.adapter_lock:  # type: ignore[attr-defined]
        backend.use_adapter(adapter)  # type: ignore[attr-defined]
        return getattr(backend, kind)(*args)


class RemoteBackend:
    """The Backend protocol with each pass run by a replica (`run(kind, args, adapter)`, blocking)."""

    def __init__(self, facts: BackendFacts, run: Callable[[str, tuple, str | None], np.ndarray]) -> None:
        self.facts, self._run = facts, run
        self.adapter_lock = threading.Lock()  # CTCModel switches adapters under it, as with TorchBackend
        self.time_major_features = facts.time_major_features
        self._adapter: str | None = None

    device = property(lambda self: self.facts.device)
    precision = property(lambda self: self.facts.precision)
    threads = property(lambda self: self.facts.threads)
    batch_invariant = property(lambda self: self.facts.batch_invariant)

    def describe(self) -> str:
        return f"{self.facts.speed}, on Ray Serve replicas"

    def use_adapter(self, code: str | None) -> None:
        self._adapter = code  # sent with the pass that follows (under adapter_lock)

    def forward(self, values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        return self._run("forward", (values, mask), self._adapter)

    def forward_inputs(self, inputs: Any) -> np.ndarray:
        return self._run("forward_inputs", (inputs,), None)


def _replica_lost() -> tuple[type[BaseException], ...]:
    from ray.exceptions import RayActorError  # ActorDiedError, ActorUnavailableError

    return (RayActorError,)


class ReplicaBatcher(Batcher):
    """A Batcher whose model work runs on Ray Serve replicas (see the module docstring).

    `replicas`: the DeploymentHandle of ray_serve.ModelReplica; `count_replicas()`: replicas running
    now (called in a thread every `poll_seconds`; /health/ready is "not ready" while it is 0);
    `threads`: calls and stream passes run on the ingress at once at most.
    """

    def __init__(self, replicas: Any, model: CTCModel, facts: BackendFacts, options: BatcherOptions,
                 count_replicas: Callable[[], int], threads: int = 32, poll_seconds: float = 1.0) -> None:
        super().__init__(Recognizer(replace(model, backend=RemoteBackend(facts, self._blocking_pass))), options)
        self._replicas, self._count_replicas, self._poll_seconds = replicas, count_replicas, poll_seconds
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="polyasr-ingress")
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watcher: asyncio.Task | None = None
        self._stopped = False
        self._live = 0  # replicas running, as last counted
        self._waiting = 0  # requests and calls admitted and not done
        self._held = 0.0  # their audio seconds
        self._counts = {"jobs": 0, "calls": 0, "lost": 0, "retried": 0, "queued": 0}  # queued: on replicas, not started
        self._service = self._done = 0.0  # seconds requests took, audio seconds they held

    # ------------------------------------------------------------------ lifecycle (on the ingress's event loop)

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._watcher = self._loop.create_task(self._watch())

    def stop(self, timeout: float | None = 30.0) -> None:
        with self._lock:
            self._stopped = True
        if self._loop is not None and self._watcher is not None:
            self._loop.call_soon_threadsafe(self._watcher.cancel)
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _watch(self) -> None:
        while True:
            try:
                live = await asyncio.to_thread(self._count_replicas)
            except Exception as error:  # noqa: BLE001 - the controller is away: count none, say why once a poll
                logger.warning("cannot count the model replicas: %s", error)
                live = 0
            with self._lock:
                self._live = live
            await asyncio.sleep(self._poll_seconds)

    @property
    def queue_length(self) -> int:
        with self._lock:
            return self._waiting

    def stats(self) -> BatcherStats:
        with self._lock:
            c, live = self._counts, self._live
            return BatcherStats(jobs=c["jobs"], model_calls=c["jobs"], calls=c["calls"], cancelled=0, largest_group=0,
                                recent_groups=(), queue_length=self._waiting, queued_audio_seconds=self._held,
                                busy_seconds=self._service / max(live, 1), audio_seconds_done=self._done,
                                alive=self._loop is not None and not self._stopped and live > 0, workers=live,
                                resent=c["retried"], replica_queued=c["queued"])

    # ------------------------------------------------------------------ submitting

    def _admit(self, seconds: float) -> None:
        with self._lock:
            if self._stopped or self._loop is None:
                raise BatcherClosedError("the server is shutting down" if self._stopped else "the server is starting")
            replicas = max(self._live, 1)
            if self._waiting >= self.options.queue_size * replicas:
                raise QueueFullError(f"the queue is full ({self._waiting} requests in progress on {replicas} replicas)")
            limit = self.options.max_queued_audio_seconds * replicas
            if seconds and self._held and self._held + seconds > limit:
                raise QueueFullError(f"{self._held:.0f} s of audio are queued; {seconds:.0f} s more would pass "
                                     f"the limit of {limit:g} s ({replicas} replicas)")
            self._waiting += 1
            self._held += seconds

    def _release(self, seconds: float, began: float, kind: str, future: Future) -> None:
        with self._lock:
            self._waiting -= 1
            self._held = max(0.0, self._held - seconds)
            self._counts[kind] += 1
            if not future.cancelled() and future.exception() is None:
                self._service += time.monotonic() - began
                self._done += seconds

    def submit_transcription(self, audio: np.ndarray, language: LanguageChoice, word_timestamps: bool = False,
                             hotwords: tuple[Hotword, ...] = (), on_text: Callable[[str], None] | None = None) -> Future:
        """As Batcher's; `on_text` is not called (a replica returns the whole text, so stream=true's
        deltas come once it is done)."""
        samples = np.asarray(audio, dtype=np.float32)
        seconds = len(samples) / SAMPLE_RATE
        self._admit(seconds)
        future = asyncio.run_coroutine_threadsafe(self._transcribe(samples, language, word_timestamps, hotwords), self._loop)  # type: ignore[arg-type]
        future.add_done_callback(partial(self._release, seconds, time.monotonic(), "jobs"))
        return future

    def submit(self, fn: Callable[[], Any], audio_seconds: float = 0.0, stream: bool = False) -> Future:
        """Run `fn` in a thread of the ingress; its forward passes go to replicas (streams: not counted in the queue)."""
        if stream:
            with self._lock:
                if self._stopped:
                    raise BatcherClosedError("the server is shutting down")
            return self._pool.submit(fn)
        self._admit(audio_seconds)
        future = self._pool.submit(fn)
        future.add_done_callback(partial(self._release, audio_seconds, time.monotonic(), "calls"))
        return future

    # ------------------------------------------------------------------ the replicas

    def _lost(self, running: bool) -> ApiError:
        with self._lock:
            self._counts["lost"] += 1
            wait = self._service / max(self._counts["jobs"], 1) / max(self._live, 1)
        what = "the model replica running this request stopped" if running else "no model replica could take this request"
        return ApiError(503, f"{what}; retry", "replica_lost", headers={"Retry-After": str(min(max(math.ceil(wait), 1), 60))})

    async def _transcribe(self, audio: np.ndarray, language: LanguageChoice, words: bool,
                          hotwords: tuple[Hotword, ...]) -> Transcription:
        lost = _replica_lost()
        for attempt in range(ATTEMPTS):
            started = queued = False
            try:
                async for kind, value in self._replicas.options(stream=True).transcribe.remote(audio, language, words, hotwords):
                    if kind == QUEUED:
                        queued = self._queued_on_replica(True)
                    elif kind == STARTED:
                        started, queued = True, self._queued_on_replica(False, queued)
                    elif kind == ERROR and isinstance(value, (QueueFullError, BatcherClosedError)):
                        raise ApiError(503, f"the server is busy: {value}; retry later", "server_busy",
                                       headers={"Retry-After": "1"})
                    elif kind == ERROR:
                        raise value
                    else:
                        return value
                raise RuntimeError("a model replica ended a transcription without its result")
            except lost as error:
                queued = self._queued_on_replica(False, queued)  # not queued anywhere while it waits to retry
                if started:
                    logger.warning("a model replica was lost while it ran a request (%s)", type(error).__name__)
                    raise self._lost(running=True) from None
                with self._lock:
                    self._counts["retried"] += 1
                logger.warning("a model replica was lost before it began a request; trying another (%s)", type(error).__name__)
                await asyncio.sleep(RETRY_PAUSE_SECONDS * (attempt + 1))
            finally:  # an error of the request's own, or the caller gave up
                self._queued_on_replica(False, queued)
        raise self._lost(running=False)

    def _queued_on_replica(self, now: bool, before: bool = False) -> bool:
        """Count one request in `replica_queued` as it becomes queued on a replica (`now`), or out of it
        when it no longer is (counted only if it was, `before`); returns `now`."""
        if now != before:
            with self._lock:
                self._counts["queued"] += 1 if now else -1
        return now

    async def _pass(self, kind: str, args: tuple, adapter: str | None) -> np.ndarray:
        lost = _replica_lost()
        for attempt in range(ATTEMPTS):
            try:
                return await self._replicas.forward.remote(kind, args, adapter)
            except lost:  # a pass holds no state on the replica: run it on another
                await asyncio.sleep(RETRY_PAUSE_SECONDS * (attempt + 1))
        raise self._lost(running=False)

    def _blocking_pass(self, kind: str, args: tuple, adapter: str | None) -> np.ndarray:
        """One forward pass on a replica, from a thread of the ingress (RemoteBackend's `run`)."""
        if self._loop is None:
            raise BatcherClosedError("the server is starting")
        return asyncio.run_coroutine_threadsafe(self._pass(kind, args, adapter), self._loop).result(PASS_TIMEOUT_SECONDS)
