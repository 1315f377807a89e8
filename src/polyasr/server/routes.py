"""The ``/v1`` routes: OpenAI-compatible transcription, language identification, models, languages.

Each upload is decoded in the thread pool straight from the multipart parser's spooled file (in
memory up to 1 MiB, above that an anonymous temporary file closed, and so deleted, when the request
ends; nothing is written under a name the client chose), at most `decode_slots` at once (smallest
upload first, slots.py), and under
the duration budget: decoding stops at `max_audio_seconds` (413), so a small file of hours of
silence never costs more than that. The samples then go to the batcher. A deadline covers
decoding, waiting and inference (408). Every error about the upload names it by its file name.
See errors.py for the status codes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, Optional

import numpy as np
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPBearer

from ..audio.decode import SAMPLE_RATE, load_audio
from ..audio.repairs import SampleRepairs
from ..decoding import DecoderError, LanguageModelError
from ..decoding.options import Hotword, parse_hotwords
from ..errors import AudioError, AudioTooLongError, LanguageError, OptionsError, PolyasrError
from ..language.catalogue import language_name
from ..diarization import DiarizationOptions
from ..language.choice import LanguageChoice
from ..recognizer import Recognizer
from ..output.base import WriterOptions
from ..output.writers import get_writer
from .batcher import BatcherClosedError, QueueFullError
from .errors import ApiError, ErrorResponse, audio_error, language_error
from .options import ServerOptions
from .slots import SmallestFirst
from .sse import TextFeed, events_response, result_events
from .schemas import (
    DetectedLanguage, Granularity, LanguageDetection, LanguageEntry, ModelCard, ModelList, ResponseFormat,
    TranscriptionJson, verbose_json,
)


logger = logging.getLogger("polyasr.server")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse} for status in statuses}


class _Deadline:
    """The time left of one request."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.end = seconds, time.monotonic() + seconds

    async def wait(self, awaitable: Any) -> Any:
        try:
            return await asyncio.wait_for(awaitable, max(self.end - time.monotonic(), 0.0))
        except asyncio.TimeoutError:
            raise ApiError(408, f"the request took longer than the server's limit of {self.seconds:g} s", "timeout") from None


def upload_name(file: UploadFile) -> str:
    """The upload's file name as errors show it (printable, at most 120 characters), or 'the upload'."""
    name = "".join(c for c in (file.filename or "") if c.isprintable()).strip()
    return repr(name[:120]) if name else "the upload"


def _named(error: AudioError, name: str) -> AudioError:
    """`error` with the upload's name in place of the placeholder ('<array>', '<bytes>') library code uses."""
    message = str(error)
    for placeholder in ("<array>", "<bytes>", "<file object>"):
        if message.startswith(placeholder):
            return type(error)(name + message[len(placeholder):])
    return error


def retry_after(state: Any) -> str:
    """Seconds until the queued audio is done at the measured speed (the option's value before any measurement)."""
    wait = state.batcher.stats().expected_wait()
    return str(state.options.retry_after_seconds if wait is None else min(max(math.ceil(wait), 1), 3600))


async def _cancel_when_gone(request: Request, future: "asyncio.Future[Any]", name: str) -> None:
    """Cancel `future` (work not yet started is then skipped by the worker) when the client disconnects; log it."""
    while not future.done():
        message = await request.receive()
        if message["type"] == "http.disconnect":
            future.cancel()  # the worker skips it unless it already started
            logger.info("the client of %s disconnected; its transcription is cancelled (discarded if it already started)", name)
            return


def _queued(state: Any, submit: Any) -> "asyncio.Future[Any]":
    """Submit to the batcher; 503 when its queue is full."""
    try:
        future: Future = submit()
    except QueueFullError as error:
        retry = retry_after(state)
        raise ApiError(503, f"the server is busy: {error}; retry later", "server_busy", headers={"Retry-After": retry}) from None
    except BatcherClosedError:
        raise ApiError(503, "the server is shutting down", "shutting_down") from None
    return asyncio.wrap_future(future)


