"""The RTTM writer (.rttm): a diarized result's speaker turns in NIST's format."""

from __future__ import annotations

from ..errors import OptionsError
from ..results import Transcription
from .base import ResultWriter
from .stems import output_stem

__all__ = ["WriteRTTM"]


class WriteRTTM(ResultWriter):
    """NIST RTTM speaker turns: `SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>` per turn.

    The turns are the diarizer's (`result.turns`), as pyannote and DIHARD write them: they do not
    depend on the recogniser's word times. A result without turns but with speakers on its
    segments (aligned subtitles with speaker names) lists those segments; OptionsError otherwise.
    """

    extension = "rttm"

    def format(self, result: Transcription) -> str:
        turns = [(t.start, t.end, t.speaker) for t in result.turns] or [
            (s.start, s.end, s.speaker) for s in result.segments if s.speaker is not None]
        if not turns and result.segments:
            raise OptionsError("the rttm format lists speakers, and this result has none: diarize it (--diarize)")
        name = "_".join(output_stem(result.source).split()) or "audio"
        return "".join(
            f"SPEAKER {name} 1 {start:.3f} {max(end - start, 0.0):.3f} <NA> <NA> {'_'.join(str(speaker).split())} <NA> <NA>\n"
            for start, end, speaker in turns
        )
