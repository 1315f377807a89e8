"""ASGI middleware that checks the origin, API keys, request size and upload time before a handler reads the body.

* Host: the ``Host`` header (its name, without the port) must be one of ``allowed_hosts``
  (``*.example.com``: any subdomain; ``*``: any), for HTTP (400) and WebSocket handshakes (403).
  A page on ``evil.example`` whose name an attacker re-points at 127.0.0.1 (DNS rebinding) thus
  reaches nothing: its requests carry ``Host: evil.example``, and its Origin is then "the server's own".
* Origin: a request that carries an ``Origin`` header (browsers add it to cross-site requests)
  is served only if that origin is the server's own (its host and port are the request's
  ``Host``) or one of the configured CORS origins; otherwise 403 before anything is read. A
  foreign page can thus not make a browser drive the server, not even with a "simple" POST whose
  answer it could not read. Clients without an ``Origin`` header (curl, SDKs) are not affected.
  :func:`origin_allowed` is the same check for the WebSocket route.
* API keys: when keys are configured, every HTTP request under ``/v1/`` needs
  ``Authorization: Bearer <key>`` (401 otherwise). ``/``, ``/static/*``, ``/health``,
  ``/openapi.json`` and ``/docs`` stay open: the page and the health check hold no secrets, and a
  load balancer must be able to probe the server. WebSocket routes check keys themselves, with
  :func:`api_key_valid` (browsers cannot set headers on a WebSocket).
* Size: a body larger than the upload limit plus a small margin for the other form fields gets 413, whether it says so in Content-Length or not
  (chunked uploads are counted as they arrive; nothing beyond the limit is kept in memory).
  Before answering early, the rest of the body is read and discarded (up to 16 MiB), so that
  clients still sending it read the answer instead of a reset connection.
* In progress: at most ``max_in_flight`` requests and streams at once (503 with Retry-After; a
  stream gets an error event and close 1013). ``/health``, ``/health/ready`` and ``/metrics`` are
  not counted and always answered; idle sockets never reach this layer (http.py closes them).
* Spool: request bodies of all requests in progress (spooled to temporary files by the multipart
  parser) may hold ``max_spool_bytes`` at most, in all: a request whose Content-Length would pass
  it, or whose body passes it as it arrives, gets 503 with Retry-After.
* Upload time: the whole body must arrive within ``body_timeout`` seconds of the request's
  headers; a client that trickles or stalls gets 408 and its connection is closed
  (``Connection: close``), which also ends its temporary upload file.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from .errors import error_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DRAIN_BYTES = 16 * 1024 * 1024  # body read and discarded at most before an early answer
PROTECTED_PREFIX = "/v1/"
UNLIMITED_PATHS = frozenset({"/health", "/health/ready", "/metrics"})  # probes: answered whatever else is in progress


def api_key_valid(keys: Iterable[str], presented: str | None) -> bool:
    """Whether `presented` is one of `keys` (constant-time comparison); True when there are no keys."""
    keys = tuple(keys)
    if not keys:
        return True
    if not presented:
        return False
    given = presented.encode()
    return any(hmac.compare_digest(given, key.encode()) for key in keys)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _host_port(netloc: str, scheme: str) -> str:
    """'host:port' in lower case, with the scheme's default port written out."""
    parts = urlsplit(f"//{netloc.strip()}")
    try:
        port = parts.port
    except ValueError:
        return netloc.strip().lower()
    default = 443 if scheme in ("https", "wss") else 80
    return f"{(parts.hostname or '').lower()}:{port or default}"


def origin_allowed(origin: str | None, host: str | None, allowed: Iterable[str] = (), scheme: str = "http") -> bool:
    """Whether a request with this ``Origin`` header may be served.

    True without an Origin (not a browser's cross-site request), for the server's own origin (its
    host and port equal the ``Host`` header, reached over `scheme`), and for the `allowed` origins
    ("*": any).
    """
    if origin is None:
        return True
    allowed = tuple(allowed)
    if "*" in allowed or origin.rstrip("/") in {a.rstrip("/") for a in allowed}:
        return True
    parts = urlsplit(origin)
    if not parts.scheme or not parts.netloc or not host:
        return False  # "null" (sandboxed frames, file:// pages) and other opaque origins
    return _host_port(parts.netloc, parts.scheme) == _host_port(host, scheme) or (
        parts.netloc.lower() == host.strip().lower())


