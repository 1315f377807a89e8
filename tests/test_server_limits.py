"""HTTP limits against real servers on 127.0.0.1: each test reproduces a finding of issue 11 and checks its fix.

Decompression bombs, the queue's audio budget, slow and stalled uploads, connection limits, foreign
web origins, and API keys kept out of the server's log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
sync_client = pytest.importorskip("websockets.sync.client")

from live_server import live_server, serve_command  # noqa: E402
from load_clients import rss_mib, wav_bytes  # noqa: E402
from polyasr.server import BatcherOptions, ServerOptions, create_app  # noqa: E402
from polyasr.cli.serve import uvicorn_settings  # noqa: E402
from audio_factory import silent_flac, without_length  # noqa: E402

linux_only = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")


@contextmanager
def serving(recognizer: Any, **options: Any) -> Iterator[tuple[str, Any]]:
    """A server with these ServerOptions, run with the uvicorn settings `polyasr serve` uses: (URL, app)."""
    server_options = ServerOptions(**options)
    app = create_app(recognizer, server_options)
    with live_server(app, **uvicorn_settings(server_options)) as url:
        yield url, app


@contextmanager
def busy_worker(batcher: Any) -> Iterator[None]:
    """Keep the model worker busy until the block ends, so that requests stay queued."""
    started, gate = threading.Event(), threading.Event()
    future = batcher.submit(lambda: (started.set(), gate.wait(30)))
    assert started.wait(10)
    try:
        yield
    finally:
        gate.set()
        future.result(10)


class PeakRss:
    """The highest RSS of this process (the servers run in it) while the block runs, sampled every 10 ms."""

    def __enter__(self) -> "PeakRss":
        self.before = self.peak = rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mib())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> float:
        return self.peak - self.before


@pytest.fixture(scope="module")
def six_hours() -> bytes:
    return silent_flac(6.0)


@linux_only
def test_a_six_hour_flac_bomb_is_refused_within_a_second_without_memory_growth(recognizer, six_hours: bytes) -> None:
    assert len(six_hours) < 5_000_000  # 4 MB that decode to 6 h (1.3 GB of float32 samples)
    with serving(recognizer) as (url, app), httpx.Client(timeout=60) as client:  # the default limit: 3 h
        client.get(f"{url}/health")

        def post() -> tuple[Any, float]:
            started = time.perf_counter()
            response = client.post(f"{url}/v1/audio/transcriptions", files={"file": ("bomb.flac", six_hours)})
            return response, time.perf_counter() - started

        response, seconds = post()
        assert seconds < 1.0  # refused from FLAC's declared length (8.7 s before; 3.0 s decoding up to 3 h)
        with PeakRss() as rss, ThreadPoolExecutor(2) as pool:  # two at once peaked at 6.2 GB before
            outcomes = [(response, seconds), *pool.map(lambda _: post(), range(2))]
        for response, seconds in outcomes:
            assert response.status_code == 413, response.text
            error = response.json()["error"]
            assert error["code"] == "audio_too_long"
            assert error["message"] == "'bomb.flac': the audio is longer than the server's limit of 10800 s"
        assert rss.growth < 200, f"RSS grew by {rss.growth:.0f} MiB"
        assert app.state.batcher.stats().jobs == 0


@linux_only
def test_a_bomb_that_does_not_declare_its_length_is_decoded_only_up_to_the_limit(recognizer, six_hours: bytes) -> None:
    with serving(recognizer, max_audio_seconds=600) as (url, app), httpx.Client(timeout=60) as client:
        client.get(f"{url}/health")
        with PeakRss() as rss:
            started = time.perf_counter()
            response = client.post(f"{url}/v1/audio/transcriptions", files={"file": ("bomb.flac", without_length(six_hours))})
            seconds = time.perf_counter() - started
        assert response.status_code == 413 and response.json()["error"]["code"] == "audio_too_long"
        assert seconds < 1.0  # decoding stops at 600 s instead of going through 6 h (8.7 s before)
        assert rss.growth < 200, f"RSS grew by {rss.growth:.0f} MiB"  # 600 s of float32 is 37 MiB


def test_the_queue_is_bounded_by_queued_audio_seconds(recognizer) -> None:
    eight, two = wav_bytes(8.0, seed=1), wav_bytes(2.0, seed=2)
    with serving(recognizer, max_audio_seconds=10, batcher=BatcherOptions(max_queued_audio_seconds=12), retry_after_seconds=4) as (url, app):
        batcher = app.state.batcher

        def post(data: bytes) -> Any:
            return httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", data)}, timeout=60)

        with ThreadPoolExecutor(2) as pool:
            with busy_worker(batcher):
                first = pool.submit(post, eight)
                deadline = time.monotonic() + 20
                while batcher.stats().queued_audio_seconds < 8:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
                refused = post(eight)  # 8 + 8 s > 12 s
                second = pool.submit(post, two)  # 8 + 2 s fit
                while batcher.stats().queued_audio_seconds < 10:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
            assert first.result().status_code == 200 and second.result().status_code == 200
    assert refused.status_code == 503 and refused.headers["retry-after"] == "4"
    error = refused.json()["error"]
    assert error["code"] == "server_busy" and "8 s of audio are queued; 8 s more would pass the limit of 12 s" in error["message"]
    assert batcher.stats().queued_audio_seconds == 0


def _raw_upload(url: str, sent: int, total: int) -> socket.socket:
    """A socket that sent the headers and `sent` of `total` bytes of a multipart upload's file part."""
    port = int(url.rsplit(":", 1)[1])
    head = (b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="slow.wav"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n")
    tail = b"\r\n--xyz--\r\n"
    request = (f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {len(head) + total + len(tail)}\r\n\r\n")
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(request.encode() + head + b"\0" * sent)
    return sock


def _read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _temporary_files() -> int:
    """Open files of this process that are deleted temporary files (spooled uploads)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += target.startswith(tempfile.gettempdir()) and target.endswith("(deleted)")
    return count


def _wait_for_temporary_files(baseline: int, what: str) -> None:
    deadline = time.monotonic() + 5
    while _temporary_files() > baseline:
        assert time.monotonic() < deadline, f"{what}: its temporary file is still open"
        time.sleep(0.02)


@linux_only
def test_a_stalled_upload_gets_408_its_connection_closed_and_its_temporary_file_removed(recognizer) -> None:
    with serving(recognizer, upload_timeout_seconds=1.0) as (url, app):
        baseline = _temporary_files()
        started = time.monotonic()
        sock = _raw_upload(url, sent=1_500_000, total=3_000_000)  # over the 1 MiB the parser keeps in memory
        deadline = time.monotonic() + 10
        while _temporary_files() == baseline:  # the spooled part is on disk while the upload stalls
            assert time.monotonic() < deadline
            time.sleep(0.02)
        answer = _read_until_closed(sock, timeout=10)  # the server closes the connection after answering
        elapsed = time.monotonic() - started
        sock.close()
        assert answer.startswith(b"HTTP/1.1 408") and b"connection: close" in answer.lower()
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert body["error"]["code"] == "upload_timeout" and "1 s" in body["error"]["message"]
        assert 0.9 < elapsed < 5
        _wait_for_temporary_files(baseline, "the stalled upload")
        assert app.state.batcher.stats().jobs == 0


@linux_only
def test_temporary_files_of_answered_refused_and_abandoned_uploads_are_removed(recognizer) -> None:
    clip, forty = wav_bytes(25.0, rate=48_000), wav_bytes(40.0, seed=3, rate=48_000)  # 2.4 and 3.8 MB
    assert len(clip) > 1024 * 1024  # over what the multipart parser keeps in memory: spooled to a temporary file
    with serving(recognizer, max_audio_seconds=30) as (url, app), httpx.Client(timeout=60) as client:
        baseline = _temporary_files()
        ok = client.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", clip)})
        assert ok.status_code == 200, ok.text
        _wait_for_temporary_files(baseline, "an answered upload")
        long = client.post(f"{url}/v1/audio/transcriptions", files={"file": ("long.wav", forty)})
        assert long.status_code == 413 and long.json()["error"]["code"] == "audio_too_long"
        _wait_for_temporary_files(baseline, "a refused upload")
        sock = _raw_upload(url, sent=1_500_000, total=3_000_000)
        deadline = time.monotonic() + 10
        while _temporary_files() == baseline:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        sock.close()  # the client goes away in the middle of its upload
        _wait_for_temporary_files(baseline, "an abandoned upload")
        assert app.state.batcher.stats().jobs == 1


def test_trickling_uploads_are_all_closed_after_the_upload_time_limit(recognizer) -> None:
    with serving(recognizer, upload_timeout_seconds=1.0) as (url, _):
        socks = [_raw_upload(url, sent=100, total=100_000) for _ in range(20)]
        started, answers = time.monotonic(), {}
        for sock in socks:
            sock.setblocking(False)
        while len(answers) < len(socks) and time.monotonic() - started < 6:
            for i, sock in enumerate(socks):
                if i in answers:
                    continue
                try:
                    sock.send(b"\0" * 10)  # 100 bytes a second: would take 17 minutes
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b"closed"
                answers[i] = chunk
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        for sock in socks:
            sock.close()
    assert len(answers) == 20 and elapsed < 5  # all answered (and closed) after about 1 s; before, all stayed open
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers.values()), answers


def test_idle_keep_alive_connections_are_closed(recognizer) -> None:
    # (idle sockets no longer count against max_connections: see test_server_connections.py)
    with serving(recognizer, max_connections=4, keep_alive_seconds=0.5) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        kept = socket.create_connection(("127.0.0.1", port), timeout=10)
        kept.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        started = time.monotonic()
        answer = _read_until_closed(kept, timeout=10)  # the answer, then the close of the idle connection
        kept.close()
        assert answer.startswith(b"HTTP/1.1 200") and 0.4 < time.monotonic() - started < 5


def test_requests_from_a_foreign_web_origin_are_refused(recognizer) -> None:
    clip = wav_bytes(1.0)
    with serving(recognizer) as (url, app):
        foreign = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", clip)},
                             headers={"Origin": "http://evil.example"})  # a "simple" cross-site POST
        assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "origin_not_allowed"
        assert "http://evil.example" in foreign.json()["error"]["message"]
        assert app.state.batcher.stats().jobs == 0  # refused before anything ran
        assert "access-control-allow-origin" not in foreign.headers  # no CORS policy by default
        own = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", clip)}, headers={"Origin": url})
        assert own.status_code == 200, own.text  # the server's own page
        assert httpx.get(f"{url}/health", headers={"Origin": "null"}).status_code == 403  # sandboxed frames, file://

    with serving(recognizer, api_keys=("k",), cors_origins=("https://app.example",)) as (url, _):
        preflight = httpx.options(f"{url}/v1/audio/transcriptions", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200  # answered before the key check
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        allowed = httpx.get(f"{url}/v1/languages", headers={"Origin": "https://app.example", "Authorization": "Bearer k"})
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert httpx.get(f"{url}/v1/languages", headers={"Origin": "https://other.example", "Authorization": "Bearer k"}).status_code == 403


@pytest.fixture()
def served_cli(tiny_model_dir: Path) -> Iterator[tuple[str, subprocess.Popen, list[str]]]:
    """`polyasr serve` in a subprocess with an API key and INFO logging: (URL, process, its log lines so far)."""
    with serve_command(tiny_model_dir, "--api-key", KEY, "--log-level", "info") as served:
        yield served


KEY = "sk-log-test-5f1e"


def test_the_api_key_never_appears_in_the_servers_log(served_cli) -> None:
    url, process, lines = served_cli
    assert httpx.get(f"{url}/v1/languages?api_key={KEY}&x=1", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    ws_url = url.replace("http://", "ws://") + "/v1/audio/stream"
    for target, first in ((f"{ws_url}?api_key={KEY}&language=en", None), (f"{ws_url}?language=en", {"type": "auth", "api_key": KEY})):
        with sync_client.connect(target, open_timeout=10) as ws:
            if first:
                ws.send(json.dumps(first))
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
            ws.send(json.dumps({"type": "end"}))
            while json.loads(ws.recv(timeout=10))["type"] != "done":
                pass
    process.send_signal(signal.SIGINT)
    process.wait(30)
    log = "".join(lines)
    assert "GET /v1/languages?api_key=[redacted]&x=1" in log  # the request lines are logged, without the key
    assert log.count("WebSocket /v1/audio/stream?") >= 2 and "api_key=[redacted]&language=en" in log
    assert KEY not in log
