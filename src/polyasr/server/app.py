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

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from ..version import VERSION as __version__
from ..options import TranscribeOptions
from ..recognizer import Recognizer
from .batcher import Batcher
from .errors import install_error_handlers
from .guard import GuardMiddleware
from .options import ServerOptions
from .routes import api_router
from .schemas import Health, TranscriptionJson, TranscriptionVerbose
from .stream_route import add_streaming_route

logger = logging.getLogger("polyasr.server")
STATIC_DIR = Path(__file__).resolve().parent / "static"
FORM_MARGIN_BYTES = 64 * 1024  # request bytes allowed beyond the upload limit, for the other form fields
PLACEHOLDER_PAGE = "<!doctype html><title>polyasr</title><h1>polyasr</h1><p>API: <a href='/docs'>/docs</a></p>\n"

__all__ = ["STATIC_DIR", "ServerOptions", "create_app"]


def _page_routes(app: FastAPI) -> None:
    @app.get("/health", response_model=Health, summary="Liveness and load (no API key needed)")
    async def health(request: Request) -> Health:
        state = request.app.state
        backend = state.recognizer.model.backend
        return Health(
            model=state.recognizer.model.name, model_alias=state.options.model_alias, device=backend.device,
            dtype=backend.precision, threads=backend.threads,
            queue_length=state.batcher.queue_length, queue_size=state.options.batcher.queue_size, max_batch=state.options.batcher.max_batch,
        )

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        index = STATIC_DIR / "index.html"
        if index.is_file():
            return HTMLResponse(index.read_text(encoding="utf-8"))
        return HTMLResponse(PLACEHOLDER_PAGE)

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


def create_app(recognizer: Recognizer, options: ServerOptions = ServerOptions()) -> FastAPI:
    """The FastAPI app serving `recognizer`; its model worker starts with the app and stops with it."""
    batcher = Batcher(recognizer, options.batcher)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.decode_slots = asyncio.Semaphore(options.decode_slots)
        batcher.start()
        logger.info("serving %s (%s) as '%s'", recognizer.model.name, recognizer.model.describe(), options.model_alias)
        try:
            yield
        finally:
            await run_in_threadpool(batcher.stop)

    app = FastAPI(
        title="polyasr", version=__version__, lifespan=lifespan,
        description="Multilingual speech recognition (wav2vec2 CTC, 56 languages) with an OpenAI-compatible API. "
                    "Errors: 400 bad parameter or empty file, 401 API key, 403 foreign web origin, 408 time limit, "
                    "413 size or duration limit, 415 not decodable audio, 503 busy (Retry-After).",
    )
    app.state.recognizer, app.state.options, app.state.batcher = recognizer, options, batcher
    app.state.created = int(time.time())
    install_error_handlers(app)
    app.include_router(api_router(options))
    add_streaming_route(app, recognizer, partial(batcher.run, stream=True), limits=options.streams,
                        allowed_origins=options.cors_origins, decoding=(options.batcher.transcribe or TranscribeOptions()).decoder)
    _page_routes(app)
    app.add_middleware(GuardMiddleware, api_keys=tuple(options.api_keys), max_upload_bytes=options.max_upload_bytes,
                       margin_bytes=FORM_MARGIN_BYTES, body_timeout=options.upload_timeout_seconds,
                       allowed_origins=options.cors_origins, allowed_hosts=options.allowed_hosts)
    if options.cors_origins:  # added last: outermost, so preflight requests are answered before the key check
        app.add_middleware(CORSMiddleware, allow_origins=list(options.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], max_age=600)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