async def _decode(request: Request, file: UploadFile, deadline: _Deadline) -> tuple[np.ndarray, str | None]:
    """The upload as 16 kHz mono samples, decoded in the thread pool under the duration budget, and the
    warning about samples repaired on the way (NaN or infinite: silence), if any; 400/408/413/415."""
    state = request.app.state
    options: ServerOptions = state.options
    name = upload_name(file)
    if file.size is not None and file.size > options.max_upload_bytes:
        raise ApiError(413, f"{name} is larger than the server's limit of {options.max_upload_mb:g} MB", "file_too_large", "file")
    if not file.size:
        raise ApiError(400, f"{name} is empty", "empty_file", "file")
    slots: SmallestFirst = state.decode_slots  # the smallest upload waiting gets the next free slot
    await deadline.wait(slots.acquire(file.size))
    # The slot is held until the decoding thread ends, even when the request gives up earlier.
    repairs = SampleRepairs()
    decoding = asyncio.ensure_future(run_in_threadpool(
        load_audio, file.file, repairs=repairs, max_seconds=options.max_audio_seconds, name=name))
    decoding.add_done_callback(lambda done: (slots.release(), done.cancelled() or done.exception()))
    try:
        return await deadline.wait(asyncio.shield(decoding)), repairs.warning(name)
    except AudioTooLongError as error:
        raise ApiError(413, f"{name}: the audio is longer than the server's limit of {options.max_audio_seconds:g} s",
                       "audio_too_long", "file") from error
    except AudioError as error:
        raise audio_error(error) from None


MAX_HOTWORDS = 100  # hotwords one prompt may carry


def _prompt_hotwords(prompt: str | None) -> tuple[Hotword, ...]:
    """The prompt as hotwords: comma- or line-separated entries ("Müller, Zwickau:8"), or its words."""
    text = (prompt or "").strip()
    if "," not in text and "\n" not in text:
        text = ",".join(text.split())
    try:
        hotwords = parse_hotwords(text)
    except OptionsError as error:
        raise ApiError(400, f"prompt: {error}", "invalid_request_error", "prompt") from None
    if len(hotwords) > MAX_HOTWORDS:
        raise ApiError(400, f"prompt: {len(hotwords)} hotwords; at most {MAX_HOTWORDS} are accepted",
                       "invalid_request_error", "prompt")
    return hotwords


def _language(language: str | None) -> LanguageChoice:
    """The request's language choice ('auto', 'detect', 'multi' or a language; the model checks the language)."""
    try:
        return LanguageChoice.parse(language)
    except LanguageError as error:
        raise language_error(error) from None


def _render(result: Any, response_format: str, granularities: set[str], writer: WriterOptions) -> Response:
    if response_format == "json":
        return JSONResponse(TranscriptionJson(text=result.text).model_dump())
    if response_format == "text":
        return PlainTextResponse(result.text + "\n")
    if response_format == "verbose_json":
        body = verbose_json(result, granularities)
        return JSONResponse(body.model_dump(exclude={k for k in ("segments", "words") if getattr(body, k) is None}))
    media = "text/vtt" if response_format == "vtt" else "text/plain"
    return Response(get_writer(response_format, writer).format(result), media_type=f"{media}; charset=utf-8")


def _job_error(error: BaseException, name: str) -> ApiError:
    """The error response for a transcription job's failure."""
    if isinstance(error, AudioError):
        return audio_error(_named(error, name))
    if isinstance(error, LanguageError):  # a language the model lacks, or "detect" without a language table
        return language_error(error)
    if isinstance(error, (DecoderError, LanguageModelError)):  # beam search unavailable (no polyasr[lm]) or its LM unusable
        return ApiError(400, f"prompt: {error}", "invalid_request_error", "prompt")
    if isinstance(error, PolyasrError):  # diarization's parts are not installed
        return ApiError(501, str(error), "diarization_unavailable", "diarize")
    if isinstance(error, BatcherClosedError):
        return ApiError(503, "the server is shutting down", "shutting_down")
    logger.error("transcription of %s failed", name, exc_info=error)
    return ApiError(500, "internal server error", "server_error")


