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
   * ``api_key``: the server's API key, when it has one (browsers cannot set headers on a
     WebSocket); an ``Authorization: Bearer KEY`` header works too.

2. The server answers ``{"type": "ready", "language": "de" | null, "sample_rate": 16000}``, or,
   for a bad parameter or key, ``{"type": "error", "message": "..."}`` and closes the connection
   with code 1008 (policy violation).
3. The client sends binary messages of raw PCM, split anywhere (a sample may straddle two messages).
4. The server sends JSON text messages as the audio is decoded (see ``polyasr.streaming``):
   ``{"type": "partial", "text", "start", "end"}`` (replaces the previous partial) and
   ``{"type": "final", "segment": {"id", "start", "end", "text", "words": [{"word", "start",
   "end", "probability"}]}}`` (replaces the partial; times in seconds from the stream's start).
5. The client sends the text message ``{"type": "end"}``; the server decodes what is left, sends the
   last events and ``{"type": "done", "duration": seconds}``, and closes with code 1000. If the client
   simply closes, the server stops. A text message that is not ``{"type": "end"}`` gets an error
   event and close code 1003; a full model queue, an error event and close code 1013 (try again
   later); a failure inside the server, an error event and close code 1011.

All model work runs through ``run`` (the server's single model worker), one update at a time. Audio
keeps being received while the model works, and each update takes all of it, so a stream on a slow
machine catches up instead of lagging further and further behind.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable, Sequence

import numpy as np
from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from ..audio import SAMPLE_RATE
from ..errors import PolyasrError
from ..streaming import PCM_FORMATS, PcmDecoder, StreamingOptions, StreamingSession
from ..transcriber import Recognizer
from .batcher import QueueFullError
from .guard import api_key_valid, bearer_token

Runner = Callable[[Callable[[], Any]], Awaitable[Any]]  # runs a function on the model worker
CLOSE_NORMAL, CLOSE_UNSUPPORTED, CLOSE_POLICY, CLOSE_ERROR, CLOSE_BUSY = 1000, 1003, 1008, 1011, 1013
INBOX_MESSAGES = 256  # client messages held while the model works; beyond this the client waits


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


def _presented_key(websocket: WebSocket) -> str | None:
    return bearer_token(websocket.headers.get("authorization")) or websocket.query_params.get("api_key")


def _int_param(websocket: WebSocket, name: str, default: int) -> int:
    value = websocket.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise StreamClosed(CLOSE_POLICY, f"{name} must be an integer, got {value!r}") from None


def _open_stream(websocket: WebSocket, recognizer: Recognizer, options: StreamingOptions, api_keys: tuple[str, ...]) -> tuple[PcmDecoder, StreamingSession]:
    """Check the key and the query parameters; StreamClosed if they are not acceptable."""
    if not api_key_valid(api_keys, _presented_key(websocket)):
        raise StreamClosed(CLOSE_POLICY, "invalid or missing API key: pass ?api_key=KEY or Authorization: Bearer KEY")
    params = websocket.query_params
    fmt = params.get("format", "pcm_s16le")
    if fmt not in PCM_FORMATS:
        raise StreamClosed(CLOSE_POLICY, f"unsupported format {fmt!r}; use one of: {', '.join(PCM_FORMATS)}")
    try:
        decoder = PcmDecoder(fmt, _int_param(websocket, "sample_rate", SAMPLE_RATE), _int_param(websocket, "channels", 1))
        session = StreamingSession(recognizer, params.get("language", "auto") or "auto", options)
    except (ValueError, PolyasrError) as error:
        raise StreamClosed(CLOSE_POLICY, str(error)) from None
    return decoder, session


async def _receive(websocket: WebSocket, inbox: "asyncio.Queue[dict]") -> None:
    """Move the client's messages into `inbox` (bounded: a client far ahead waits), up to its disconnect."""
    try:
        while True:
            message = await websocket.receive()
            await inbox.put(message)
            if message["type"] == "websocket.disconnect":
                return
    except Exception:  # noqa: BLE001 - a broken connection ends the stream like a disconnect
        await inbox.put({"type": "websocket.disconnect"})


async def _pump(websocket: WebSocket, decoder: PcmDecoder, session: StreamingSession, run: Runner) -> None:
    """Decode audio until the client ends the stream, sending the events. Raises StreamClosed at the end.

    Messages are received while the model works; each model call takes all audio received by then,
    so a stream on a slow machine catches up (see StreamingOptions.catch_up) instead of lagging more.
    """
    inbox: asyncio.Queue[dict] = asyncio.Queue(maxsize=INBOX_MESSAGES)
    receiver = asyncio.create_task(_receive(websocket, inbox))
    waiting: list[np.ndarray] = []  # decoded samples not yet handed to the model worker
    count = 0
    try:
        while True:
            messages = [await inbox.get()]
            while not inbox.empty():
                messages.append(inbox.get_nowait())
            end = False
            for message in messages:
                if message["type"] == "websocket.disconnect":
                    raise StreamClosed(CLOSE_NORMAL)
                if message.get("bytes") is not None:
                    waiting.append(decoder.decode(message["bytes"]))
                    count += len(waiting[-1])
                    continue
                try:
                    request = json.loads(message.get("text") or "")
                except json.JSONDecodeError:
                    request = None
                if not isinstance(request, dict) or request.get("type") != "end":
                    raise StreamClosed(CLOSE_UNSUPPORTED, 'text messages must be {"type": "end"}; send audio as binary messages')
                end = True
                break
            if end:
                rest = np.concatenate(waiting + [decoder.flush()])
                events = await run(lambda: session.feed(rest) + session.finish())
                for event in events + [{"type": "done", "duration": round(session.seconds, 3)}]:
                    await websocket.send_json(event)
                raise StreamClosed(CLOSE_NORMAL)
            if count >= session.step_samples:
                chunk, waiting, count = np.concatenate(waiting), [], 0
                for event in await run(lambda: session.feed(chunk)):
                    await websocket.send_json(event)
    finally:
        receiver.cancel()


def add_streaming_route(
    app: FastAPI,
    recognizer: Recognizer,
    run: Runner,
    path: str = "/v1/audio/stream",
    options: StreamingOptions = StreamingOptions(),
    api_keys: Sequence[str] | None = None,
) -> None:
    """Serve live transcription at `path` (see the module docstring for the protocol).

    `api_keys`: clients must present one of them; None: the keys configured on the app, if any.
    """

    @app.websocket(path)
    async def stream_audio(websocket: WebSocket) -> None:
        await websocket.accept()
        keys = tuple(api_keys) if api_keys is not None else configured_api_keys(app)
        try:
            decoder, session = _open_stream(websocket, recognizer, options, keys)
            await websocket.send_json({"type": "ready", "language": session.language, "sample_rate": SAMPLE_RATE})
            await _pump(websocket, decoder, session, run)
        except StreamClosed as closed:
            await _close(websocket, closed.code, closed.message)
        except WebSocketDisconnect:
            return
        except QueueFullError as error:
            await _close(websocket, CLOSE_BUSY, f"server busy: {error}; try again later")
        except Exception as error:  # noqa: BLE001 - the client gets a message instead of a dropped connection
            await _close(websocket, CLOSE_ERROR, f"internal error: {type(error).__name__}: {error}")


async def _close(websocket: WebSocket, code: int, message: str | None) -> None:
    """Send the error event (if any) and close, unless the client is already gone."""
    if websocket.client_state != WebSocketState.CONNECTED or websocket.application_state != WebSocketState.CONNECTED:
        return
    try:
        if message:
            await websocket.send_json({"type": "error", "message": message})
        await websocket.close(code)
    except (WebSocketDisconnect, RuntimeError):
        pass
