"""Hostile and timed clients for the server limit tests and benchmarks/server_load.py (real sockets on 127.0.0.1)."""

from __future__ import annotations

import io
import json
import os
import threading
import time
import wave
from dataclasses import dataclass, field

import httpx
import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect


def rss_mib(pid: int | str = "self") -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/status")


def wav_bytes(seconds: float, seed: int = 0, rate: int = 16_000) -> bytes:
    """Noise as a 16-bit mono wav (the tiny random model emits characters for it)."""
    samples = np.clip(0.3 * np.random.default_rng(seed).standard_normal(int(seconds * rate)), -1, 1)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    return out.getvalue()


def timed_post(client: httpx.Client, url: str, data: bytes, name: str = "clip.wav") -> float:
    """Seconds one transcription request takes (it must succeed)."""
    started = time.perf_counter()
    response = client.post(f"{url}/v1/audio/transcriptions", files={"file": (name, data)})
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


@dataclass
class Flooder:
    """Threads that open streams and send audio as fast as they can, again and again, until stopped.

    Each closed stream's close code and error message are recorded (`closes`).
    """

    url: str  # ws://HOST:PORT/v1/audio/stream
    message_bytes: int = 256 * 1024  # size of each binary message
    threads: int = 2
    pause: float = 0.0  # seconds between one stream's close and the next one's opening, per thread
    max_bytes: int | None = None  # a stream that was not closed after sending this much ends itself
    closes: list[tuple[int | None, str]] = field(default_factory=list)
    streams: int = 0  # streams opened
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _flood(self) -> None:
        payload = os.urandom(self.message_bytes)
        while not self._stop.is_set():
            try:
                with connect(self.url, open_timeout=10, close_timeout=2, max_size=None, compression=None) as ws:
                    self.streams += 1
                    assert json.loads(ws.recv(timeout=10))["type"] == "ready"
                    try:
                        sent = 0
                        while not self._stop.is_set() and (self.max_bytes is None or sent < self.max_bytes):
                            ws.send(payload)
                            sent += len(payload)
                        if not self._stop.is_set():
                            self.closes.append((0, f"the client stopped after {sent} bytes"))
                    except ConnectionClosed as closed:
                        self.closes.append((closed.rcvd.code if closed.rcvd else None, _last_error(ws)))
                self._stop.wait(self.pause)
            except (ConnectionClosed, InvalidStatus, OSError, TimeoutError) as error:
                self.closes.append((None, repr(error)))
                time.sleep(0.05)

    def __enter__(self) -> "Flooder":
        for _ in range(self.threads):
            worker = threading.Thread(target=self._flood, daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)


def _last_error(ws) -> str:
    """The message of the last error event a closed connection still holds ('' if none)."""
    message = ""
    while True:
        try:
            event = json.loads(ws.recv(timeout=0))
        except (ConnectionClosed, TimeoutError, EOFError):
            return message
        message = event.get("message", message)


def main() -> None:
    """`python load_clients.py flood WS_URL SECONDS [THREADS [PAUSE [MAX_MIB]]]`: flood from this process until
    SECONDS passed or SIGINT, then print the streams and their closes as JSON (code 0: the client stopped)."""
    import signal
    import sys

    _, what, url, seconds, *rest = sys.argv
    assert what == "flood"
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    flooder = Flooder(url, threads=int(rest[0]) if rest else 1, pause=float(rest[1]) if len(rest) > 1 else 0.0,
                      max_bytes=int(rest[2]) * 2**20 if len(rest) > 2 else None)
    with flooder:
        done.wait(float(seconds))
    print(json.dumps({"streams": flooder.streams, "closes": flooder.closes}))


if __name__ == "__main__":
    main()
