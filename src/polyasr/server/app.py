"""The HTTP service: an OpenAI-compatible transcription API in front of one Recognizer.

    app = create_app(polyasr.load(), ServerOptions(api_keys=("secret",)))
    uvicorn.run(app, host="127.0.0.1", port=8000)            # or: polyasr serve

Routes (status codes and error bodies: see errors.py; API keys and size limit: see guard.py):

* ``POST /v1/audio/transcriptions``: OpenAI's form (``file``, ``model``, ``language``, ``prompt``,
  ``response_format``, ``temperature``, ``timestamp_granularities[]``). ``model`` may be anything:
  the server has one model. ``prompt`` and ``temperature`` are accepted and ignored (CTC decoding
  is greedy and takes no prompt). ``language``: "auto" (default, every character of the model), a
  code or English name, or "detect". ``timestamp_granularities[]`` matters for verbose_json only.
* ``POST /v1/audio/language``: language identification (``file``, ``top``, ``candidates``).
* ``GET /v1/models``, ``GET /v1/models/{id}``, ``GET /v1/languages`` (routes.py).
* ``WS /v1/audio/stream``: live transcription (stream_route.py; it checks API keys itself).
* ``GET /health``, ``GET /`` (the web page in static/, or a placeholder) and ``/static/*``: no key.
* ``GET /docs`` (Swagger UI), ``GET /redoc``: their scripts are served by this server from the
  fastapi-offline package (``/static-offline-docs/*``), so they work without internet access.

The page and the API description name the model by its alias (``ServerOptions.model_alias``; by
default the model folder's or Hub repository's name, see :func:`model_alias`) and its real number
of languages.

Browsers: requests from other web origins are refused (guard.py) unless ``cors_origins`` lists
them; for those, CORS headers are sent (starlette's CORSMiddleware, outside the guard so that
preflight requests need no key).

State lives on ``app.state``: ``recognizer``, ``options``, ``batcher`` (see batcher.py; other
routes run model work through ``app.state.batcher.run``) and ``decode_slots`` (routes.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, AsyncIterator

import html
from dataclasses import replace

from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from fastapi.staticfiles import StaticFiles

from ..model.ctc_model import DEFAULT_MODEL
from ..version import VERSION as __version__
from ..options import TranscribeOptions
from ..recognizer import Recognizer
from .batcher import Batcher
from .errors import install_error_handlers
from .guard import GuardLoad, GuardMiddleware, api_key_valid, bearer_token
from .metrics import Metrics, MetricsMiddleware
from .options import ServerOptions
from .routes import api_router
from .slots import SmallestFirst
from .schemas import Health, Readiness, TranscriptionJson, TranscriptionVerbose
from .stream_passes import StreamPasses
from .stream_route import add_streaming_route

logger = logging.getLogger("polyasr.server")
STATIC_DIR = Path(__file__).resolve().parent / "static"
FORM_MARGIN_BYTES = 64 * 1024  # request bytes allowed beyond the upload limit, for the other form fields
PLACEHOLDER_PAGE = "<!doctype html><title>polyasr</title><h1>polyasr</h1><p>API: <a href='/docs'>/docs</a></p>\n"

DEFAULT_ALIAS = "xlsr-56"  # the default model's id in /v1/models, as OpenAI clients name it

__all__ = ["STATIC_DIR", "ServerOptions", "create_app", "model_alias"]


def model_alias(model_name: str) -> str:
    """The id /v1/models lists when no alias is configured: "xlsr-56" for the default model, else the
    last part of the folder or Hub id the model was loaded from (never a whole server path)."""
    if model_name == DEFAULT_MODEL:
        return DEFAULT_ALIAS
    return Path(model_name.rstrip("/\\")).name or model_name


def languages_phrase(count: int) -> str:
    """ "8 languages", "1 language"; a model without a language table: its vocabulary's."""
    if count == 0:
        return "the languages of its vocabulary"
    return f"{count} language{'' if count == 1 else 's'}"


