"""Response bodies of the HTTP API (pydantic models, so /openapi.json shows exactly what is sent).

Responses are built through these models, never as loose dicts, so the schema and the server agree.
"""

from __future__ import annotations

import math
import zlib
from typing import Literal, Optional

from pydantic import BaseModel, Field

from ..language.catalogue import language_name
from ..model.facts import ModelFacts
from ..results import Transcription

ResponseFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
Granularity = Literal["word", "segment"]


class TranscriptionJson(BaseModel):
    """``response_format=json`` (the default)."""

    text: str


class VerboseWord(BaseModel):
    """A word with its time, as OpenAI's ``words`` list has it, plus its confidence."""

    word: str
    start: float = Field(description="seconds")
    end: float = Field(description="seconds")
    probability: float = Field(description="polyasr extra: mean probability of the word's CTC frames, 0..1")


class VerboseSegment(BaseModel):
    """A segment in OpenAI's shape. Whisper-only fields get fixed or derived values (see descriptions)."""

    id: int
    seek: int = Field(0, description="always 0: the audio is not decoded in seek windows")
    start: float = Field(description="seconds")
    end: float = Field(description="seconds")
    text: str
    tokens: list[int] = Field(default_factory=list, description="always empty: CTC tokens are characters")
    temperature: float = Field(0.0, description="always 0: decoding is greedy")
    avg_logprob: float = Field(description="mean log of the segment's word probabilities")
    compression_ratio: float = Field(description="text bytes over zlib-compressed text bytes, as Whisper computes it")
    no_speech_prob: float = Field(0.0, description="the chance that none of the segment's words is right: the product "
                                                   "of (1 - word probability); silence itself yields no segment")
    probability: float = Field(description="polyasr extra: mean word probability, 0..1")
    language: str | None = Field(None, description="polyasr extra: the segment's own language, when it has one")
    language_probability: float | None = Field(None, description="polyasr extra: that language's probability (language=multi)")
    speaker: str | None = Field(None, description="polyasr extra: SPEAKER_00, ... when diarize was asked for")


class Usage(BaseModel):
    """Billing-style usage, as OpenAI reports it for audio models."""

    type: Literal["duration"] = "duration"
    seconds: int = Field(description="audio seconds, rounded up")


class TranscriptionVerbose(BaseModel):
    """``response_format=verbose_json``: OpenAI's shape plus polyasr's language code and probability."""

    task: Literal["transcribe"] = "transcribe"
    language: str = Field(description="English name in lower case (OpenAI's convention); 'auto' when none was identified")
    language_code: str | None = Field(None, description="polyasr extra: the model's code (with auto: the identified one), null when none was")
    language_probability: float | None = Field(None, description="polyasr extra: the identified language's probability (detect, auto)")
    duration: float = Field(description="seconds of audio")
    text: str
    warnings: list[str] = Field(default_factory=list, description="polyasr extra: what the user should know (repaired samples, hotwords the language cannot spell, ...)")
    segments: list[VerboseSegment] | None = Field(None, description="when timestamp_granularities has 'segment' or is empty")
    words: list[VerboseWord] | None = Field(None, description="when timestamp_granularities has 'word'")
    usage: Usage


class DetectedLanguage(BaseModel):
    language: str = Field(description="the model's code")
    name: str = Field(description="English name")
    probability: float


class LanguageDetection(BaseModel):
    """``POST /v1/audio/language``: the most probable languages, best first ([] without speech)."""

    languages: list[DetectedLanguage]
    duration: float = Field(description="seconds of audio")


class LanguageEntry(BaseModel):
    code: str
    name: str


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models``."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="when the server loaded it (Unix time)")
    owned_by: str = "polyasr"
    model_name: str = Field(description="polyasr extra: the Hub id or folder actually loaded")
    facts: Optional[ModelFacts] = Field(None, description="polyasr extra: what the model supports and how it runs")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Health(BaseModel):
    """Liveness and load; the model's details only for callers with an API key (or on a server without keys)."""

    status: Literal["ok"] = "ok"
    model_alias: str
    model: str | None = None
    device: str | None = None
    dtype: str | None = None
    threads: int | None = None
    queue_length: int
    queue_size: int
    max_batch: int


class Readiness(BaseModel):
    """Whether the server can take work now: model loaded, worker alive and not stuck, not stopping."""

    status: Literal["ready", "not ready"]
    reason: str | None = None


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def verbose_json(result: Transcription, granularities: set[str]) -> TranscriptionVerbose:
    """The verbose_json body of `result` (which should have word timestamps, for the probabilities)."""
    segments = None
    if not granularities or "segment" in granularities:
        segments = []
        for segment in result.segments:  # a segment without words: probability 1, log 0, no_speech 0
            segments.append(VerboseSegment(
                id=segment.id, start=segment.start, end=segment.end, text=segment.text,
                avg_logprob=_or(segment.avg_logprob, 0.0), compression_ratio=_compression_ratio(segment.text),
                no_speech_prob=_or(segment.no_speech_prob, 0.0), probability=_or(segment.score, 1.0),
                speaker=segment.speaker, language=segment.language,
                language_probability=segment.language_probability,
            ))
    words = None
    if "word" in granularities:
        words = [VerboseWord(word=w.word, start=w.start, end=w.end, probability=w.score) for w in result.words]
    return TranscriptionVerbose(
        language=language_name(result.language).lower() if result.language else "auto",
        language_code=result.language, language_probability=result.language_probability,
        duration=result.duration, text=result.text, warnings=list(result.warnings), segments=segments, words=words,
        usage=Usage(seconds=math.ceil(result.duration)),
    )
