"""`polyasr serve --ray`: the HTTP API as a Ray Serve application, the model on replicas (needs the serve-ray extra).

    app = build_application(ModelSpec("/models/xlsr"), ServerOptions(), ScalingOptions(replicas=2))
    serve.run(app, name="polyasr", route_prefix="/")     # or: polyasr serve --ray --replicas 2

Two deployments:

* `ModelReplica`: one Recognizer and its Batcher (the same batching as `polyasr serve`), `replicas`
  of them, or autoscaled between `min_replicas` and `max_replicas` on the requests in progress per
  replica. It transcribes requests (saying when each is queued and when it starts, see replicas.py) and runs single
  forward passes for the ingress; Ray Serve restarts one that dies or fails its health check
  (the model worker not running).
* `Ingress`: create_app (every route, limit, the page, /metrics, health) with a ReplicaBatcher, so
  the limits of `polyasr serve` are enforced here, once, before any work reaches a replica;
  /health/ready is "not ready" while no replica runs.

`start_application` starts (or joins) Ray and Serve and deploys; `stop_application` undoes it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace
from functools import partial
from typing import Any, AsyncIterator

import numpy as np
from fastapi import FastAPI
from ray import serve

from ..decoding.options import Hotword
from ..language.choice import LanguageChoice
from .app import create_app
from .batcher import Batcher
from .options import BatcherOptions, ServerOptions
from .replicas import ERROR, QUEUED, RESULT, STARTED, BackendFacts, ReplicaBatcher, run_pass, stand_in
from .scaling import ModelSpec, ScalingOptions

logger = logging.getLogger("polyasr.server")
APP_NAME = "polyasr"
REPLICA_DEPLOYMENT = "ModelReplica"
STARTED_POLL_SECONDS = 0.01  # how often a replica looks whether a queued job has started


@serve.deployment(name=REPLICA_DEPLOYMENT, health_check_period_s=2, health_check_timeout_s=30, graceful_shutdown_timeout_s=30)
class ModelReplica:
    """One model and its Batcher (see the module docstring)."""

    def __init__(self, spec: ModelSpec, options: BatcherOptions) -> None:
        from ..recognizer import load

        self.recognizer = load(spec.model, device=spec.device, dtype=spec.dtype, threads=spec.threads)
        self.batcher = Batcher(self.recognizer, options)
        self.batcher.start()

    def stand_in(self) -> tuple[Any, BackendFacts]:
        """The model without its network, and the backend's facts (for the ingress)."""
        return stand_in(self.recognizer.model)

    def pid(self) -> int:
        return os.getpid()

    async def transcribe(self, audio: np.ndarray, language: LanguageChoice, words: bool,
                         hotwords: tuple[Hotword, ...]) -> AsyncIterator[tuple[str, Any]]:
        """(QUEUED, None) once the job is in this replica's batcher, (STARTED, None) once the batcher begins it,
        then (RESULT, Transcription) or (ERROR, exception)."""
        try:
            future = self.batcher.submit_transcription(audio, language, words, hotwords)
        except Exception as error:  # noqa: BLE001 - the queue is full or stopping: the ingress answers 503
            yield ERROR, error
            return
        try:
            yield QUEUED, None
            while not (future.running() or future.done()):
                await asyncio.sleep(STARTED_POLL_SECONDS)
            yield STARTED, None
            try:
                result = await asyncio.wrap_future(future)
            except Exception as error:  # noqa: BLE001 - the request's own error (bad audio, unknown language)
                yield ERROR, error
            else:
                yield RESULT, result
        finally:
            future.cancel()  # the ingress gave up: the worker skips it unless it already started

    async def forward(self, kind: str, args: tuple, adapter: str | None) -> np.ndarray:
        """One backend pass for the ingress, in the batcher's stream queue (alternating with request batches)."""
        return await self.batcher.run(partial(run_pass, self.recognizer.model, kind, args, adapter), stream=True)

    def check_health(self) -> None:
        if not self.batcher.stats().alive:
            raise RuntimeError("the model worker is not running")

    def __del__(self) -> None:
        batcher = getattr(self, "batcher", None)
        if batcher is not None:
            batcher.stop(timeout=5.0)


def running_replicas(app_name: str) -> int:
    """Replicas of ModelReplica that Ray Serve reports RUNNING in application `app_name`."""
    application = serve.status().applications.get(app_name)
    deployment = application.deployments.get(REPLICA_DEPLOYMENT) if application is not None else None
    return 0 if deployment is None else int(deployment.replica_states.get("RUNNING", 0))


@serve.deployment(name="Ingress")
@serve.ingress()
class Ingress:
    """create_app with its model work on `replicas` (see the module docstring)."""

    def __init__(self, replicas: Any, options: ServerOptions) -> None:
        self._replicas, self._options = replicas, options

    async def __serve_build_asgi_app__(self) -> FastAPI:
        model, facts = await self._replicas.stand_in.remote()
        options = self._options
        app_name = serve.get_replica_context().app_name
        batcher = ReplicaBatcher(self._replicas, model, facts, options.batcher, partial(running_replicas, app_name),
                                 threads=options.batcher.queue_size + options.streams.max_streams)
        return create_app(batcher.recognizer, options, batcher)


def build_application(spec: ModelSpec, options: ServerOptions, scaling: ScalingOptions) -> Any:
    """The Ray Serve application: the ingress and the model replicas (bound, not yet deployed)."""
    ongoing = options.batcher.queue_size + options.batcher.max_batch + options.streams.max_streams
    replica_batcher = replace(options.batcher, queue_size=ongoing,  # the ingress admits; a replica never refuses
                              max_queued_audio_seconds=options.batcher.max_queued_audio_seconds * scaling.most_replicas)
    threads = spec.threads or max(1, int(scaling.replica_cpus))
    actor: dict[str, Any] = {"num_cpus": scaling.replica_cpus, "num_gpus": scaling.replica_gpus}
    if scaling.replica_resources:
        actor["resources"] = dict(scaling.replica_resources)
    settings: dict[str, Any] = dict(max_ongoing_requests=ongoing, ray_actor_options=actor)
    if scaling.autoscaling:
        settings["autoscaling_config"] = scaling.autoscaling_config()
    else:
        settings["num_replicas"] = scaling.replicas
    replicas = ModelReplica.options(**settings).bind(replace(spec, threads=threads), replica_batcher)
    ingress = Ingress.options(num_replicas=1, ray_actor_options={"num_cpus": 0},
                              max_ongoing_requests=options.max_connections + options.streams.max_streams + 8)
    return ingress.bind(replicas, options)


def start_application(spec: ModelSpec, options: ServerOptions, scaling: ScalingOptions, host: str, port: int) -> bool:
    """Start (or join) Ray, start Serve's HTTP proxy on host:port, deploy and wait until it runs.

    Returns True when this call started the Ray instance (stop_application then stops it).
    """
    import ray

    owned = False
    if not ray.is_initialized():
        if scaling.address is None:
            cpus = scaling.local_cpus or max(os.cpu_count() or 1, scaling.needed_cpus())
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING)
            owned = True
        else:
            ray.init(address=scaling.address, logging_level=logging.WARNING)
    serve.start(http_options={"host": host, "port": port})
    serve.run(build_application(spec, options, scaling), name=APP_NAME, route_prefix="/")
    return owned


def stop_application(owned: bool) -> None:
    """Delete the application; with a Ray instance of our own, stop Serve and Ray too."""
    import ray

    serve.delete(APP_NAME)
    if owned:
        serve.shutdown()
        ray.shutdown()
