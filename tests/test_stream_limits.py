"""WebSocket stream limits and fair scheduling, against real servers on 127.0.0.1 (issue 11's stream findings).

A flooding stream is closed and memory stays bounded while HTTP requests keep their latency; one
model pass per worker call; idle, overlong and surplus streams are closed; foreign origins refused.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
from fastapi import FastAPI  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from audio_factory import voiced  # noqa: E402
from live_server import live_server  # noqa: E402
from load_clients import timed_post, wav_bytes  # noqa: E402
from polyasr.server import Batcher, ServerOptions, StreamLimits, create_app  # noqa: E402
from polyasr.cli.serve import uvicorn_settings  # noqa: E402
from polyasr.server.stream_route import add_streaming_route  # noqa: E402
from test_server_limits import PeakRss, busy_worker, linux_only  # noqa: E402

LOAD_CLIENTS = Path(__file__).with_name("load_clients.py")


@contextmanager
def serving(recognizer: Any, **options: Any) -> Iterator[tuple[str, Any]]:
    """A server run as `polyasr serve` runs it: (ws://HOST:PORT/v1/audio/stream, app)."""
    server_options = ServerOptions(**options)
    app = create_app(recognizer, server_options)
    with live_server(app, **uvicorn_settings(server_options)) as url:
        yield url.replace("http://", "ws://") + "/v1/audio/stream", app


def pcm(seconds: float) -> bytes:
    return (np.clip(voiced(seconds), -1, 1) * 32767).astype("<i2").tobytes()


def closing_event(ws: Any) -> tuple[dict, int]:
    """The error event that precedes the server's close, and the close code."""
    events = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            events.append(json.loads(ws.recv(timeout=20)))
    errors = [event for event in events if event["type"] == "error"]
    return (errors[-1] if errors else {}), closed.value.rcvd.code


@linux_only
def test_oversized_and_too_fast_streams_are_closed_and_memory_stays_bounded(recognizer) -> None:
    big = np.random.default_rng(0).bytes(8 * 1024 * 1024)
    with serving(recognizer) as (url, app), PeakRss() as rss:
        with connect(url, open_timeout=10, max_size=None, compression=None) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
            sent = 0
            with pytest.raises(ConnectionClosed) as closed:
                for sent in range(60):  # 60 x 8 MiB took the server from 795 to 3,208 MiB before
                    ws.send(big)
                    time.sleep(0.01)
            # refused by the protocol from the frame's header: 1009, or a reset while the client still sends
            assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
            assert sent <= 3

        with connect(url, open_timeout=10, compression=None) as ws:  # just over the limit: the route says why
            ws.recv(timeout=10)
            ws.send(b"\0" * (256 * 1024 + 2))
            event, code = closing_event(ws)
            assert code == 1009 and "262146 bytes is larger than the server's limit of 256 KiB" in event["message"]

        with connect(url, open_timeout=10, compression=None) as ws:  # 8 s of audio per message, as fast as possible
            ws.recv(timeout=10)
            with pytest.raises(ConnectionClosed):
                for _ in range(60):
                    ws.send(b"\0" * (256 * 1024))
            event, code = closing_event(ws)
        assert code == 1013 and event["message"] == ("more than 30 s of audio are waiting to be decoded; "
                                                     "send audio no faster than real time")
    assert rss.growth < 200, f"RSS grew by {rss.growth:.0f} MiB"


def test_a_stream_never_runs_more_than_one_model_pass_per_worker_call(recognizer, monkeypatch) -> None:
    passes: list[int] = []
    model_logits = recognizer.model.logits
    counter = threading.local()

    def counting_logits(*args: Any, **kwargs: Any) -> Any:
        counter.value = getattr(counter, "value", 0) + 1
        return model_logits(*args, **kwargs)

    async def runner(fn: Any) -> Any:
        def counted() -> Any:
            counter.value = 0
            try:
                return fn()
            finally:
                passes.append(counter.value)
        return await asyncio.to_thread(counted)

    monkeypatch.setattr(recognizer.model, "logits", counting_logits)
    app = FastAPI()
    add_streaming_route(app, recognizer, runner)
    with live_server(app) as url, connect(url.replace("http", "ws") + "/v1/audio/stream", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        data = pcm(28.0)  # 28 s at once: one `feed` of all of it used to run 3 passes in one call
        for i in range(0, len(data), 64000):
            ws.send(data[i : i + 64000])
        ws.send(json.dumps({"type": "end"}))
        events = []
        while not events or events[-1]["type"] != "done":
            events.append(json.loads(ws.recv(timeout=30)))
    assert events[-1]["duration"] == pytest.approx(28.0, abs=0.01)
    assert max(passes) == 1 and sum(passes) >= 3, passes  # every call at most one pass, and all audio decoded


def test_the_worker_alternates_between_streams_and_requests(recognizer) -> None:
    batcher = Batcher(recognizer)
    order: list[str] = []
    try:
        with busy_worker(batcher):
            futures = [batcher.submit(lambda i=i: order.append(f"stream{i}"), stream=True) for i in range(4)]
            futures.append(batcher.submit(lambda: order.append("request")))
            futures += [batcher.submit(lambda i=i: order.append(f"stream{i}"), stream=True) for i in range(4, 6)]
        for future in futures:
            future.result(10)
    finally:
        batcher.stop()
    assert order[:2] == ["stream0", "request"]  # the request waited for one stream call, not for six
    assert order == ["stream0", "request", "stream1", "stream2", "stream3", "stream4", "stream5"]


@linux_only
def test_http_latency_stays_within_twice_idle_while_streams_flood(recognizer) -> None:
    """Streams that flood again and again (each closed with 1013) cost an HTTP request at most one model
    pass each time: its median latency stays within twice the idle median, measured before and after."""
    clip = wav_bytes(30.0)  # longer than a stream pass (at most 20 s of buffer), as a real request is
    with serving(recognizer) as (url, app), httpx.Client(timeout=60) as client:
        base = url.replace("ws://", "http://").rsplit("/v1/", 1)[0]
        timed_post(client, base, clip)  # warm up
        idle_before = statistics.median(timed_post(client, base, clip) for _ in range(7))
        with PeakRss() as rss:
            flood = subprocess.Popen([sys.executable, str(LOAD_CLIENTS), "flood", url, "4", "1", "0.05"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            time.sleep(0.5)
            busy = [timed_post(client, base, clip) for _ in range(9)]
            report = json.loads(flood.communicate(timeout=60)[0])
        idle_after = statistics.median(timed_post(client, base, clip) for _ in range(7))
    idle = (idle_before + idle_after) / 2
    assert report["streams"] >= 10 and {code for code, _ in report["closes"]} == {1013}  # every flood was closed
    assert statistics.median(busy) <= 2 * idle, (busy, idle_before, idle_after)
    assert rss.growth < 200, f"RSS grew by {rss.growth:.0f} MiB"
    assert app.state.batcher.stats().calls > 0  # the floods did reach the model


def test_an_idle_stream_is_closed_after_the_idle_time(recognizer) -> None:
    with serving(recognizer, streams=StreamLimits(idle_seconds=0.5)) as (url, _):
        with connect(url, open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
            ws.send(pcm(0.2))
            started = time.monotonic()
            event, code = closing_event(ws)
    assert code == 1001 and event["message"] == "nothing received for 0.5 s; the stream is closed"
    assert 0.4 < time.monotonic() - started < 5


def test_a_stream_is_closed_at_its_maximum_duration(recognizer) -> None:
    with serving(recognizer, streams=StreamLimits(max_seconds=1.5)) as (url, _):
        started = time.monotonic()
        with connect(url, open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
            with pytest.raises(ConnectionClosed):
                for _ in range(100):  # real time: 0.1 s of audio every 0.1 s
                    ws.send(pcm(0.1))
                    time.sleep(0.1)
            event, code = closing_event(ws)
    assert code == 1008 and "reached the server's limit of 1.5 s" in event["message"]
    assert 1.4 < time.monotonic() - started < 6


def test_streams_over_the_limit_are_refused_until_one_closes(recognizer) -> None:
    with serving(recognizer, streams=StreamLimits(max_streams=2)) as (url, _):
        with connect(url, open_timeout=10) as first, connect(url, open_timeout=10) as second:
            assert json.loads(first.recv(timeout=10))["type"] == json.loads(second.recv(timeout=10))["type"] == "ready"
            with connect(url, open_timeout=10) as third:
                event, code = closing_event(third)
            assert code == 1013 and event["message"] == "the server has 2 streams open already; try again later"
        with connect(url, open_timeout=10) as again:  # the first two closed: room again
            assert json.loads(again.recv(timeout=10))["type"] == "ready"


def test_a_foreign_origin_cannot_open_a_stream(recognizer) -> None:
    with serving(recognizer, cors_origins=("https://app.example",)) as (url, _):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, open_timeout=10, origin="http://evil.example")
        assert refused.value.response.status_code == 403
        own = "http://" + url.split("/")[2]
        for origin in (own, "https://app.example", None):  # the page's own origin, an allowed one, no browser
            with connect(url, open_timeout=10, origin=origin) as ws:
                assert json.loads(ws.recv(timeout=10))["type"] == "ready"
