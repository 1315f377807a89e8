"""Server logging without secrets: query parameters that carry keys are redacted from every log line.

uvicorn logs each request's path with its query string (``GET /v1/languages?api_key=...`` on
``uvicorn.access``, ``"WebSocket /v1/audio/stream?api_key=..." [accepted]`` on ``uvicorn.error``).
:class:`RedactSecrets` rewrites such values to ``[redacted]`` in a record's message and arguments;
:func:`uvicorn_log_config` is uvicorn's own logging configuration with that filter on every
handler (``polyasr serve`` passes it to uvicorn).
"""

from __future__ import annotations

import copy
import json
import logging
import re
from datetime import datetime, timezone
from urllib.parse import unquote_plus
from typing import Any

REDACTED = "[redacted]"
# names of query parameters that carry secrets, compared after percent-decoding, lower-cased, without "_" and "-"
SECRET_NAMES = frozenset({"apikey", "key", "token", "accesstoken", "authorization", "auth"})
_QUERY_PARAM = re.compile(r"([?&;])([^=&#\s\"'?;]*)=([^&#\s\"';]*)")
# the Authorization header as libraries log it ("Authorization: Bearer ...", "'authorization': b'Bearer ...'")
_AUTH_HEADER = re.compile(r"(?i)(\bauthorization['\"]?\s*[:=,]\s*(?:b?['\"])?)[^\r\n'\"]*")
# a key inside a JSON or dict text ("api_key": "...", 'api_key': '...'), e.g. the WebSocket auth message
_JSON_KEY = re.compile(r"(?i)((?:\\?[\"'])(?:api[_-]?key|key|token|access[_-]?token)(?:\\?[\"'])\s*:\s*(?:\\?[\"']))"
                       r"(?:[^\"'\\]|\\(?![\"']))*")


def _secret_name(name: str) -> bool:
    decoded = unquote_plus(unquote_plus(name)).lower()
    return decoded.replace("_", "").replace("-", "") in SECRET_NAMES


def redact(text: str) -> str:
    """`text` with every secret replaced by [redacted]: the values of query parameters whose decoded name is a
    key's (``api_key``, ``api%5Fkey``, ``%61pi_key``, ``token``, ...), Authorization header values and keys in
    JSON messages (the WebSocket's ``{"type": "auth", "api_key": ...}``)."""
    text = _QUERY_PARAM.sub(lambda m: m.group(1) + m.group(2) + "=" + (REDACTED if _secret_name(m.group(2)) else m.group(3)),
                            text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + REDACTED, text)
    return _JSON_KEY.sub(lambda m: m.group(1) + REDACTED, text)


class RedactSecrets(logging.Filter):
    """A logging filter that redacts secrets from a record's formatted message (its arguments included) and
    from its exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):  # string arguments redacted one by one: formatters may still read them
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: redact(arg) if isinstance(arg, str) else arg for key, arg in record.args.items()}
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is
            return True
        if redact(message) != message:  # a secret inside another argument (headers, frames): the message, redacted
            record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def redact_root_handlers() -> None:
    """Add RedactSecrets to every handler of the root logger (libraries such as websockets log through it)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message; uvicorn's access records add
    client, request (its request line) and status; an exception adds exc_info."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args
            entry.update(client=client, request=f"{method} {path} HTTP/{version}", status=status)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def uvicorn_log_config(json_lines: bool = False) -> dict[str, Any]:
    """uvicorn's default logging configuration, with RedactSecrets on each of its handlers (`json_lines`: JsonFormatter)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": f"{__name__}.RedactSecrets"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact_secrets"]
    if json_lines:
        config["formatters"] = {name: {"()": f"{__name__}.JsonFormatter"} for name in config["formatters"]}
    return config
