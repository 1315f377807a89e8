"""DiarizationOptions: how speakers are told apart (checked when made)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..audio.vad import VadOptions
from ..errors import OptionsError
from .resegment import SPEAKER_COST


@dataclass(frozen=True)
class DiarizationOptions:
    """How speakers are told apart."""

    min_speakers: int | None = None  # at least this many speakers (None: 1)
    max_speakers: int | None = None  # at most this many (None: as many as the clustering finds)
    threshold: float = 0.3  # under 20 s of speech: cosine distance above which two groups of excerpts are different speakers
    speaker_cost: float = SPEAKER_COST  # number estimated: a speaker more must raise mean frame similarity by this / sqrt(frames)
    step_seconds: float = 0.25  # between the starts of two embedded 1.6 s excerpts
    min_turn_seconds: float = 0.5  # a shorter turn is given to its longer neighbour
    vad: VadOptions = field(default_factory=lambda: VadOptions(min_silence_seconds=0.25))  # speech regions

    def __post_init__(self) -> None:
        low = 1 if self.min_speakers is None else self.min_speakers
        if low < 1 or (self.max_speakers is not None and self.max_speakers < low):
            raise OptionsError(f"need 1 <= min_speakers <= max_speakers, got {self.min_speakers} and {self.max_speakers}")
        if not 0 < self.threshold < 2:
            raise OptionsError(f"threshold must lie between 0 and 2 (a cosine distance), not {self.threshold}")
        if not 0 <= self.speaker_cost < 100:
            raise OptionsError(f"speaker_cost must lie in [0, 100), not {self.speaker_cost}")
        if not 0 < self.step_seconds <= 1.6:
            raise OptionsError(f"step_seconds must lie in (0, 1.6] (the excerpt length), not {self.step_seconds}")
        if not self.min_turn_seconds >= 0:
            raise OptionsError(f"min_turn_seconds must be 0 or more, not {self.min_turn_seconds}")
