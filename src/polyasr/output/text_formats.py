"""The plain-text writers: text (.txt, one line per segment), JSON (.json, the whole result, times
in milliseconds) and TSV (.tsv, `start end text` rows as openai/whisper writes them)."""

from __future__ import annotations

import json
from typing import Any

from ..results import Transcription
from .base import ResultWriter, timed_texts
from .lines import one_line
from .timestamps import to_ms
from .timing import round_time

__all__ = ["WriteJSON", "WriteTSV", "WriteTXT"]


class WriteTXT(ResultWriter):
    """The text: one line per segment when there are segments, else the whole text."""

    extension = "txt"

    def format(self, result: Transcription) -> str:
        if result.segments:
            lines = [one_line(segment.text) for segment in result.segments]
            lines = [line for line in lines if line]
        else:
            lines = [result.text.strip()] if result.text.strip() else []
        return "".join(line + "\n" for line in lines)


class WriteJSON(ResultWriter):
    """`Transcription.to_dict()` as UTF-8 JSON on one line, times in whole milliseconds; segment words
    dropped unless include_words."""

    extension = "json"

    def format(self, result: Transcription) -> str:
        data: dict[str, Any] = _rounded_times(result.to_dict())
        if not self.options.include_words:
            for segment in data["segments"]:
                segment.pop("words", None)
        return json.dumps(data, ensure_ascii=False) + "\n"


_TIME_KEYS = frozenset({"start", "end", "duration"})


def _rounded_times(value: Any) -> Any:
    """A copy of to_dict() output with every start, end and duration rounded to milliseconds."""
    if isinstance(value, dict):
        return {k: round_time(v) if k in _TIME_KEYS and isinstance(v, float) else _rounded_times(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded_times(item) for item in value]
    return value


class WriteTSV(ResultWriter):
    """Tab-separated `start end text` rows in integer milliseconds, one per segment, as openai/whisper writes them."""

    extension = "tsv"

    def format(self, result: Transcription) -> str:
        rows = ["start\tend\ttext"]
        for start, end, text in timed_texts(result):
            text = one_line(text).replace("\t", " ")
            if text:
                rows.append(f"{to_ms(start)}\t{to_ms(end)}\t{text}")
        return "\n".join(rows) + "\n"