_TEXT_CONTENT = {"schema": {"type": "string"}}
TRANSCRIPTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "json and verbose_json: JSON; text and srt: text/plain; vtt: text/vtt; stream=true: server-sent events",
        "content": {
            "application/json": {"schema": {"anyOf": [
                {"$ref": "#/components/schemas/TranscriptionJson"}, {"$ref": "#/components/schemas/TranscriptionVerbose"},
            ]}},
            "text/plain": _TEXT_CONTENT, "text/vtt": _TEXT_CONTENT,
            "text/event-stream": {"schema": {"type": "string", "description": "stream=true: transcript.text.delta "
                                                                              "events, then transcript.text.done"}},
        },
    },
    **error_responses(400, 401, 408, 413, 415, 501, 503),
}


def api_router(options: ServerOptions) -> APIRouter:
    security = [Depends(HTTPBearer(auto_error=False, description="one of the server's API keys"))] if options.api_keys else []
    router = APIRouter(prefix="/v1", dependencies=security)

    @router.post("/audio/transcriptions", response_model=None, responses=TRANSCRIPTION_RESPONSES,
                 summary="Transcribe audio (OpenAI-compatible)")
    async def create_transcription(
        request: Request,
        file: UploadFile = File(description="audio or video in any common format"),
        model: Optional[str] = Form(None, description="accepted and ignored: the server has one model"),
        language: str = Form("auto", description="'auto', 'detect', 'multi' (a language per segment: mixed-language "
                             "speech), or a code such as 'de' (or an English name)"),
        prompt: Optional[str] = Form(None, description="hotwords for beam search: names and terms to favour, "
                                     "comma-separated with an optional :weight each (without commas: its words)"),
        response_format: ResponseFormat = Form("json"),
        temperature: float = Form(0.0, description="accepted and ignored: decoding is greedy"),
        timestamp_granularities: list[Granularity] = Form(
            [], alias="timestamp_granularities[]", description="verbose_json: 'segment' (default) and/or 'word'"),
        diarize: bool = Form(False, description="polyasr extra: label speakers (verbose_json segments, srt/vtt cues)"),
        stream: bool = Form(False, description="server-sent events as OpenAI sends them: transcript.text.delta as the "
                            "upload's windows are transcribed, then transcript.text.done"),
    ) -> Response:
        state = request.app.state
        deadline = _Deadline(state.options.timeout_seconds)
        choice = _language(language)
        hotwords = _prompt_hotwords(prompt)
        audio, repaired = await _decode(request, file, deadline)
        name = upload_name(file)
        words = response_format in ("verbose_json", "srt", "vtt")  # scores for verbose_json, cue splits for subtitles
        feed = TextFeed() if stream and not diarize else None  # the text so far, as the upload's windows finish
        if diarize:  # its own job on the worker: diarization does not batch
            base = state.batcher.options_with(hotwords)
            options = replace(base, language=choice, word_timestamps=words,
                              diarization=base.diarization or DiarizationOptions())
            work = lambda: state.recognizer.transcribe(audio, options, sampling_rate=SAMPLE_RATE)  # noqa: E731
            submitted = lambda: state.batcher.submit(work, len(audio) / SAMPLE_RATE)  # noqa: E731
        else:
            submitted = lambda: state.batcher.submit_transcription(audio, choice, words, hotwords, feed)  # noqa: E731
        future = _queued(state, submitted)
        watcher = asyncio.ensure_future(_cancel_when_gone(request, future, name))
        seconds, streaming = len(audio) / SAMPLE_RATE, False
        try:
            if feed is not None and await deadline.wait(feed.first(future)):  # text before the end: stream it now
                watcher.cancel()  # the streaming response watches for the client leaving itself
                streaming = True
                return events_response(feed.live(future, deadline.end, lambda error: _job_error(error, name),
                                                 lambda _: state.metrics.audio.inc(seconds)))
            result = await deadline.wait(future)
        except asyncio.CancelledError:
            if watcher.done() and not watcher.cancelled():  # the client left and its job was cancelled
                return Response(status_code=499)  # nobody reads it; uvicorn logs it
            raise
        except ApiError:
            raise
        except Exception as error:  # noqa: BLE001 - the job's own error, answered as _job_error says
            raise _job_error(error, name) from None
        finally:
            watcher.cancel()
            if not streaming:
                future.cancel()  # a no-op once done; a request that failed (408) stops its job before the next pass
        state.metrics.audio.inc(seconds)
        if repaired:
            result = replace(result, warnings=(repaired, *result.warnings))
        if stream:
            return events_response(result_events(result))
        return _render(result, response_format, set(timestamp_granularities), state.options.writer)

    @router.post("/audio/language", response_model=LanguageDetection, responses=error_responses(400, 401, 408, 413, 415, 503),
                 summary="Identify the spoken language")
    async def detect_language(
        request: Request,
        file: UploadFile = File(description="audio or video in any common format"),
        top: int = Form(5, ge=1, description="how many languages to list"),
        candidates: Optional[str] = Form(None, description="comma-separated codes to choose among, e.g. 'de,fr,it'"),
    ) -> LanguageDetection:
        state = request.app.state
        deadline = _Deadline(state.options.timeout_seconds)
        chosen = [c.strip() for c in (candidates or "").split(",") if c.strip()] or None
        try:
            for candidate in chosen or []:
                state.recognizer.resolve_language(candidate)
        except LanguageError as error:
            raise language_error(error, "candidates") from None
        audio, _ = await _decode(request, file, deadline)
        work = lambda: state.recognizer.detect_language(  # noqa: E731
            audio, top=top, sampling_rate=SAMPLE_RATE, language_candidates=tuple(chosen) if chosen else None)
        try:
            ranked = await deadline.wait(_queued(state, lambda: state.batcher.submit(work, len(audio) / SAMPLE_RATE)))
        except AudioError as error:
            raise audio_error(_named(error, upload_name(file))) from None
        except LanguageError as error:  # e.g. a model without a language table
            raise language_error(error, "candidates") from None
        return LanguageDetection(
            languages=[DetectedLanguage(language=c, name=language_name(c), probability=p) for c, p in ranked],
            duration=len(audio) / SAMPLE_RATE,
        )

    @router.get("/models", response_model=ModelList, responses=error_responses(401), summary="The one model")
    async def list_models(request: Request) -> ModelList:
        return ModelList(data=[_model_card(request)])

    @router.get("/models/{model_id:path}", response_model=ModelCard, responses=error_responses(401, 404))
    async def retrieve_model(request: Request, model_id: str) -> ModelCard:
        card = _model_card(request)
        if model_id not in (card.id, card.model_name):
            raise ApiError(404, f"the model '{model_id}' does not exist; this server has '{card.id}'", "model_not_found", "model")
        return card

    @router.get("/languages", response_model=list[LanguageEntry], responses=error_responses(401),
                summary="Languages decoding can be restricted to")
    async def list_languages(request: Request) -> list[LanguageEntry]:
        return [LanguageEntry(code=c, name=language_name(c)) for c in request.app.state.recognizer.languages()]

    return router


def _model_card(request: Request) -> ModelCard:
    state = request.app.state
    model = state.recognizer.model
    return ModelCard(id=state.options.model_alias, created=state.created, model_name=model.name, facts=model.describe())


