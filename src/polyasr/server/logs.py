"""Server logging without secrets: query parameters that carry keys are redacted from every log line.

uvicorn logs each request's path with its query string (``GET /v1/languages?api_key=...`` on
``uvicorn.access``, ``"WebSocket /v1/audio/stream?api_key=..." [accepted]`` on ``uvicorn.error``).
:class:`RedactSecrets` rewrites such values to ``[redacted]`` in a record's message and arguments;
:func:`uvicorn_log_config` is uvicorn's own logging configuration with that filter on every
handler (``polyasr serve`` passes it to uvicorn).
"""

from __future__ import annotations

import copy
import logging
import re
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
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is
            return True
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


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, with RedactSecrets on each of its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": f"{__name__}.RedactSecrets"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact_secrets"]
    return config
