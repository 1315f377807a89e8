"""WebSocket endpoint for live transcription: raw PCM in, partial and final text out.

Protocol (one stream per connection):

1. Connect to ``ws://HOST/v1/audio/stream?language=de&sample_rate=16000&format=pcm_s16le``.
   Query parameters, all optional:

   * ``language``: ``auto`` (default, every character of the model) or a language code or name
     (decoding restricted to its characters, as in ``POST /v1/audio/transcriptions``).
     ``detect`` is not available for streams.
   * ``sample_rate``: rate of the PCM sent, 8000 to 192000 (default 16000); other rates than
     16000 are resampled on the server (soxr, streaming).
   * ``format``: ``pcm_s16le`` (default, signed 16-bit little-endian) or ``f32le`` (32-bit float).
   * ``channels``: interleaved channels, 1 to 8 (default 1); they are averaged.
   * Endpoints (when a final is sent, streaming/endpoint.py): ``endpoint_seconds`` (silence after
     speech that ends a segment, default 0.5; 0: only the model's pauses), ``min_speech_seconds``
     (speech a segment needs before silence can end it, default 0.2), ``max_utterance_seconds``
     (longest segment; at most the server's 20).

   A handshake whose ``Origin`` header names another site than the server's own (and none of its
   CORS origins) is refused with HTTP 403: a foreign web page cannot drive the server.

   API key (when the server has keys): an ``Authorization: Bearer KEY`` header, or, where headers
   cannot be set (browsers), the first message ``{"type": "auth", "api_key": KEY}``, so the key
   never appears in a URL. ``?api_key=KEY`` still works but puts the key where proxies log URLs
   (the server's own log redacts it).

2. The server answers ``{"type": "ready", "language": "de" | null, "sample_rate": 16000}``, or,
   for a bad parameter or key, ``{"type": "error", "message": "..."}`` and closes the connection
   with code 1008 (policy violation).
3. The client sends binary messages of raw PCM, split anywhere (a sample may straddle two messages).
4. The server sends JSON text messages as the audio is decoded (``polyasr.streaming.events``: each
   message is an event's ``to_json()``):
   ``{"type": "partial", "text", "start", "end", "stable"}`` (replaces the previous partial; its first
   ``stable`` characters will not change) and
   ``{"type": "final", "segment": {"id", "start", "end", "text", "words": [{"word", "start",
   "end", "probability"}]}}`` (replaces the partial; times in seconds from the stream's start).
5. The client sends the text message ``{"type": "end"}``; the server decodes what is left, sends the
   last events and ``{"type": "done", "duration": seconds}``, and closes with code 1000. If the client
   simply closes, the server stops.

Limits (StreamLimits; each ends the stream with ``{"type": "error", "message"}`` and a close code):
1003 a text message other than ``auth`` or ``end``; 1009 a message over ``message_kb``; 1013 when
``max_streams`` streams are open already, when more than ``backlog_seconds`` of audio wait to be
decoded (the client sends faster than real time, faster than the server decodes) or when the
model queue is full; 1001 after ``idle_seconds`` without a message; 1008 ``max_seconds`` after the
stream opened; 1011 a failure inside the server; 1012 when the server stops (SIGTERM).

Scheduling: the received audio waits in the stream's backlog; each update takes at most
``session.samples_per_pass`` of it, and the updates of all streams that are due when the model
worker is free run in one call, their windows in shared forward passes (stream_passes.py), through
``run`` (the server's model worker, whose stream queue alternates with HTTP requests). Audio keeps
being received while the model works, and each update takes all that is waiting (up to a pass),
so a stream on a slow machine catches up instead of lagging further and further behind.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import deque
from dataclasses import replace
from typing import Any, Awaitable, Callable, Sequence

import numpy as np
from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..audio.decode import SAMPLE_RATE
from ..decoding.options import DecoderOptions
from ..errors import PolyasrError
from ..streaming.events import DoneEvent, ErrorEvent, Event, ReadyEvent
from ..streaming.session import PCM_FORMATS, PcmDecoder, StreamingOptions, StreamingSession
from ..language.choice import LanguageChoice
from ..recognizer import Recognizer
from .batcher import QueueFullError
from .guard import api_key_valid, bearer_token, origin_allowed
from .options import StreamLimits
from .stream_passes import StreamPasses

Runner = Callable[[Callable[[], Any]], Awaitable[Any]]  # runs a function on the model worker
CLOSE_NORMAL, CLOSE_IDLE, CLOSE_UNSUPPORTED, CLOSE_POLICY = 1000, 1001, 1003, 1008
CLOSE_TOO_BIG, CLOSE_ERROR, CLOSE_RESTART, CLOSE_BUSY = 1009, 1011, 1012, 1013
KEY_HELP = 'send {"type": "auth", "api_key": KEY} as the first message, or an Authorization: Bearer KEY header'


class StreamClosed(Exception):
    """The connection ended or must end: (close code, error message or None)."""

    def __init__(self, code: int, message: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def configured_api_keys(app: FastAPI) -> tuple[str, ...]:
    """The API keys the app was configured with (app.state.api_keys or its options'); () if none."""
    for holder in (app.state, getattr(app.state, "options", None)):
        keys = getattr(holder, "api_keys", None)
        if keys:
            return tuple(keys)
    return ()


def _int_param(websocket: WebSocket, name: str, default: int) -> int:
    value = websocket.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise StreamClosed(CLOSE_POLICY, f"{name} must be an integer, got {value!r}") from None


def _float_param(websocket: WebSocket, name: str, default: float) -> float:
    value = websocket.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise StreamClosed(CLOSE_POLICY, f"{name} must be a number of seconds, got {value!r}")
    return number


def _stream_options(websocket: WebSocket, options: StreamingOptions) -> StreamingOptions:
    """The server's streaming options with this stream's endpoint rules from the query (OptionsError if bad)."""
    endpoint = replace(options.endpoint, silence_seconds=_float_param(websocket, "endpoint_seconds", options.endpoint.silence_seconds),
                       min_speech_seconds=_float_param(websocket, "min_speech_seconds", options.endpoint.min_speech_seconds))
    longest = min(_float_param(websocket, "max_utterance_seconds", options.max_buffer_seconds), options.max_buffer_seconds)
    return replace(options, endpoint=endpoint, max_buffer_seconds=longest)


def _open_stream(
    websocket: WebSocket, recognizer: Recognizer, options: StreamingOptions, decoding: DecoderOptions
) -> tuple[PcmDecoder, StreamingSession]:
    """The decoder and session the query parameters ask for; StreamClosed if they are not acceptable."""
    params = websocket.query_params
    fmt = params.get("format", "pcm_s16le")
    if fmt not in PCM_FORMATS:
        raise StreamClosed(CLOSE_POLICY, f"unsupported format {fmt!r}; use one of: {', '.join(PCM_FORMATS)}")
    try:
        decoder = PcmDecoder(fmt, _int_param(websocket, "sample_rate", SAMPLE_RATE), _int_param(websocket, "channels", 1))
        session = StreamingSession(recognizer, LanguageChoice.parse(params.get("language")),
                                   _stream_options(websocket, options), decoding)
    except (ValueError, PolyasrError) as error:
        raise StreamClosed(CLOSE_POLICY, str(error)) from None
    return decoder, session


def _request(message: dict) -> dict:
    """A text message as a JSON object ({} if it is not one)."""
    try:
        request = json.loads(message.get("text") or "")
    except json.JSONDecodeError:
        return {}
    return request if isinstance(request, dict) else {}


async def _next_message(websocket: WebSocket, idle_seconds: float) -> dict:
    """The client's next message; StreamClosed when it leaves or stays silent for `idle_seconds`."""
    try:
        message = await asyncio.wait_for(websocket.receive(), idle_seconds)
    except asyncio.TimeoutError:
        raise StreamClosed(CLOSE_IDLE, f"nothing received for {idle_seconds:g} s; the stream is closed") from None
    if message["type"] == "websocket.disconnect":
        raise StreamClosed(CLOSE_NORMAL)
    return message


async def _authenticate(websocket: WebSocket, keys: tuple[str, ...], idle_seconds: float) -> None:
    """Check the key of a header, the query or the first message; StreamClosed(1008) if it is not one of `keys`."""
    if not keys:
        return
    presented = bearer_token(websocket.headers.get("authorization")) or websocket.query_params.get("api_key")
    if presented is None:
        try:
            request = _request(await _next_message(websocket, idle_seconds))
        except StreamClosed as closed:
            if closed.code == CLOSE_IDLE:
                raise StreamClosed(CLOSE_POLICY, f"no API key within {idle_seconds:g} s: {KEY_HELP}") from None
            raise
        key = request.get("api_key") if request.get("type") == "auth" else None
        presented = key if isinstance(key, str) else None
    if not api_key_valid(keys, presented):
        raise StreamClosed(CLOSE_POLICY, f"invalid or missing API key: {KEY_HELP}")


class _Backlog:
    """Decoded audio received but not yet handed to the model: the receiver adds, the decoding loop takes."""

    def __init__(self) -> None:
        self.pieces: deque[np.ndarray] = deque()
        self.samples = 0  # 16 kHz samples waiting
        self.ended = False  # the client sent {"type": "end"}
        self.changed = asyncio.Event()

    def add(self, samples: np.ndarray) -> None:
        if len(samples):
            self.pieces.append(samples)
            self.samples += len(samples)
        self.changed.set()

    def take(self, most: int) -> np.ndarray:
        """The oldest samples waiting, at most `most` of them."""
        taken: list[np.ndarray] = []
        need = most
        while self.pieces and need > 0:
            piece = self.pieces.popleft()
            if len(piece) > need:
                self.pieces.appendleft(piece[need:])
                piece = piece[:need]
            taken.append(piece)
            need -= len(piece)
        out = np.concatenate(taken) if taken else np.zeros(0, np.float32)
        self.samples -= len(out)
        return out


async def _receive(websocket: WebSocket, decoder: PcmDecoder, backlog: _Backlog, limits: StreamLimits) -> None:
    """Move the client's audio into `backlog` until it sends the end; StreamClosed when it breaks a limit or leaves."""
    most = limits.backlog_seconds * SAMPLE_RATE
    while True:
        message = await _next_message(websocket, limits.idle_seconds)
        data = message.get("bytes")
        if data is not None:
            if len(data) > limits.message_bytes:
                raise StreamClosed(CLOSE_TOO_BIG, f"a message of {len(data)} bytes is larger than the server's limit "
                                                  f"of {limits.message_kb:g} KiB; send the audio in smaller pieces")
            backlog.add(decoder.decode(data))
            if backlog.samples > most:
                raise StreamClosed(CLOSE_BUSY, f"more than {limits.backlog_seconds:g} s of audio are waiting to be "
                                               "decoded; send audio no faster than real time")
            continue
        kind = _request(message).get("type")
        if kind == "auth":
            continue  # the key was checked before "ready"; a keyless server ignores it
        if kind != "end":
            raise StreamClosed(CLOSE_UNSUPPORTED, 'text messages must be {"type": "end"} (or {"type": "auth", ...}); '
                                                  "send audio as binary messages")
        backlog.add(decoder.flush())
        backlog.ended = True
        return


async def _send(websocket: WebSocket, events: list[Event]) -> None:
    for event in events:
        await websocket.send_json(event.to_json())


async def _decode(websocket: WebSocket, session: StreamingSession, backlog: _Backlog, run: Runner,
                  passes: StreamPasses) -> None:
    """Decode the backlog, one update at a time (shared with the other streams' updates), sending the events;
    raises StreamClosed(1000) at the end."""
    while True:
        await backlog.changed.wait()
        backlog.changed.clear()
        while backlog.samples >= session.step_samples:
            session.add(backlog.take(session.samples_per_pass))
            await _send(websocket, await passes.update(session))
        if backlog.ended:
            session.add(backlog.take(backlog.samples))  # less than a step: one pass with the end
            await _send(websocket, await run(session.finish))
            await websocket.send_json(DoneEvent(round(session.seconds, 3)).to_json())
            raise StreamClosed(CLOSE_NORMAL)


async def _serve(websocket: WebSocket, decoder: PcmDecoder, session: StreamingSession, run: Runner,
                 passes: StreamPasses, limits: StreamLimits, seconds_left: float) -> None:
    """Receive and decode concurrently until the stream ends; raises StreamClosed (or the error that ended it)."""
    backlog = _Backlog()
    receiver = asyncio.create_task(_receive(websocket, decoder, backlog, limits))
    decoding = asyncio.create_task(_decode(websocket, session, backlog, run, passes))
    stopping = getattr(websocket.app.state, "stopping", None) or asyncio.Event()  # set when the server stops
    stop = asyncio.create_task(stopping.wait())
    try:
        done, _ = await asyncio.wait({receiver, decoding, stop}, timeout=max(seconds_left, 0.0),
                                     return_when=asyncio.FIRST_EXCEPTION)
        for task in (receiver, decoding):
            if task in done and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        if stop in done:
            raise StreamClosed(CLOSE_RESTART, "the server is stopping; reconnect in a moment")
        raise StreamClosed(CLOSE_POLICY, f"the stream reached the server's limit of {limits.max_seconds:g} s; "
                                         "open a new one to go on")
    finally:
        for task in (receiver, decoding, stop):
            task.cancel()
        await asyncio.gather(receiver, decoding, stop, return_exceptions=True)


def add_streaming_route(
    app: FastAPI,
    recognizer: Recognizer,
    run: Runner,
    path: str = "/v1/audio/stream",
    options: StreamingOptions = StreamingOptions(),
    api_keys: Sequence[str] | None = None,
    limits: StreamLimits = StreamLimits(),
    allowed_origins: Sequence[str] = (),
    decoding: DecoderOptions = DecoderOptions(),
    open_streams: set[WebSocket] | None = None,
    passes: StreamPasses | None = None,
) -> None:
    """Serve live transcription at `path` (see the module docstring for the protocol and the limits).

    `api_keys`: clients must present one of them; None: the keys configured on the app, if any.
    `allowed_origins`: web origins besides the server's own whose pages may open streams ("*": any).
    `decoding`: greedy or beam search (the server's `--decoder` options), as for uploads.
    `open_streams`: the set of open streams to keep (the metrics read it); None: a new one.
    `passes`: what runs the streams' updates together through `run` (the metrics read it); None: a new one.
    """
    origins = tuple(allowed_origins)
    passes = passes if passes is not None else StreamPasses(run)
    open_streams = open_streams if open_streams is not None else set()

    @app.websocket(path)
    async def stream_audio(websocket: WebSocket) -> None:
        if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), origins,
                              websocket.scope.get("scheme", "ws")):
            await websocket.close(CLOSE_POLICY)  # before accepting: the handshake is answered with 403
            return
        await websocket.accept()
        opened = time.monotonic()
        keys = tuple(api_keys) if api_keys is not None else configured_api_keys(app)
        try:  # the key first (within auth_seconds): clients without one never hold a stream slot
            await _authenticate(websocket, keys, min(limits.auth_seconds, limits.idle_seconds))
        except StreamClosed as closed:
            await _close(websocket, closed.code, closed.message)
            return
        except WebSocketDisconnect:
            return
        if len(open_streams) >= limits.max_streams:
            await _close(websocket, CLOSE_BUSY, f"the server has {limits.max_streams} streams open already; try again later")
            return
        open_streams.add(websocket)
        try:
            decoder, session = _open_stream(websocket, recognizer, options, decoding)
            await websocket.send_json(ReadyEvent(session.language, SAMPLE_RATE).to_json())
            await _serve(websocket, decoder, session, run, passes, limits, limits.max_seconds - (time.monotonic() - opened))
        except StreamClosed as closed:
            await _close(websocket, closed.code, closed.message)
        except WebSocketDisconnect:
            return
        except QueueFullError as error:
            await _close(websocket, CLOSE_BUSY, f"server busy: {error}; try again later")
        except Exception as error:  # noqa: BLE001 - the client gets a message instead of a dropped connection
            await _close(websocket, CLOSE_ERROR, f"internal error: {type(error).__name__}: {error}")
        finally:
            open_streams.discard(websocket)


async def _close(websocket: WebSocket, code: int, message: str | None) -> None:
    """Send the error event (if any) and close, unless the client is already gone."""
    if websocket.client_state != WebSocketState.CONNECTED or websocket.application_state != WebSocketState.CONNECTED:
        return
    try:
        if message:
            await websocket.send_json(ErrorEvent(message).to_json())
        await websocket.close(code)
    except (WebSocketDisconnect, RuntimeError):
        pass
