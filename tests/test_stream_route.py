"""The WebSocket streaming endpoint, against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from audio_factory import voiced
from live_server import live_server
from polyasr.server import ServerOptions, StreamLimits, create_app
from polyasr.server.stream_route import add_streaming_route
from polyasr.streaming.session import StreamingOptions, StreamingSession

KEY = "s3cret"


def thread_runner(fn):
    return asyncio.to_thread(fn)


@pytest.fixture(scope="module")
def server(recognizer):
    """The service's app (create_app adds the streaming route, run through its model worker)."""
    app = create_app(recognizer)
    with live_server(app) as url:
        yield url.replace("http://", "ws://")


@pytest.fixture(scope="module")
def keyed_server(recognizer):
    """The service's app with API keys; and a bare app with its own key and a thread as worker."""
    app = create_app(recognizer, ServerOptions(api_keys=("other", KEY)))
    bare = FastAPI()
    add_streaming_route(bare, recognizer, thread_runner, path="/keyed", api_keys=[KEY], limits=StreamLimits(idle_seconds=1.0))
    with live_server(app) as url, live_server(bare) as bare_url:
        yield url.replace("http://", "ws://") + "/v1/audio/stream", bare_url.replace("http://", "ws://") + "/keyed"


def talk(url: str, chunks: list[bytes], end: bool = True, first: str | bytes | None = None,
         **headers: str) -> tuple[list[dict], int | None]:
    """Send `first` (if any), then, once ready, the chunks (and the end message); every event received and the close code."""
    events = []
    with connect(url, additional_headers=headers, open_timeout=10) as ws:
        try:
            if first is not None:
                ws.send(first)
            first = json.loads(ws.recv(timeout=10))
            events.append(first)
            if first["type"] == "ready":
                for chunk in chunks:
                    ws.send(chunk)
                if end:
                    ws.send(json.dumps({"type": "end"}))
            while True:
                events.append(json.loads(ws.recv(timeout=30)))
        except ConnectionClosed as closed:
            return events, closed.rcvd.code if closed.rcvd else None
    raise AssertionError("unreachable")


def pcm16(samples: np.ndarray, piece: int) -> list[bytes]:
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return [data[i : i + piece] for i in range(0, len(data), piece)]


def test_stream_gives_partials_then_finals_then_done(server) -> None:
    samples = np.r_[voiced(1.2), np.zeros(4000, np.float32), voiced(0.8)]
    events, code = talk(f"{server}/v1/audio/stream?language=de", pcm16(samples, 3201))  # odd: samples split
    assert code == 1000
    assert events[0] == {"type": "ready", "language": "de", "sample_rate": 16000}
    assert events[-1] == {"type": "done", "duration": pytest.approx(len(samples) / 16000, abs=0.001)}
    segments = [e["segment"] for e in events if e["type"] == "final"]
    assert segments and [s["id"] for s in segments] == list(range(len(segments)))
    assert all(e["type"] in ("partial", "final") for e in events[1:-1]) and events[-2]["type"] == "final"
    assert set("".join(s["text"] for s in segments)) <= set("abcdefghijklmnopqrstuvwxyz'äöüß ")


def test_without_catch_up_the_stream_gives_exactly_the_events_of_a_local_session(recognizer) -> None:
    app = FastAPI()
    add_streaming_route(app, recognizer, thread_runner, options=StreamingOptions(catch_up=False))
    samples = np.r_[voiced(1.2), np.zeros(4000, np.float32), voiced(0.8)]
    with live_server(app) as url:
        events, code = talk(url.replace("http", "ws") + "/v1/audio/stream?language=de", pcm16(samples, 3201))
    assert code == 1000
    session = StreamingSession(recognizer, "de", StreamingOptions(catch_up=False))
    quantised = np.frombuffer(b"".join(pcm16(samples, 10**9)), "<i2").astype(np.float32) / 32768
    assert events[1:-1] == [event.to_json() for event in session.feed(quantised) + session.finish()]


