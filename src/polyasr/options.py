"""TranscribeOptions: everything one Recognizer call is asked to do, in one frozen object.

Every entry point (the Python API, the CLI, the server, streaming, evaluation, batch jobs) builds
one of these and hands it down; the language is parsed here, once, into a `LanguageChoice`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from .audio.vad import VadOptions
from .decoding.langid import LanguageCalibration
from .decoding.options import DecoderOptions
from .diarization.options import DiarizationOptions
from .engine.windows import WindowOptions
from .errors import OptionsError
from .language.choice import LanguageChoice
from .output.timing import SegmentOptions

__all__ = ["TranscribeOptions"]


@dataclass(frozen=True)
class TranscribeOptions:
    """What to decode and how: the language, word times, windows, segments, VAD, decoder, speakers.

    `language` is "auto" (every token; the language is reported where the model can identify it),
    "detect" (identify, then decode restricted to it), "multi" (a language per stretch of speech, each
    decoded restricted to its own) or a language ("de", "German"); strings are
    parsed into a `LanguageChoice`. None means "not chosen": "auto" for transcription, and each
    segment's own language (else every character) for `Recognizer.align_segments`.
    """

    language: LanguageChoice | None = None
    word_timestamps: bool = False  # keep each segment's words (always kept by align and diarization)
    windows: WindowOptions = field(default_factory=WindowOptions)
    segments: SegmentOptions = field(default_factory=SegmentOptions)
    vad: VadOptions | None = None  # run the model on detected speech only (needs polyasr[vad])
    language_candidates: tuple[str, ...] | None = None  # languages "detect" and "multi" choose from; None: all
    calibration: LanguageCalibration = field(default_factory=LanguageCalibration)
    diarization: DiarizationOptions | None = None  # label speakers on segments and words (needs polyasr[diarize])
    decoder: DecoderOptions = field(default_factory=DecoderOptions)  # greedy (default) or beam search

    def __post_init__(self) -> None:
        if self.language is not None and not isinstance(self.language, LanguageChoice):
            object.__setattr__(self, "language", LanguageChoice.parse(self.language))
        if self.language_candidates is not None:
            if isinstance(self.language_candidates, str) or not all(isinstance(c, str) for c in self.language_candidates):
                raise OptionsError(f"language_candidates is a tuple of codes, not {self.language_candidates!r}")
            candidates = tuple(c.strip() for c in self.language_candidates if c.strip())
            object.__setattr__(self, "language_candidates", candidates or None)

    @property
    def choice(self) -> LanguageChoice:
        """The language choice for transcription: "auto" when none was made."""
        return self.language if self.language is not None else LanguageChoice.parse(None)

    def with_settings(self, **settings: Any) -> "TranscribeOptions":
        """A copy with some fields replaced (`language="de"`, `word_timestamps=True`, ...); unknown names raise."""
        if not settings:
            return self
        unknown = sorted(set(settings) - {f.name for f in fields(self)})
        if unknown:
            raise TypeError(f"unknown setting(s) {', '.join(unknown)}; TranscribeOptions has: "
                            f"{', '.join(f.name for f in fields(self))}")
        return replace(self, **settings)
