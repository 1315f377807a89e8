"""Subtitle timestamps: seconds to whole milliseconds (:func:`to_ms`) and `HH:MM:SS.mmm` text
(:func:`format_timestamp`)."""

from __future__ import annotations

import math

__all__ = ["format_timestamp", "to_ms"]


def to_ms(seconds: float) -> int:
    """Seconds to whole milliseconds, rounding half up; negative or non-finite times become 0."""
    if not math.isfinite(seconds) or seconds <= 0:
        return 0
    return int(math.floor(seconds * 1000.0 + 0.5))


def format_timestamp(milliseconds: int, decimal_marker: str = ".") -> str:
    """`HH:MM:SS.mmm` (hours at least two digits) for whole milliseconds, e.g. 3661500 -> 01:01:01.500."""
    milliseconds = max(0, int(milliseconds))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal_marker}{millis:03d}"
