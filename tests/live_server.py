"""Run an ASGI app with uvicorn on a free 127.0.0.1 port in a background thread, for tests."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import uvicorn


@contextmanager
def live_server(app: Any, timeout: float = 20.0, **settings: Any) -> Iterator[str]:
    """Yield the base URL ("http://127.0.0.1:PORT") while the app is served; stop it afterwards.

    `settings`: more uvicorn.Config settings, e.g. ``**uvicorn_settings(options)`` as `polyasr serve` uses.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


@contextmanager
def serve_command(model_dir: Any, *args: str, timeout: float = 120.0) -> Iterator[tuple[str, Any, list[str]]]:
    """`polyasr serve` in a subprocess on 127.0.0.1 (tiny model, CPU): (URL, process, its log lines so far).

    Stopped with SIGINT (then killed) when the block ends, unless the test stopped it.
    """
    with serve_process(["--model", str(model_dir), "--port", "0", "--device", "cpu", "--dtype", "fp32", *args],
                       r'"?Uvicorn running on (http://127\.0\.0\.1:\d+)', timeout=timeout) as served:
        yield served


@contextmanager
def serve_process(args: list[str], ready: str, env: dict[str, str] | None = None,
                  timeout: float = 120.0) -> Iterator[tuple[str, Any, list[str]]]:
    """`polyasr serve ARGS` in a subprocess, until a line of its output matches `ready` (whose first group
    is the URL): (URL, process, its log lines so far). Stopped with SIGINT (then killed) when the block
    ends, unless the test stopped it. `env`: more environment."""
    import os
    import re
    import signal
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "polyasr", "serve", *args],
                               env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)
            match = re.search(ready, line)
            if match and not found.is_set():
                url.append(match.group(1))
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert found.wait(timeout) and process.poll() is None, "".join(lines[-80:])
        yield url[0], process, lines
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        reader.join(10)
