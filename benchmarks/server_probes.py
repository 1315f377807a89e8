"""What each finding of server_findings.py sends to a running `polyasr serve` and measures: one function
per finding, given the Server (benchmarks/server_process.py), returning the finding's numbers as a dict.
Issue 11's findings first, then issue 23's."""

from __future__ import annotations

import json
import signal
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from audio_factory import remux, silent_flac, without_length  # noqa: E402
from load_clients import Flooder, timed_post, wav_bytes  # noqa: E402
from server_process import PeakSampler, Server, rss_mib  # noqa: E402

KEY = "sk-findings-7c2d"


def bomb(server: Server) -> dict:
    data = silent_flac(6.0)

    def post() -> tuple[int, float]:
        started = time.perf_counter()
        response = httpx.post(f"{server.url}/v1/audio/transcriptions", files={"file": ("bomb.flac", data)}, timeout=600)
        return response.status_code, time.perf_counter() - started

    with PeakSampler(server.pid) as one:
        status, seconds = post()
    after_one = rss_mib(server.pid)
    with PeakSampler(server.pid) as two, ThreadPoolExecutor(2) as pool:
        both = list(pool.map(lambda _: post(), range(2)))
    return {"file_mb": len(data) / 1e6, "status": status, "seconds": round(seconds, 2), "rss_before": round(one.before),
            "rss_peak": round(one.peak), "rss_after": round(after_one), "two_at_once_statuses": [s for s, _ in both],
            "two_at_once_seconds": [round(t, 2) for _, t in both], "two_at_once_rss_peak": round(two.peak)}


def _timed_or_none(http: httpx.Client, url: str, clip: bytes) -> float | None:
    """Seconds a transcription takes, or None past the client's timeout."""
    try:
        return round(timed_post(http, url, clip), 3)
    except httpx.TimeoutException:
        return None


def frames(server: Server) -> dict:
    """One stream sends 60 x 8 MiB frames (without waiting for anything) while a 5 s transcription is timed."""
    ws_url = server.url.replace("http://", "ws://") + "/v1/audio/stream"
    clip, big = wav_bytes(5.0), np.random.default_rng(0).bytes(8 * 2**20)
    with httpx.Client(timeout=120) as http:
        timed_post(http, server.url, clip)
        idle = statistics.median(timed_post(http, server.url, clip) for _ in range(5))
        sent, code = 0, None
        with PeakSampler(server.pid) as rss:
            try:
                with connect(ws_url, open_timeout=30, max_size=None, compression=None) as ws:
                    ws.recv(timeout=30)
                    for sent in range(1, 61):
                        ws.send(big)
                    busy = _timed_or_none(http, server.url, clip)  # the stream is still open, its audio queued
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else "reset"
                busy = _timed_or_none(http, server.url, clip)
    return {"idle_5s_request_s": round(idle, 3), "frames_sent": sent, "close": code, "request_during_s": busy,
            "rss_before": round(rss.before), "rss_peak": round(rss.peak)}


def floods(server: Server) -> dict:
    """Two streams send 256 KiB messages as fast as they can (a new one when one closes) while 5 s transcriptions are timed."""
    ws_url = server.url.replace("http://", "ws://") + "/v1/audio/stream"
    clip = wav_bytes(5.0)
    with httpx.Client(timeout=120) as http:
        timed_post(http, server.url, clip)
        idle = statistics.median(timed_post(http, server.url, clip) for _ in range(5))
        with PeakSampler(server.pid) as rss, Flooder(ws_url, threads=2, max_bytes=480 * 2**20) as flooder:
            time.sleep(1.0)
            busy = [_timed_or_none(http, server.url, clip) for _ in range(5)]
    codes: dict[str, int] = {}
    for close, _ in flooder.closes:
        codes[str(close)] = codes.get(str(close), 0) + 1
    done = [t for t in busy if t is not None]
    return {"idle_5s_request_s": round(idle, 3), "requests_during_s": busy,
            "ratio": round(statistics.median(done) / idle, 2) if done else None, "rss_before": round(rss.before),
            "rss_peak": round(rss.peak), "streams": flooder.streams, "closes": codes}


def _partial_upload(port: int, total: int, sent: int) -> socket.socket:
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="slow.wav"\r\n\r\n'
    request = (f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/form-data; "
               f"boundary=b\r\nContent-Length: {len(head) + total + 8}\r\n\r\n").encode() + head
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(request + b"\0" * sent)
    sock.setblocking(False)
    return sock


