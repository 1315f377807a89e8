"""The RTTM writer (.rttm): a diarized result's speaker turns in NIST's format."""

from __future__ import annotations

from ..errors import OptionsError
from ..results import Transcription
from .base import ResultWriter
from .stems import output_stem

__all__ = ["WriteRTTM"]


class WriteRTTM(ResultWriter):
    """NIST RTTM speaker turns: `SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>` per segment.

    Needs a diarized result (segments with a speaker); OptionsError otherwise.
    """

    extension = "rttm"

    def format(self, result: Transcription) -> str:
        turns = [segment for segment in result.segments if segment.speaker is not None]
        if not turns and result.segments:
            raise OptionsError("the rttm format lists speakers, and this result has none: diarize it (--diarize)")
        name = "_".join(output_stem(result.source).split()) or "audio"
        return "".join(
            f"SPEAKER {name} 1 {s.start:.3f} {max(s.end - s.start, 0.0):.3f} <NA> <NA> {'_'.join(str(s.speaker).split())} <NA> <NA>\n"
            for s in turns
        )