def test_other_rates_and_float_samples_are_resampled(server) -> None:
    rate = 44_100
    x = np.interp(np.arange(int(1.5 * rate)) * 16_000 / rate, np.arange(24_000), voiced(1.5)).astype("<f4")
    data = x.tobytes()
    events, code = talk(f"{server}/v1/audio/stream?sample_rate={rate}&format=f32le", [data[i : i + 8820] for i in range(0, len(data), 8820)])
    assert code == 1000
    finals = [e["segment"] for e in events if e["type"] == "final"]
    assert finals and finals[-1]["text"] and finals[-1]["end"] <= 1.5 + 1e-6
    assert events[-1]["duration"] == pytest.approx(1.5, abs=0.01)


@pytest.mark.parametrize(
    "query, message",
    [
        ("language=xx", "xx"),
        ("language=detect", "detect"),
        ("format=mp3", "format"),
        ("sample_rate=abc", "sample_rate"),
        ("sample_rate=100", "sample rate"),
        ("channels=0", "channel"),
    ],
)
def test_bad_parameters_get_an_error_event_and_close_1008(server, query: str, message: str) -> None:
    events, code = talk(f"{server}/v1/audio/stream?{query}", [])
    assert code == 1008
    assert events[0]["type"] == "error" and message in events[0]["message"]


def test_a_bad_text_message_closes_with_1003(server) -> None:
    with connect(f"{server}/v1/audio/stream") as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        ws.send("hello")
        assert json.loads(ws.recv(timeout=10))["type"] == "error"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 1003


@pytest.mark.parametrize("which", [0, 1])
def test_api_keys_are_required_when_configured(keyed_server, which: int) -> None:
    url = keyed_server[which]
    auth = json.dumps({"type": "auth", "api_key": KEY})
    events, code = talk(url, [], first=b"\0\0" * 800)  # audio before any key
    assert code == 1008 and "API key" in events[0]["message"] and '{"type": "auth"' in events[0]["message"]
    assert talk(url, [], first=json.dumps({"type": "auth", "api_key": "wrong"}))[1] == 1008
    assert talk(f"{url}?api_key=wrong", [])[1] == 1008
    assert talk(f"{url}?api_key={KEY}&language=en", [])[0][0] == {"type": "ready", "language": "en", "sample_rate": 16000}
    assert talk(url, [], Authorization=f"Bearer {KEY}")[0][0]["type"] == "ready"
    events, code = talk(f"{url}?language=en", pcm16(voiced(1.0), 3200), first=auth)  # the key as the first message
    assert code == 1000 and events[0]["type"] == "ready" and events[-1]["type"] == "done"


def test_a_client_that_sends_no_key_is_closed_after_the_idle_time(keyed_server) -> None:
    started = time.monotonic()
    with connect(keyed_server[1], open_timeout=10) as ws:
        event = json.loads(ws.recv(timeout=10))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert event["type"] == "error" and "no API key within 1 s" in event["message"]
    assert closed.value.rcvd.code == 1008 and time.monotonic() - started < 8


def test_an_auth_message_is_ignored_by_a_server_without_keys(server) -> None:
    events, code = talk(f"{server}/v1/audio/stream", pcm16(voiced(0.6), 3200), first=json.dumps({"type": "auth", "api_key": "x"}))
    assert code == 1000 and events[0]["type"] == "ready" and events[-1]["type"] == "done"


def test_a_client_that_just_disconnects_does_not_break_the_server(server) -> None:
    with connect(f"{server}/v1/audio/stream") as ws:
        ws.recv(timeout=10)
        for chunk in pcm16(voiced(1.0), 6400):
            ws.send(chunk)
    events, code = talk(f"{server}/v1/audio/stream", pcm16(voiced(0.6), 6400))
    assert code == 1000 and events[-1]["type"] == "done"


def test_a_slow_model_worker_makes_the_stream_catch_up_instead_of_lagging(recognizer) -> None:
    calls: list[int] = []

    async def slow_runner(fn):
        calls.append(1)
        await asyncio.sleep(0.3)
        return await asyncio.to_thread(fn)

    app = FastAPI()
    add_streaming_route(app, recognizer, slow_runner)
    with live_server(app) as url:
        events, code = talk(url.replace("http", "ws") + "/v1/audio/stream", pcm16(voiced(6.0), 3200))  # 60 messages
    assert code == 1000 and events[-1]["type"] == "done"
    assert len(calls) <= 4  # not one call per 0.5 s step (12)
    assert any(e["type"] == "final" for e in events)