def _open(sock: socket.socket) -> bool:
    """True while the server has neither answered nor closed the connection."""
    try:
        sock.recv(1 << 16)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


def slow(server: Server, seconds: float) -> dict:
    port = int(server.url.rsplit(":", 1)[1])
    trickling = [_partial_upload(port, 100_000, 100) for _ in range(100)]
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        for sock in trickling:
            try:
                sock.send(b"\0" * 10)
            except OSError:
                pass
        time.sleep(0.5)
    still_open = sum(_open(sock) for sock in trickling)
    for sock in trickling:
        sock.close()
    time.sleep(1.0)
    with PeakSampler(server.pid) as rss:
        half_sent = []
        for _ in range(1500):
            try:
                half_sent.append(_partial_upload(port, 1_000_000, 500_000))
            except OSError:
                break
        time.sleep(3.0)
        answered = sum(not _open(sock) for sock in half_sent)
    for sock in half_sent:
        sock.close()
    return {"trickling_open_after_s": seconds, "trickling_still_open": still_open, "half_sent_connections": len(half_sent),
            "half_sent_answered_or_closed": answered, "half_sent_rss_before": round(rss.before), "half_sent_rss_peak": round(rss.peak)}


def keys_and_origins(server: Server) -> dict:
    headers = {"Authorization": f"Bearer {KEY}"}
    httpx.get(f"{server.url}/v1/languages?api_key={KEY}", headers=headers)
    ws_url = server.url.replace("http://", "ws://") + "/v1/audio/stream"
    with connect(f"{ws_url}?api_key={KEY}", open_timeout=30) as ws:
        ws.recv(timeout=30)
    foreign = httpx.post(f"{server.url}/v1/audio/transcriptions", files={"file": ("a.wav", wav_bytes(1.0))},
                         headers={**headers, "Origin": "http://evil.example"}, timeout=600)
    try:
        with connect(f"{ws_url}?api_key={KEY}", open_timeout=30, origin="http://evil.example") as ws:
            handshake = json.loads(ws.recv(timeout=30))["type"]
    except InvalidStatus as refused:
        handshake = f"HTTP {refused.response.status_code}"
    noise = httpx.post(f"{server.url}/v1/audio/transcriptions", files={"file": ("noise.bin", np.random.default_rng(0).bytes(20_000))},
                       headers=headers, timeout=600)
    return {"cross_site_post_status": foreign.status_code, "foreign_ws_handshake": handshake,
            "noise_bin_error": noise.json()["error"]["message"]}


# ---------------------------------------------------------------- issue 23: before the app, uploads, keys, operations


