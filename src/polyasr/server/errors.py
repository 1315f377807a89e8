"""HTTP errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Status codes (the same for every route):

* 400 ``invalid_request_error``: a bad or missing parameter (unknown language, bad response_format,
  missing ``file``, a hotword weight that is not finite or beyond +-100, ...), an empty upload (code
  ``empty_file``) or audio that decodes to no samples (``empty_audio``); ``host_not_allowed``: the
  ``Host`` header is not one of the server's names (guard.py).
* 401 ``invalid_request_error`` / ``invalid_api_key``: API keys are configured and the request has
  no ``Authorization: Bearer <key>`` header or a wrong key.
* 403 ``origin_not_allowed``: a browser request from another web origin than the server's own and
  its ``cors_origins``.
* 404 ``not_found``: no such route or model.
* 408 ``timeout``: the request was not done within the server's time limit; ``upload_timeout``: its
  body did not arrive within the upload time limit (the connection is closed).
* 413 ``file_too_large`` / ``request_too_large`` / ``audio_too_long``: the size or duration limits.
* 415 ``unsupported_media``: the upload is not audio or video we can decode, or it is corrupt.
* 431 (plain text, connection closed): request line and headers over the limit (http.py).
* 500 ``server_error``: a bug; the message says no more than that.
* 501 ``diarization_unavailable``: ``diarize`` without the diarization extra.
* 503 ``server_busy`` (with ``Retry-After``: the queue's expected wait): the queue is full (requests or
  queued audio seconds), requests in progress over ``max_connections``, or uploads in progress over
  ``max_spool_mb`` (guard.py); ``shutting_down`` while stopping.

Every message about an upload names it by its file name.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import AudioError, EmptyAudioError, LanguageError

logger = logging.getLogger("polyasr.server")


class ErrorDetail(BaseModel):
    """What went wrong, as OpenAI's API reports it."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


_TYPES = {
    400: "invalid_request_error", 401: "invalid_request_error", 403: "invalid_request_error", 404: "invalid_request_error",
    405: "invalid_request_error", 408: "timeout_error", 413: "invalid_request_error",
    415: "invalid_request_error", 500: "server_error", 503: "server_error",
}


class ApiError(Exception):
    """Raised by handlers; turned into a JSON error response with `status`."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}


def error_body(status: int, message: str, code: str | None = None, param: str | None = None) -> dict:
    """The JSON body of an error response."""
    kind = _TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error_body(error.status, error.message, error.code, error.param), error.status, error.headers)


def audio_error(error: AudioError, param: str = "file") -> ApiError:
    """400 for audio without samples, 415 for anything that is not decodable audio."""
    if isinstance(error, EmptyAudioError):
        return ApiError(400, str(error), "empty_audio", param)
    return ApiError(415, str(error), "unsupported_media", param)


def language_error(error: LanguageError, param: str = "language") -> ApiError:
    """400 with the message naming the valid codes."""
    return ApiError(400, str(error), "unsupported_language", param)


def _validation_message(error: dict) -> tuple[str, str | None]:
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "header", "path")]
    param = loc[0] if loc else None
    if error.get("type") == "missing":
        return f"'{param}' is required", param
    return f"invalid '{param}': {error.get('msg', 'bad value')}", param


def install_error_handlers(app: FastAPI) -> None:
    """Every error the app returns, including FastAPI's own, in OpenAI's shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        if error.status >= 500:
            logger.warning("%s %s: %d %s", request.method, request.url.path, error.status, error.message)
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        message, param = _validation_message(problems[0]) if problems else ("invalid request", None)
        return error_response(ApiError(400, message, "invalid_parameter", param))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}.get(error.status_code)
        return error_response(ApiError(error.status_code, str(error.detail), code, None, dict(error.headers or {})))

    @app.exception_handler(Exception)
    async def _bug(request: Request, error: Exception) -> JSONResponse:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return error_response(ApiError(500, "internal server error", "server_error"))
