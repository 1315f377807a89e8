"""The events of a live stream, typed: what `StreamingSession` returns and what the WebSocket sends.

Each event's `to_json()` is the JSON object sent over ``/v1/audio/stream`` (the web page,
server/static/app.js, and `polyasr listen --json` read exactly these):

* `ReadyEvent`: ``{"type": "ready", "language": "de" | null, "sample_rate": 16000}`` (the server, once the stream is open)
* `PartialEvent`: ``{"type": "partial", "text", "start", "end", "stable"}`` (the session: the unfinalised audio's
  current reading; its first ``stable`` characters will not change any more)
* `FinalEvent`: ``{"type": "final", "segment": {"id", "start", "end", "text", "words": [{"word", "start", "end",
  "probability"}]}}`` (the session: a segment that will not change any more)
* `DoneEvent`: ``{"type": "done", "duration": seconds}`` (the server, after the client's end message)
* `ErrorEvent`: ``{"type": "error", "message": "..."}`` (the server, before it closes the stream)

Times are seconds from the stream's start. The class attribute `type` is the JSON's ``"type"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Union

__all__ = ["DoneEvent", "ErrorEvent", "Event", "FinalEvent", "PartialEvent", "ReadyEvent", "StreamSegment",
           "StreamWord"]


@dataclass(frozen=True)
class StreamWord:
    """A word of a final segment, with its times and confidence (rounded as the session's options say)."""

    word: str
    start: float
    end: float
    probability: float  # mean probability of its characters' frames, 0..1

    def to_json(self) -> dict[str, Any]:
        return {"word": self.word, "start": self.start, "end": self.end, "probability": self.probability}


@dataclass(frozen=True)
class StreamSegment:
    """A finalised segment of a stream; numbered from 0, in order."""

    id: int
    start: float
    end: float
    text: str
    words: tuple[StreamWord, ...]
    language: str | None = None  # language "multi": the utterance's own language
    language_probability: float | None = None

    def to_json(self) -> dict[str, Any]:
        found = {"id": self.id, "start": self.start, "end": self.end, "text": self.text,
                 "words": [word.to_json() for word in self.words]}
        if self.language is not None:
            found.update(language=self.language, language_probability=self.language_probability)
        return found


@dataclass(frozen=True)
class PartialEvent:
    """The current reading of the unfinalised audio from `start` to `end`; replaces the previous partial.

    Sent only when its text changes; "" means nothing is pending any more. The first `stable`
    characters of `text` will not change: the finals that follow begin with them (up to spaces).
    """

    type: ClassVar[str] = "partial"
    text: str
    start: float
    end: float
    stable: int = 0  # characters at the start of `text` that will not change any more

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "text": self.text, "start": self.start, "end": self.end, "stable": self.stable}


@dataclass(frozen=True)
class FinalEvent:
    """A segment that will not change any more; it replaces the partial (nothing is pending after it)."""

    type: ClassVar[str] = "final"
    segment: StreamSegment

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "segment": self.segment.to_json()}


@dataclass(frozen=True)
class ReadyEvent:
    """The server accepted the stream: its language (None: every character) and the rate it decodes at."""

    type: ClassVar[str] = "ready"
    language: str | None
    sample_rate: int

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "language": self.language, "sample_rate": self.sample_rate}


@dataclass(frozen=True)
class DoneEvent:
    """Everything the client sent is decoded: the stream's length in seconds; the server closes with 1000."""

    type: ClassVar[str] = "done"
    duration: float

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "duration": self.duration}


@dataclass(frozen=True)
class ErrorEvent:
    """Why the server ends the stream (one sentence); the close code follows."""

    type: ClassVar[str] = "error"
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message}


Event = Union[PartialEvent, FinalEvent]  # what a StreamingSession returns
