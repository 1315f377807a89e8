"""Typed results returned by the transcriber and aligner, consumed by writers, the CLI and the server."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Char:
    """One character (CTC token) with the time of the frames that emitted it."""

    char: str
    start: float  # seconds
    end: float  # seconds
    score: float  # mean probability of its frames, 0..1


@dataclass(frozen=True)
class Word:
    """A word (or, in scripts written without spaces, one character) with its time and confidence."""

    word: str
    start: float  # seconds
    end: float  # seconds
    score: float  # confidence 0..1: the chance that it is right, from its characters' frames (output/timing.py)
    chars: tuple[Char, ...] = ()
    speaker: str | None = None  # who said it, when diarized (e.g. "SPEAKER_00")


@dataclass(frozen=True)
class Segment:
    """A stretch of speech bounded by pauses or by a maximum length; subtitles show one at a time."""

    id: int
    start: float  # seconds
    end: float  # seconds
    text: str
    words: tuple[Word, ...] = ()  # filled when word timestamps were asked for
    speaker: str | None = None  # who said it, when diarized or given by aligned subtitles
    language: str | None = None  # the segment's own language (aligned segment by segment, or language "multi")
    language_probability: float | None = None  # that language's probability, when it was identified per segment
    score: float | None = None  # mean of its words' scores, 0..1
    avg_logprob: float | None = None  # mean log of its words' scores (Whisper's field, here per word)
    no_speech_prob: float | None = None  # the chance that none of its words is right: product of (1 - score)


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of speech by one speaker, as the diarizer found it (independent of the words' times)."""

    start: float  # seconds
    end: float  # seconds
    speaker: str  # "SPEAKER_00", "SPEAKER_01", ... in order of first appearance


@dataclass(frozen=True)
class Transcription:
    """The transcript of one audio input."""

    text: str
    language: str | None  # the language asked for, or the one identified ("auto", "detect"); None if unknown
    duration: float  # seconds of audio
    source: str  # the input's name: its path, or "<bytes>", "<array>", ...
    segments: tuple[Segment, ...] = ()
    language_probability: float | None = None  # set when the language was identified ("auto", "detect")
    warnings: tuple[str, ...] = ()  # things the user should know, e.g. characters the aligner skipped
    turns: tuple[SpeakerTurn, ...] = ()  # the diarizer's speaker turns, when diarized (what RTTM lists)

    @property
    def words(self) -> tuple[Word, ...]:
        """Every word of every segment, in order."""
        return tuple(word for segment in self.segments for word in segment.words)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
