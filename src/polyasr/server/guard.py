"""ASGI middleware that checks API keys and the request size before a handler reads the body.

* API keys: when keys are configured, every HTTP request under ``/v1/`` needs
  ``Authorization: Bearer <key>`` (401 otherwise). ``/``, ``/static/*``, ``/health``,
  ``/openapi.json`` and ``/docs`` stay open: the page and the health check hold no secrets, and a
  load balancer must be able to probe the server. WebSocket routes check keys themselves, with
  :func:`api_key_valid` (browsers cannot set headers on a WebSocket).
* Size: a body larger than the upload limit plus a small margin for the other form fields gets 413, whether it says so in Content-Length or not
  (chunked uploads are counted as they arrive; nothing beyond the limit is kept in memory).
  Before answering early, the rest of the body is read and discarded (up to 16 MiB), so that
  clients still sending it read the answer instead of a reset connection.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Awaitable, Callable, Iterable

from .errors import error_body

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DRAIN_BYTES = 16 * 1024 * 1024  # body read and discarded at most before an early answer
PROTECTED_PREFIX = "/v1/"


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


class _TooLarge(Exception):
    pass


class GuardMiddleware:
    """API-key check and body-size limit for HTTP requests (see the module docstring)."""

    def __init__(self, app: ASGIApp, api_keys: tuple[str, ...] = (), max_upload_bytes: int | None = None,
                 margin_bytes: int = 64 * 1024) -> None:
        self.app = app
        self.api_keys = api_keys  # accepted bearer keys for /v1/*; empty: no check
        self.max_upload_bytes = max_upload_bytes  # the upload limit users are told about; None: no limit
        # the body may exceed the upload limit by `margin_bytes` (multipart headers, other form fields)
        self.max_body_bytes = None if max_upload_bytes is None else max_upload_bytes + margin_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        if self.api_keys and scope.get("path", "").startswith(PROTECTED_PREFIX):
            token = bearer_token(headers.get("authorization"))
            if not api_key_valid(self.api_keys, token):
                message = "missing API key: send 'Authorization: Bearer <key>'" if token is None else "incorrect API key provided"
                await _drain(receive)
                await _reply(send, 401, message, "invalid_api_key", {"www-authenticate": "Bearer"})
                return
        limit = self.max_body_bytes
        if limit is None:
            await self.app(scope, receive, send)
            return
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _drain(receive)
            await _reply(send, 413, _too_large_message(self.max_upload_bytes or limit), "request_too_large")
            return
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        too_large = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    if message.get("more_body", False):
                        await _drain(receive)
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return  # the handler's answer to the interrupted body is replaced by the 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        if too_large and not started:
            await _reply(send, 413, _too_large_message(self.max_upload_bytes or limit), "request_too_large")


def _too_large_message(upload_limit: int) -> str:
    return f"the upload is larger than the server's limit of {upload_limit / 1048576:g} MB"


async def _drain(receive: Receive) -> None:
    """Read and discard the rest of the request body, up to DRAIN_BYTES."""
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