def idle_sockets(server: Server, count: int = 100, wait: float = 15.0) -> dict:
    """`count` sockets that never send a request line: /health and a 1 s transcription meanwhile; how many are closed after `wait` s."""
    port = int(server.url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    time.sleep(0.5)
    health = httpx.get(f"{server.url}/health", timeout=30).status_code
    posted = httpx.post(f"{server.url}/v1/audio/transcriptions", files={"file": ("a.wav", wav_bytes(1.0))}, timeout=60).status_code
    time.sleep(wait)
    for sock in idle:
        sock.setblocking(False)
    closed = sum(not _open(sock) for sock in idle)
    for sock in idle:
        sock.close()
    return {"idle_sockets": count, "health_status": health, "transcription_status": posted, "closed_after_s": wait,
            "closed": closed}


def header_line(server: Server, mib: int = 100) -> dict:
    """One connection sends an unterminated header line of up to `mib` MiB: what it gets, and the server's RSS."""
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Long: ".encode())
    sent, chunk = 0, b"a" * 2**20
    with PeakSampler(server.pid) as rss:
        try:
            while sent < mib * 2**20:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        time.sleep(0.5)
    sock.settimeout(5)
    try:
        answer = sock.recv(200).split(b"\r\n", 1)[0].decode("latin-1") or "closed"
    except OSError:
        answer = "closed"
    sock.close()
    return {"sent_mib": round(sent / 2**20, 1), "answer": answer, "rss_before": round(rss.before), "rss_peak": round(rss.peak)}


def matroska(server: Server) -> dict:
    """A 6 MB Matroska file (FLAC inside) that declares 6 h of silence."""
    data = remux(silent_flac(6.0), "matroska")
    with PeakSampler(server.pid) as rss:
        started = time.perf_counter()
        response = httpx.post(f"{server.url}/v1/audio/transcriptions", files={"file": ("six.mka", data)}, timeout=600)
        seconds = time.perf_counter() - started
    return {"file_mb": round(len(data) / 1e6, 1), "status": response.status_code, "seconds": round(seconds, 2),
            "rss_before": round(rss.before), "rss_peak": round(rss.peak)}


def wav_header(server: Server, held_seconds: float = 600.0) -> dict:
    """A WAV whose header declares 1 s but which holds `held_seconds` of audio: the duration and warnings returned."""
    import struct

    rate = 16000
    samples = (np.random.default_rng(0).standard_normal(int(held_seconds * rate)) * 1000).astype("<i2").tobytes()
    header = (b"RIFF" + struct.pack("<I", 36 + rate * 2) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
              + b"data" + struct.pack("<I", rate * 2))
    response = httpx.post(f"{server.url}/v1/audio/transcriptions", files={"file": ("long.wav", header + samples)},
                          data={"response_format": "verbose_json"}, timeout=600)
    body = response.json()
    return {"held_seconds": held_seconds, "status": response.status_code, "duration": body.get("duration"),
            "warnings": body.get("warnings", [])}


def key_spellings(server: Server) -> dict:
    """Keys in decoded-name spellings, the Authorization header and the WebSocket auth message, at debug level."""
    auth = {"Authorization": f"Bearer {KEY}"}
    for name in ("api%5Fkey", "%61pi_key"):
        httpx.get(f"{server.url}/v1/languages?{name}={KEY}", headers=auth)
    ws_url = server.url.replace("http://", "ws://") + "/v1/audio/stream"
    with connect(f"{ws_url}?%61pi_key={KEY}", open_timeout=30) as ws:
        ws.recv(timeout=30)
    with connect(ws_url, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "auth", "api_key": KEY}))
        ws.recv(timeout=30)
    with connect(ws_url, open_timeout=30, additional_headers=auth) as ws:
        ws.recv(timeout=30)
    return {}


def rebinding(server: Server) -> dict:
    """Host and Origin both evil.example:PORT, as a page whose name was re-pointed at 127.0.0.1 sends them."""
    port = int(server.url.rsplit(":", 1)[1])
    evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    status = httpx.get(f"{server.url}/v1/languages", headers=evil).status_code
    try:
        with connect(f"ws://evil.example:{port}/v1/audio/stream", open_timeout=30, origin=evil["Origin"],
                     sock=socket.create_connection(("127.0.0.1", port))) as ws:
            handshake = "101 " + json.loads(ws.recv(timeout=30))["type"]
    except InvalidStatus as refused:
        handshake = f"HTTP {refused.response.status_code}"
    return {"http_status": status, "ws_handshake": handshake}


def keyless_streams(server: Server, count: int = 8) -> dict:
    """`count` WebSockets that never send a key, then a keyed client: what it gets."""
    ws_url = server.url.replace("http://", "ws://") + "/v1/audio/stream"
    silent = [connect(ws_url, open_timeout=30) for _ in range(count)]
    time.sleep(0.5)
    try:
        with connect(ws_url, open_timeout=30, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
            keyed = json.loads(ws.recv(timeout=30))["type"]
            if keyed == "error":
                ws.recv(timeout=30)
    except ConnectionClosed as closed:
        keyed = f"closed {closed.rcvd.code if closed.rcvd else 'reset'}"
    for ws in silent:
        ws.close()
    return {"keyless_streams": count, "keyed_client_gets": keyed}


def bad_values(server: Server) -> dict:
    """Hotword weights nan and inf in the prompt; the openai client's stream=True."""
    from openai import OpenAI

    statuses = {}
    for prompt in ("x:nan", "x:inf"):
        response = httpx.post(f"{server.url}/v1/audio/transcriptions", files={"file": ("a.wav", wav_bytes(2.0))},
                              data={"prompt": prompt}, timeout=60)
        statuses[prompt] = f"{response.status_code} {response.text[:90]}"
    client = OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0)
    events = list(client.audio.transcriptions.create(model="x", file=("a.wav", wav_bytes(5.0)), stream=True))
    return {"hotwords": statuses, "openai_stream_events": [e.type for e in events][-3:], "openai_stream_count": len(events)}


def sigterm(server: Server) -> dict:
    """SIGTERM while an upload is stalled: seconds until the process exits (capped at 150)."""
    port = int(server.url.rsplit(":", 1)[1])
    stalled = _partial_upload(port, 1_000_000, 1000)
    time.sleep(0.5)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(150)
        seconds: float | str = round(time.monotonic() - started, 1)
    except Exception:  # noqa: BLE001
        seconds = "over 150"
    stalled.close()
    return {"exit_after_s": seconds}


