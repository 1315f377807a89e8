"""Keys that never leak, WebSockets that authenticate before they take a slot, bad hotword weights and the
Host allow-list, each against a real server on 127.0.0.1 (issue 23)."""

from __future__ import annotations

import json
import signal
import socket
import time
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")
sync_client = pytest.importorskip("websockets.sync.client")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

from live_server import serve_command  # noqa: E402
from load_clients import wav_bytes  # noqa: E402
from polyasr.server import StreamLimits  # noqa: E402
from test_server_limits import serving  # noqa: E402

KEY = "sk-spelling-9b3e"


def _stream_until_done(ws: Any) -> None:
    assert json.loads(ws.recv(timeout=10))["type"] == "ready"
    ws.send(json.dumps({"type": "end"}))
    while json.loads(ws.recv(timeout=10))["type"] != "done":
        pass


def test_no_spelling_of_the_key_and_no_authorization_header_reaches_the_log(tiny_model_dir) -> None:
    # before: ?api%5Fkey= and ?%61pi_key= were logged verbatim at INFO; at debug level the Authorization
    # header and the WebSocket's auth message were logged too
    with serve_command(tiny_model_dir, "--api-key", KEY, "--log-level", "debug") as (url, process, lines):
        auth = {"Authorization": f"Bearer {KEY}"}
        for query in ("api%5Fkey", "%61pi_key", "API-KEY", "access_token"):
            assert httpx.get(f"{url}/v1/languages?{query}={KEY}&x=1", headers=auth).status_code == 200
        ws_url = url.replace("http://", "ws://") + "/v1/audio/stream"
        with sync_client.connect(f"{ws_url}?%61pi_key={KEY}&language=en", open_timeout=10) as ws:
            _stream_until_done(ws)  # the decoded name authenticates: it must be redacted as well
        with sync_client.connect(f"{ws_url}?language=en", open_timeout=10) as ws:
            ws.send(json.dumps({"type": "auth", "api_key": KEY}))
            _stream_until_done(ws)
        with sync_client.connect(f"{ws_url}?language=en", open_timeout=10, additional_headers=auth) as ws:
            _stream_until_done(ws)
        process.send_signal(signal.SIGINT)
        process.wait(30)
    log = "".join(lines)
    assert "GET /v1/languages?api%5Fkey=[redacted]&x=1" in log and "?%61pi_key=[redacted]&language=en" in log
    assert KEY not in log


def test_websockets_without_a_key_never_hold_a_stream_slot(recognizer) -> None:
    # before: 8 keyless sockets took every slot and keyed clients got 1013 for as long as they stayed
    limits = StreamLimits(max_streams=2, auth_seconds=1.0)
    with serving(recognizer, api_keys=("k",), streams=limits) as (url, _):
        ws_url = url.replace("http://", "ws://") + "/v1/audio/stream"
        silent = [sync_client.connect(ws_url, open_timeout=10) for _ in range(4)]
        time.sleep(0.2)
        with sync_client.connect(ws_url, open_timeout=10, additional_headers={"Authorization": "Bearer k"}) as ws:
            _stream_until_done(ws)
        started = time.monotonic()
        for ws in silent:
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=10)
            assert closed.value.rcvd.code == 1008
        assert time.monotonic() - started < 3  # closed after the 1 s key deadline
        for ws in silent:
            ws.close()


@pytest.mark.parametrize("prompt", ["Müller, x:nan", "x:inf", "x:-inf", "x:1e30"])
def test_non_finite_or_absurd_hotword_weights_are_refused_naming_the_hotword(recognizer, prompt: str) -> None:
    # before: 200 with empty text
    with serving(recognizer) as (url, app):
        response = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", wav_bytes(1.0))},
                              data={"prompt": prompt}, timeout=30)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        bad = prompt.split(",")[-1].strip()
        assert error["param"] == "prompt" and f"hotword '{bad}'" in error["message"] and "finite" in error["message"]
        assert app.state.batcher.stats().jobs == 0


def test_dns_rebinding_a_foreign_host_name_is_refused_for_http_and_websocket(recognizer) -> None:
    # before: Host and Origin both evil.example:PORT got HTTP 200 and WebSocket 101 (the origin looked like the server's own)
    with serving(recognizer) as (url, app):
        port = url.rsplit(":", 1)[1]
        evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        response = httpx.get(f"{url}/v1/languages", headers=evil)
        assert response.status_code == 400 and response.json()["error"]["code"] == "host_not_allowed"
        posted = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", wav_bytes(1.0))}, headers=evil)
        assert posted.status_code == 400 and app.state.batcher.stats().jobs == 0
        ws_url = url.replace("http://", "ws://") + "/v1/audio/stream"
        with pytest.raises(InvalidStatus) as refused:  # the name evil.example, resolved to 127.0.0.1 by the attacker
            sync_client.connect(f"ws://{evil['Host']}/v1/audio/stream", open_timeout=10, origin=evil["Origin"],
                                sock=socket.create_connection(("127.0.0.1", int(port))))
        assert refused.value.response.status_code == 403
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):  # the defaults on loopback
            assert httpx.get(f"{url}/health", headers={"Host": host}).status_code == 200, host
        with sync_client.connect(f"ws://localhost:{port}/v1/audio/stream", open_timeout=10,
                                 sock=socket.create_connection(("127.0.0.1", int(port)))) as ws:
            _stream_until_done(ws)
    with serving(recognizer, allowed_hosts=("asr.example", "*.asr.example")) as (url, _):
        for host, status in (("asr.example", 200), ("eu.asr.example:443", 200), ("asr.example.evil", 400), ("127.0.0.1", 400)):
            assert httpx.get(f"{url}/health", headers={"Host": host}).status_code == status, host


def test_serve_allows_the_bound_address_and_named_hosts() -> None:
    from polyasr.cli.main import build_parser
    from polyasr.cli.serve import server_options

    def hosts(*argv: str) -> tuple[str, ...]:
        return server_options(build_parser().parse_args(["serve", *argv])).allowed_hosts

    assert hosts() == ("localhost", "127.0.0.1", "::1")
    assert hosts("--host", "10.0.0.5") == ("10.0.0.5",)
    assert hosts("--host", "0.0.0.0", "--allowed-hosts", "asr.example.com, *.asr.example.com") == (
        "asr.example.com", "*.asr.example.com")