def host_allowed(host: str | None, allowed: Iterable[str]) -> bool:
    """Whether the ``Host`` header names one of `allowed` (names or addresses, ports ignored; "*.x.org" any
    subdomain of x.org; "*" anything). A request without Host (HTTP/1.0) is allowed only with "*"."""
    allowed = tuple(a.strip().lower() for a in allowed)
    if "*" in allowed:
        return True
    if not host:
        return False
    parts = urlsplit(f"//{host.strip()}")
    try:
        name = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    for entry in allowed:
        entry = entry.strip("[]")
        if name == entry or (entry.startswith("*.") and name.endswith(entry[1:])):
            return True
    return False


@dataclass
class GuardLoad:
    """What the guard lets through now (shared with the metrics)."""

    in_flight: int = 0  # requests and streams in progress (probes excluded)
    spooled: int = 0  # bytes of request bodies received by requests still in progress


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class _Busy(Exception):  # the spool limit of all uploads in progress
    pass


class GuardMiddleware:
    """Origin check, API-key check, body-size limit and upload deadline for HTTP requests (see the module docstring)."""

    def __init__(self, app: ASGIApp, api_keys: tuple[str, ...] = (), max_upload_bytes: int | None = None,
                 margin_bytes: int = 64 * 1024, body_timeout: float | None = None,
                 allowed_origins: tuple[str, ...] = (), allowed_hosts: tuple[str, ...] = ("*",),
                 max_in_flight: int | None = None, retry_after: int = 2, max_spool_bytes: int | None = None,
                 load: GuardLoad | None = None) -> None:
        self.app = app
        self.max_spool_bytes = max_spool_bytes  # request bodies held by requests in progress at most, in all (503 above)
        self.max_in_flight = max_in_flight  # requests and streams in progress at most (503 / close 1013); None: no limit
        self.load = load if load is not None else GuardLoad()  # what is in progress now (read by the metrics)
        self.retry_after = retry_after
        self.allowed_hosts = allowed_hosts  # names the Host header may carry ("*": any)
        self.api_keys = api_keys  # accepted bearer keys for /v1/*; empty: no check
        self.max_upload_bytes = max_upload_bytes  # the upload limit users are told about; None: no limit
        # the body may exceed the upload limit by `margin_bytes` (multipart headers, other form fields)
        self.max_body_bytes = None if max_upload_bytes is None else max_upload_bytes + margin_bytes
        self.body_timeout = body_timeout  # seconds for the whole body to arrive; None: no deadline
        self.allowed_origins = allowed_origins  # origins besides the server's own that may send requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        if not host_allowed(headers.get("host"), self.allowed_hosts):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})  # before accepting: HTTP 403
            else:
                await _reply(send, 400, f"the Host header {headers.get('host')!r} is not one of this server's names "
                             "(see its --allowed-hosts option)", "host_not_allowed", {"connection": "close"})
            return
        if scope.get("path", "") in UNLIMITED_PATHS:
            await self._serve(scope, receive, send, headers)
            return
        if self.max_in_flight is not None and self.load.in_flight >= self.max_in_flight:
            await _refuse_busy(scope, receive, send, self.max_in_flight, self.retry_after)
            return
        self.load.in_flight += 1
        try:
            await self._serve(scope, receive, send, headers)
        finally:
            self.load.in_flight -= 1

    async def _serve(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = headers.get("origin")
        if not origin_allowed(origin, headers.get("host"), self.allowed_origins, scope.get("scheme", "http")):
            await _reply(send, 403, f"requests from the web origin {origin!r} are not allowed by this server "
                         "(see its --cors-origins option)", "origin_not_allowed", {"connection": "close"})
            return
        if self.api_keys and scope.get("path", "").startswith(PROTECTED_PREFIX):
            token = bearer_token(headers.get("authorization"))
            if not api_key_valid(self.api_keys, token):
                message = "missing API key: send 'Authorization: Bearer <key>'" if token is None else "incorrect API key provided"
                await _drain(receive, self.body_timeout)
                await _reply(send, 401, message, "invalid_api_key", {"www-authenticate": "Bearer"})
                return
        limit = self.max_body_bytes
        length = headers.get("content-length", "")
        if limit is not None and length.isdigit() and int(length) > limit:
            await _drain(receive, self.body_timeout)
            await _reply(send, 413, _too_large_message(self.max_upload_bytes or limit), "request_too_large")
            return
        if self.max_spool_bytes is not None and length.isdigit() and self.load.spooled + int(length) > self.max_spool_bytes:
            await _drain(receive, self.body_timeout)
            await _reply(send, 503, self._spool_message(), "server_busy", {"retry-after": str(self.retry_after)})
            return
        await self._limited(scope, receive, send, limit)

    def _spool_message(self) -> str:
        return (f"uploads in progress hold {self.load.spooled / 1048576:.0f} MB; the server's limit for all of them is "
                f"{(self.max_spool_bytes or 0) / 1048576:g} MB; retry later")

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int | None) -> None:
        received = 0
        stopped: type[Exception] | None = None  # _TooLarge or _TooSlow once the body was cut off
        started = False
        deadline = None if self.body_timeout is None else time.monotonic() + self.body_timeout

        async def checked_receive() -> Message:
            nonlocal received, stopped, deadline
            try:
                message = await (receive() if deadline is None else
                                 asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.0)))
            except asyncio.TimeoutError:
                stopped = _TooSlow
                raise _TooSlow() from None
            if message["type"] != "http.request":
                return message
            size = len(message.get("body", b""))
            received += size
            self.load.spooled += size
            if self.max_spool_bytes is not None and self.load.spooled > self.max_spool_bytes:
                stopped = _Busy
                raise _Busy()
            if limit is not None and received > limit:
                stopped = _TooLarge
                if message.get("more_body", False):
                    await _drain(receive, self.body_timeout)
                raise _TooLarge()
            if not message.get("more_body", False):
                deadline = None  # the body is complete: later receives only wait for a disconnect
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if stopped is not None:
                return  # the handler's answer to the interrupted body is replaced below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, checked_receive, guarded_send)
        except (_TooLarge, _TooSlow, _Busy):
            pass
        finally:
            self.load.spooled -= received  # the request's spooled body is released with it
        if stopped is _Busy and not started:
            await _reply(send, 503, self._spool_message(), "server_busy",
                         {"retry-after": str(self.retry_after), "connection": "close"})
        if stopped is _TooLarge and not started:
            await _reply(send, 413, _too_large_message(self.max_upload_bytes or limit or 0), "request_too_large")
        elif stopped is _TooSlow and not started:
            await _reply(send, 408, f"the request body did not arrive within the server's limit of {self.body_timeout:g} s",
                         "upload_timeout", {"connection": "close"})


async def _refuse_busy(scope: Scope, receive: Receive, send: Send, limit: int, retry_after: int) -> None:
    message = f"the server has {limit} requests and streams in progress; retry later"
    if scope["type"] == "websocket":
        if (await receive())["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": json.dumps({"type": "error", "message": message})})
            await send({"type": "websocket.close", "code": 1013})
        return
    await _drain(receive, 5.0)
    await _reply(send, 503, message, "server_busy", {"retry-after": str(retry_after)})


def _too_large_message(upload_limit: int) -> str:
    return f"the upload is larger than the server's limit of {upload_limit / 1048576:g} MB"


async def _drain(receive: Receive, seconds: float | None = None) -> None:
    """Read and discard the rest of the request body, up to DRAIN_BYTES and for at most `seconds`."""
    try:
        await asyncio.wait_for(_discard(receive), seconds)
    except asyncio.TimeoutError:
        pass


async def _discard(receive: Receive) -> None:
    seen = 0
    while seen <= DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _reply(send: Send, status: int, message: str, code: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps(error_body(status, message, code)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(key.encode(), value.encode()) for key, value in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
