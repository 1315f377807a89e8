"""One output row per input: the Arrow schema of batch results, and rows made from Transcriptions.

Columns: id, source, text, language, language_probability, duration, segments (id, start, end,
text and, with word timestamps, words: word, start, end, score), error and error_type. A failed
input has text, language and segments null and its error's message and class name set.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from ..results import Transcription

WORD = pa.struct([("word", pa.string()), ("start", pa.float64()), ("end", pa.float64()), ("score", pa.float64())])
SEGMENT = pa.struct([
    ("id", pa.int64()), ("start", pa.float64()), ("end", pa.float64()), ("text", pa.string()),
    ("words", pa.list_(WORD)),
])
RESULT_SCHEMA = pa.schema([
    ("id", pa.string()),  # the input's id (manifest id, or path relative to the glob or folder)
    ("source", pa.string()),  # the audio path or URL as listed
    ("text", pa.string()),
    ("language", pa.string()),  # code decoding was restricted to; null for "auto"
    ("language_probability", pa.float64()),  # with language detection
    ("duration", pa.float64()),  # seconds of audio
    ("segments", pa.list_(SEGMENT)),
    ("error", pa.string()),  # why this input failed; null when it succeeded
    ("error_type", pa.string()),  # the error's class, e.g. CorruptAudioError
])


def success_row(uid: str, source: str, result: Transcription, words: bool) -> dict[str, Any]:
    """The row of a transcribed input (segment words kept only when asked for)."""
    data = result.to_dict()
    segments = []
    for segment in data["segments"]:
        kept = [{key: word[key] for key in ("word", "start", "end", "score")} for word in segment["words"]] if words else []
        segments.append({key: segment[key] for key in ("id", "start", "end", "text")} | {"words": kept})
    return {
        "id": uid, "source": source, "text": data["text"], "language": data["language"],
        "language_probability": data["language_probability"], "duration": data["duration"], "segments": segments,
        "error": None, "error_type": None,
    }


def failure_row(uid: str, source: str, error: str, error_type: str) -> dict[str, Any]:
    """The row of an input that failed: its error's message and class name (e.g. CorruptAudioError)."""
    return {
        "id": uid, "source": source, "text": None, "language": None, "language_probability": None,
        "duration": None, "segments": None, "error": error, "error_type": error_type,
    }


def rows_to_table(rows: list[dict[str, Any]], extra: dict[str, pa.Array] | None = None) -> pa.Table:
    """Rows as a table of RESULT_SCHEMA, plus `extra` columns (e.g. the shard index) appended."""
    table = pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
    for name, column in (extra or {}).items():
        table = table.append_column(name, column)
    return table
