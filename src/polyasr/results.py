"""Typed results returned by the transcriber and consumed by the writers, the CLI and the server."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Transcription:
    """The transcript of one audio input."""

    text: str
    language: str | None  # the language decoding was restricted to; None for unrestricted ("auto")
    duration: float  # seconds of audio
    source: str  # the input's name: its path, or "<bytes>", "<array>", ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