def page_html(recognizer: Recognizer, alias: str) -> str:
    """The web page (static/index.html, or a placeholder) naming the model and its number of languages."""
    index = STATIC_DIR / "index.html"
    if not index.is_file():
        return PLACEHOLDER_PAGE
    text = index.read_text(encoding="utf-8")
    return text.replace("{{languages}}", languages_phrase(len(recognizer.languages()))).replace("{{model}}", html.escape(alias))


def _page_routes(app: FastAPI, metrics: Metrics) -> None:
    @app.get("/health", response_model=Health, response_model_exclude_none=True,
             summary="Liveness and load (no API key needed; the model's details only with one)")
    async def health(request: Request) -> Health:
        state = request.app.state
        options: ServerOptions = state.options
        details: dict[str, Any] = {}
        if api_key_valid(options.api_keys, bearer_token(request.headers.get("authorization"))):
            backend = state.recognizer.model.backend
            details = dict(model=state.recognizer.model.name, device=backend.device, dtype=backend.precision,
                           threads=backend.threads)
        return Health(model_alias=options.model_alias, queue_length=state.batcher.queue_length,
                      queue_size=options.batcher.queue_size, max_batch=options.batcher.max_batch, **details)

    @app.get("/health/ready", response_model=Readiness, responses={503: {"model": Readiness}},
             summary="Readiness: model loaded, worker alive and not stuck, not stopping (no API key needed)")
    async def ready(request: Request) -> Response:
        state = request.app.state
        stats = state.batcher.stats()
        reason = None
        if getattr(state, "stopping", None) is None or state.stopping.is_set():
            reason = "the server is starting or stopping"
        elif not stats.alive:
            reason = "the model worker is not running"
        elif stats.running_seconds > state.options.timeout_seconds:
            reason = f"the model worker has been busy with one item for {stats.running_seconds:.0f} s"
        body = Readiness(status="not ready" if reason else "ready", reason=reason)
        return JSONResponse(body.model_dump(exclude_none=True), 503 if reason else 200)

    @app.get("/metrics", include_in_schema=False)
    async def scrape() -> Response:
        return Response(metrics.text(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def page(request: Request) -> Response:
        return HTMLResponse(request.app.state.page)

    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema without its 422 responses: validation errors are answered with 400 here."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        for model in (TranscriptionJson, TranscriptionVerbose):  # referenced by the transcription route
            for name, sub in model.model_json_schema(ref_template="#/components/schemas/{model}").pop("$defs", {}).items():
                components.setdefault(name, sub)
            components.setdefault(model.__name__, model.model_json_schema(ref_template="#/components/schemas/{model}"))
            components[model.__name__].pop("$defs", None)
        app.openapi_schema = schema
    return app.openapi_schema


def _metrics(batcher: Batcher, load: GuardLoad, slots: SmallestFirst, passes: StreamPasses) -> Metrics:
    """The app's metrics: the gauges read the batcher and the guard when scraped."""
    def busy_ratio() -> float:
        stats = batcher.stats()
        return stats.busy_seconds / max(time.monotonic() - started, 1e-9)

    started = time.monotonic()
    metrics = Metrics({
        "polyasr_queue_length": ("Requests waiting for the model worker", lambda: batcher.stats().queue_length),
        "polyasr_model_workers": ("Model workers running (serve --ray: model replicas)", lambda: batcher.stats().workers),
        "polyasr_requests_resent": ("Requests sent to another model replica after theirs was lost before they started",
                                    lambda: batcher.stats().resent),
        "polyasr_replica_queued": ("Requests in the model replicas' queues, not started (serve --ray)",
                                   lambda: batcher.stats().replica_queued),
        "polyasr_queued_audio_seconds": ("Audio of the requests waiting and running", lambda: batcher.stats().queued_audio_seconds),
        "polyasr_worker_busy_ratio": ("Share of the time since start the model worker was busy", busy_ratio),
        "polyasr_in_progress": ("Requests and streams in progress (probes excluded)", lambda: load.in_flight),
        "polyasr_spooled_bytes": ("Request bodies held by requests in progress", lambda: load.spooled),
        "polyasr_open_streams": ("WebSocket streams open", lambda: len(metrics.open_streams)),
        "polyasr_decode_slot_waiters": ("Uploads waiting for a decode slot", lambda: slots.waiters),
        "polyasr_stream_model_seconds": ("Time the model worker spent on the streams' updates", lambda: passes.model_seconds),
        "polyasr_stream_audio_seconds": ("Audio the streams' updates decoded", lambda: passes.audio_seconds),
        "polyasr_stream_passes": ("Shared calls that ran the streams' updates", lambda: passes.passes),
        "polyasr_stream_updates": ("Stream updates those calls held", lambda: passes.updates),
    })
    return metrics


def create_app(recognizer: Recognizer, options: ServerOptions = ServerOptions(), batcher: Batcher | None = None) -> FastAPI:
    """The FastAPI app serving `recognizer`; its model worker starts with the app and stops with it.

    `batcher`: where model work goes (None: a `Batcher` of `recognizer` in this process; Ray Serve's
    ingress passes one that hands it to model replicas, see ray_serve.py)."""
    options = replace(options, model_alias=options.model_alias or model_alias(recognizer.model.name))
    batcher = batcher if batcher is not None else Batcher(recognizer, options.batcher)
    load = GuardLoad()
    slots = SmallestFirst(options.decode_slots)  # uploads decoded at once (routes.py), smallest first
    passes = StreamPasses(partial(batcher.run, stream=True))  # the streams' updates, run together
    metrics = _metrics(batcher, load, slots, passes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.stopping = asyncio.Event()  # set when the server begins to stop (http.GuardedServer)
        batcher.start()
        logger.info("serving %s (%s) as '%s'", recognizer.model.name, recognizer.model.describe(), options.model_alias)
        try:
            yield {"socket_counters": metrics.socket_counters}  # server/http.py's protocol counts into the metrics
        finally:
            await run_in_threadpool(batcher.stop)

    app = FastAPIOffline(
        title="polyasr", version=__version__, lifespan=lifespan,
        description=f"Speech recognition in {languages_phrase(len(recognizer.languages()))} with the model "
                    f"{options.model_alias} (CTC), with an OpenAI-compatible API. "
                    "Errors: 400 bad parameter or empty file, 401 API key, 403 foreign web origin, 408 time limit, "
                    "413 size or duration limit, 415 not decodable audio, 503 busy (Retry-After).",
    )
    app.state.recognizer, app.state.options, app.state.batcher = recognizer, options, batcher
    app.state.metrics, app.state.decode_slots = metrics, slots
    app.state.created = int(time.time())
    app.state.page = page_html(recognizer, options.model_alias)
    install_error_handlers(app)
    app.include_router(api_router(options))
    add_streaming_route(app, recognizer, partial(batcher.run, stream=True), limits=options.streams,
                        open_streams=metrics.open_streams, passes=passes,
                        allowed_origins=options.cors_origins, decoding=(options.batcher.transcribe or TranscribeOptions()).decoder)
    _page_routes(app, metrics)
    app.add_middleware(GuardMiddleware, api_keys=tuple(options.api_keys), max_upload_bytes=options.max_upload_bytes,
                       margin_bytes=FORM_MARGIN_BYTES, body_timeout=options.upload_timeout_seconds,
                       allowed_origins=options.cors_origins, allowed_hosts=options.allowed_hosts,
                       max_in_flight=options.max_connections, retry_after=options.retry_after_seconds,
                       max_spool_bytes=options.max_spool_bytes, load=load)
    if options.cors_origins:  # added last: outermost, so preflight requests are answered before the key check
        app.add_middleware(CORSMiddleware, allow_origins=list(options.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # outermost: sees every answer, CORS's and the guard's too
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
