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
from typing import Any

REDACTED = "[redacted]"
# api_key=..., apikey=..., key=..., token=..., access_token=... in a query string (case-insensitive)
_SECRET_PARAM = re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access[_-]?token)=)[^&#\s\"']*")


def redact(text: str) -> str:
    """`text` with the values of secret query parameters replaced by [redacted]."""
    return _SECRET_PARAM.sub(lambda match: match.group(1) + REDACTED, text)


class RedactSecrets(logging.Filter):
    """A logging filter that redacts secret query parameters from a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: redact(arg) if isinstance(arg, str) else arg for key, arg in record.args.items()}
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's default logging configuration, with RedactSecrets on each of its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_secrets"] = {"()": f"{__name__}.RedactSecrets"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact_secrets"]
    return config
