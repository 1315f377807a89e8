"""The subtitle writers: SubRip (.srt) and WebVTT (.vtt), the same cues (cues.py) with different
headers, timestamp marks and escaping."""

from __future__ import annotations

from ..results import Transcription
from .base import ResultWriter
from .cues import Cue, build_cues
from .lines import MARK_CLOSE, MARK_OPEN
from .timestamps import format_timestamp

__all__ = ["SubtitlesWriter", "WriteSRT", "WriteVTT"]


class SubtitlesWriter(ResultWriter):
    """Base of the SRT and VTT writers: the same cues, different headers and timestamp marks."""

    decimal_marker = "."

    def cues(self, result: Transcription) -> list[Cue]:
        return build_cues(result, self.options)

    def timestamp(self, milliseconds: int) -> str:
        return format_timestamp(milliseconds, self.decimal_marker)

    def cue_times(self, cue: Cue) -> str:
        return f"{self.timestamp(cue.start_ms)} --> {self.timestamp(cue.end_ms)}"


class WriteSRT(SubtitlesWriter):
    """SubRip: numbered cues from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line after each."""

    extension = "srt"
    decimal_marker = ","

    def format(self, result: Transcription) -> str:
        return "".join(
            f"{index}\n{self.cue_times(cue)}\n{_marked(cue.text)}\n\n" for index, cue in enumerate(self.cues(result), start=1)
        )


class WriteVTT(SubtitlesWriter):
    """WebVTT: a `WEBVTT` header and blank line, then `HH:MM:SS.mmm --> HH:MM:SS.mmm` cues."""

    extension = "vtt"
    decimal_marker = "."

    def format(self, result: Transcription) -> str:
        return "WEBVTT\n\n" + "".join(f"{self.cue_times(cue)}\n{_marked(_vtt_escape(cue.text))}\n\n" for cue in self.cues(result))


def _marked(text: str) -> str:
    """Low-confidence words underlined, as both SubRip and WebVTT write it."""
    return text.replace(MARK_OPEN, "<u>").replace(MARK_CLOSE, "</u>")


def _vtt_escape(text: str) -> str:
    """Cue text as WebVTT needs it: "&", "<" and ">" would start entities and tags (<b>, <c.x>)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