def health(server: Server) -> dict:
    """What /health and /health/ready tell a caller without a key; /metrics."""
    public = httpx.get(f"{server.url}/health").json()
    ready = httpx.get(f"{server.url}/health/ready").status_code
    metrics = httpx.get(f"{server.url}/metrics")
    return {"public_health_fields": sorted(public), "ready_status": ready, "metrics_status": metrics.status_code,
            "metrics_lines": len([line for line in metrics.text.splitlines() if line.startswith("polyasr_")])
            if metrics.status_code == 200 else 0}


def long_vs_stream(server: Server, minutes: float) -> dict:
    """A live stream sends 0.5 s of audio every 0.5 s while an upload of `minutes` is transcribed: the gaps
    between the stream's updates (partial/final events) while the upload runs, against before it."""
    ws_url = server.url.replace("http://", "ws://") + "/v1/audio/stream"
    chunk = (np.random.default_rng(1).standard_normal(8000) * 3000).clip(-32768, 32767).astype("<i2").tobytes()
    times: list[float] = []
    close: list[object] = []
    upload: dict = {}

    def post() -> None:
        started = time.monotonic()
        response = httpx.post(f"{server.url}/v1/audio/transcriptions", timeout=900,
                              files={"file": ("long.wav", wav_bytes(minutes * 60, seed=2, rate=8000))})
        upload.update(status=response.status_code, start=started, end=time.monotonic())

    with connect(ws_url, open_timeout=30) as ws:
        ws.recv(timeout=30)

        def receive() -> None:
            try:
                while True:
                    if json.loads(ws.recv())["type"] in ("partial", "final"):
                        times.append(time.monotonic())
            except ConnectionClosed as closed:
                close.append(closed.rcvd.code if closed.rcvd else "reset")

        receiver = threading.Thread(target=receive, daemon=True)
        receiver.start()
        poster = threading.Thread(target=post, daemon=True)
        began = time.monotonic()
        try:
            while time.monotonic() - began < 900 and not (upload and time.monotonic() > upload["end"] + 2):
                if not poster.is_alive() and not upload and time.monotonic() - began > 3:
                    poster.start()
                ws.send(chunk)
                time.sleep(0.5)
            ws.send(json.dumps({"type": "end"}))
        except ConnectionClosed:
            pass
        receiver.join(30)
    during = [t for t in times if upload.get("start", 0) <= t <= upload.get("end", 0)]
    edges = [upload.get("start", 0), *during, upload.get("end", 0)]
    gaps = [b - a for a, b in zip(edges, edges[1:])]
    before = [b - a for a, b in zip(times, times[1:]) if b < upload.get("start", 0)]
    return {"upload_minutes": minutes, "upload_status": upload.get("status"),
            "upload_s": round(upload.get("end", 0) - upload.get("start", 0), 2), "stream_updates_during": len(during),
            "max_gap_during_s": round(max(gaps), 2) if gaps else None,
            "median_gap_before_s": round(statistics.median(before), 2) if before else None, "stream_close": close[:1]}


def undeclared(server: Server, count: int = 10) -> dict:
    """`count` uploads of a ~4 MB FLAC of undeclared length (faint noise, its sample count removed) at once,
    then a 5 s request: how long it waits, against idle."""
    data = without_length(silent_flac(0.15, noise=40))
    clip = wav_bytes(5.0)
    with httpx.Client(timeout=900) as http:
        timed_post(http, server.url, clip)
        idle = statistics.median(timed_post(http, server.url, clip) for _ in range(3))

        def post(_: int) -> tuple[int, float]:
            started = time.perf_counter()
            response = httpx.post(f"{server.url}/v1/audio/transcriptions", files={"file": ("long.flac", data)}, timeout=900)
            return response.status_code, time.perf_counter() - started

        with ThreadPoolExecutor(count) as pool:
            uploads = [pool.submit(post, i) for i in range(count)]
            time.sleep(1.0)
            waited = timed_post(http, server.url, clip)
            done = [f.result() for f in uploads]
    return {"flac_mb": round(len(data) / 1e6, 2), "uploads": count, "idle_5s_request_s": round(idle, 3),
            "request_during_s": round(waited, 3), "upload_statuses": sorted({s for s, _ in done}),
            "uploads_last_done_s": round(max(t for _, t in done), 2)}
