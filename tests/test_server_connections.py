"""Limits before the app (server/http.py), against real servers on 127.0.0.1 (issue 23): idle and trickling
sockets, unterminated header lines, the socket cap, requests in progress, graceful shutdown."""

from __future__ import annotations

import json
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
sync_client = pytest.importorskip("websockets.sync.client")
from websockets.exceptions import ConnectionClosed  # noqa: E402

from live_server import serve_command  # noqa: E402
from load_clients import wav_bytes  # noqa: E402
from test_server_limits import _raw_upload, busy_worker, serving  # noqa: E402


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """(whether the server closed the connection within `seconds`, what it sent before)."""
    sock.settimeout(seconds)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except socket.timeout:
        return False, data
    except OSError:
        return True, data
    return True, data


def test_idle_sockets_neither_make_health_answer_503_nor_stay_open(recognizer) -> None:
    # before: 100 idle sockets made every request, /health included, answer 503 for as long as they stayed open
    with serving(recognizer, max_connections=4, header_timeout_seconds=1.0) as (url, _):
        idle = [socket.create_connection(("127.0.0.1", _port(url))) for _ in range(30)]
        time.sleep(0.2)
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        posted = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", wav_bytes(1.0))}, timeout=30)
        assert posted.status_code == 200, posted.text
        stream = sync_client.connect(url.replace("http://", "ws://") + "/v1/audio/stream", open_timeout=10)
        assert json.loads(stream.recv(timeout=10))["type"] == "ready"
        started = time.monotonic()
        assert all(_closed_within(sock, 5)[0] for sock in idle)  # closed by the 1 s header deadline
        assert time.monotonic() - started < 3
        for sock in idle:
            sock.close()
        time.sleep(max(0.0, 1.5 - (time.monotonic() - started)))
        stream.send(json.dumps({"type": "end"}))  # a stream past the header deadline is not cut off
        while json.loads(stream.recv(timeout=10))["type"] != "done":
            pass
        stream.close()


def test_a_trickled_request_line_is_cut_off_at_the_header_deadline(recognizer) -> None:
    with serving(recognizer, header_timeout_seconds=1.0) as (url, _):
        sock = socket.create_connection(("127.0.0.1", _port(url)))
        sock.setblocking(False)
        started, closed = time.monotonic(), False
        for byte in b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:  # a byte every 0.1 s
            try:
                sock.send(bytes([byte]))
                if sock.recv(1) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
                break
            time.sleep(0.1)
        sock.close()
        assert closed and 0.9 < time.monotonic() - started < 3


def test_an_unterminated_header_line_gets_431_at_the_header_limit(recognizer) -> None:
    # before: no size limit (httptools): about +120 MiB RSS per connection sending 100 MiB
    with serving(recognizer, max_header_kb=16) as (url, _):
        sock = socket.create_connection(("127.0.0.1", _port(url)), timeout=10)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: ")
        sent = 0
        try:
            while sent < 4 * 2**20:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass  # closed by the server
        closed, answer = _closed_within(sock, 5)
        sock.close()
        assert closed and answer.startswith(b"HTTP/1.1 431"), answer[:200]
        assert sent < 4 * 2**20
        assert httpx.get(f"{url}/health", headers={"X-Fine": "a" * 8000}).status_code == 200


def test_sockets_over_the_cap_close_the_longest_idle_one(recognizer) -> None:
    with serving(recognizer, max_sockets=5) as (url, _):
        idle = [socket.create_connection(("127.0.0.1", _port(url))) for _ in range(8)]
        time.sleep(0.2)
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        assert _closed_within(idle[0], 2)[0] and not _closed_within(idle[-1], 0.2)[0]
        for sock in idle:
            sock.close()


def test_requests_in_progress_are_limited_but_health_is_always_answered(recognizer) -> None:
    with serving(recognizer, max_connections=1, retry_after_seconds=3) as (url, app), ThreadPoolExecutor(1) as pool:
        with busy_worker(app.state.batcher):
            first = pool.submit(httpx.post, f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", wav_bytes(1.0))},
                                timeout=30)
            deadline = time.monotonic() + 10
            while app.state.batcher.queue_length == 0:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            refused = httpx.get(f"{url}/v1/languages", timeout=10)
            assert refused.status_code == 503 and refused.headers["retry-after"] == "3"
            assert refused.json()["error"]["code"] == "server_busy"
            assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        assert first.result().status_code == 200


def test_sigterm_closes_streams_with_1012_and_exits_within_the_shutdown_deadline(tiny_model_dir) -> None:
    # before: SIGTERM while an upload was stalled: the process exited after 120 s (the upload time limit)
    with serve_command(tiny_model_dir, "--shutdown-timeout-seconds", "1") as (url, process, lines):
        stalled = _raw_upload(url, sent=1000, total=100_000)
        ws = sync_client.connect(url.replace("http://", "ws://") + "/v1/audio/stream", open_timeout=10)
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        process.wait(15)
        elapsed = time.monotonic() - started
        stalled.close()
    assert elapsed < 5, "".join(lines)
