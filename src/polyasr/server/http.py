"""Limits before the app: uvicorn's h11 protocol with a header deadline, a header size limit and a socket cap,
and a uvicorn Server that closes streams (1012) and finishes in-flight work within a deadline when it stops.

uvicorn alone bounds none of these: its keep-alive timer starts only after a first response, so a
socket that never completes a request line stays open for ever; httptools has no header size limit;
and its ``limit_concurrency`` counts idle sockets, so 100 of them made every request, ``/health``
included, answer 503. Here (measured in benchmarks/server_findings.py):

* **Header deadline**: a connection must complete its request line and headers within
  ``header_timeout_seconds`` of opening (and of its previous response); otherwise it is closed.
* **Header size**: h11 buffers at most ``max_header_kb`` of an incomplete request head; beyond, the
  answer is 431 and the connection is closed (httptools, uvicorn's default parser, has no such limit).
* **Sockets**: at most ``max_sockets`` are open; a new one beyond closes the connection that has been
  idle longest (no request in progress), so idle sockets cannot exhaust anything. Requests and streams
  in progress are limited in the app (guard.py: ``max_connections``, 503; ``/health*`` and ``/metrics``
  are always answered).
* **Shutdown**: on SIGTERM/SIGINT new connections are refused, ``app.state.stopping`` is set (streams
  close with 1012, the readiness check fails), requests in progress may finish within
  ``shutdown_timeout_seconds``; then what is left is cancelled and the model worker stops.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .options import ServerOptions

__all__ = ["GuardedServer", "guarded_protocol", "uvicorn_settings"]


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with a header deadline, a 431 for oversized heads and the idle-socket cap."""

    header_timeout: float = 10.0  # seconds from opening (or the last response) to a complete request head
    max_header_bytes: int = 64 * 1024  # an incomplete request head may hold this much (431 above)
    max_sockets: int = 1000  # open sockets at most; beyond, the one idle longest is closed
    counters: dict[str, int]  # closed_header_timeout, refused_header_size, closed_idle_socket (shared by the class)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        shared = self.app_state.get("socket_counters")  # the app's metrics, when its lifespan handed them over
        if shared is not None and shared is not self.counters:  # counted from now on in the app's dict
            shared.update(self.counters)
            type(self).counters = shared
        self._head_bytes, self._idle_since = 0, time.monotonic()
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()
        if len(self.connections) > self.max_sockets:
            self._close_longest_idle()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _idle(self) -> bool:
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def _close_longest_idle(self) -> None:
        idle = [c for c in self.connections if isinstance(c, _GuardedH11) and c._idle()]
        if idle:
            oldest = min(idle, key=lambda c: c._idle_since)
            self.counters["closed_idle_socket"] += 1
            oldest.transport.close()
        else:  # every socket is busy with a request: refuse this one
            self.counters["closed_idle_socket"] += 1
            self.transport.close()

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._idle() and not self.transport.is_closing():
            self.counters["closed_header_timeout"] += 1
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._head_bytes += len(data)
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # a request head arrived (or the connection failed)
            self._disarm()
            self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        if self._head_bytes <= self.max_header_bytes:
            super().send_400_response(msg)
            return
        self.counters["refused_header_size"] += 1
        body = f"request line and headers larger than the server's limit of {self.max_header_bytes // 1024} KiB".encode()
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
        for event in (h11.Response(status_code=431, headers=headers, reason=b"Request Header Fields Too Large"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._idle_since = time.monotonic()
            self._arm()  # the next request head has the same deadline (the keep-alive timer closes idle ones earlier)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def guarded_protocol(options: ServerOptions) -> type[H11Protocol]:
    """An h11 protocol class enforcing `options`' header deadline, header size and socket cap."""
    return type("GuardedH11", (_GuardedH11,), {
        "header_timeout": options.header_timeout_seconds, "max_header_bytes": int(options.max_header_kb * 1024),
        "max_sockets": options.max_sockets,
        "counters": {"closed_header_timeout": 0, "refused_header_size": 0, "closed_idle_socket": 0},
    })


def uvicorn_settings(options: ServerOptions, ws_frame_margin: int = 4096) -> dict[str, Any]:
    """The uvicorn.Config settings that enforce `options`' connection limits (cli/serve.py and the tests use them)."""
    return {
        "http": guarded_protocol(options),
        "h11_max_incomplete_event_size": int(options.max_header_kb * 1024),
        "timeout_keep_alive": options.keep_alive_seconds,
        "timeout_graceful_shutdown": options.shutdown_timeout_seconds,
        # messages over the limit are refused (1009) before they are read; the margin leaves room for
        # permessage-deflate's overhead on incompressible audio, and the route checks the exact limit
        "ws_max_size": options.streams.message_bytes + ws_frame_margin,
    }


class GuardedServer(uvicorn.Server):
    """uvicorn's Server that tells the app it is stopping (``app.state.stopping``) before it waits for connections."""

    async def shutdown(self, sockets: Any = None) -> None:
        app = self.config.app
        stopping = getattr(getattr(app, "state", None), "stopping", None)
        if stopping is not None:
            stopping.set()
        await super().shutdown(sockets=sockets)
