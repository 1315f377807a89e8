"""Endpoints by silence: when a live stream's speech has paused long enough to send a final.

An energy rule, without any model (sherpa-onnx's endpoint rules, on the audio's level instead of
the recogniser's blanks): every 20 ms frame's level (dB of its RMS) is compared with a noise floor
that follows the quietest frames (it drops at once to a quieter frame and rises slowly, so speech
does not lift it); a frame more than `margin_db` above the floor (and above `min_db`) is speech.
The floor starts at `min_db`, so speech at the very start of a stream counts; in steady noise
louder than that, the first second or two count as speech until the floor has risen to it. An
endpoint is due once `silence_seconds` of non-speech follow at least `min_speech_seconds` of
speech. The CTC model's own pauses (runs of blank frames) still cut earlier, and
`StreamingOptions.max_buffer_seconds` ends an utterance that never pauses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import OptionsError

__all__ = ["EndpointOptions", "EnergyEndpoint"]


@dataclass(frozen=True)
class EndpointOptions:
    """Where trailing silence ends an utterance (a final is sent); see the module docstring."""

    silence_seconds: float = 0.5  # non-speech after speech this long ends the utterance; 0 turns the rule off
    min_speech_seconds: float = 0.2  # speech (frames above the floor) an utterance needs before it can end
    margin_db: float = 12.0  # a frame this far above the noise floor is speech
    min_db: float = -55.0  # frames quieter than this (dBFS) are never speech
    floor_rise_db_per_second: float = 6.0  # how fast the noise floor follows a louder background

    def __post_init__(self) -> None:
        for name in ("silence_seconds", "min_speech_seconds", "margin_db", "floor_rise_db_per_second"):
            value = getattr(self, name)
            if not value >= 0:
                raise OptionsError(f"endpoint {name} must be 0 or more, not {value}")

    @property
    def enabled(self) -> bool:
        return self.silence_seconds > 0


class EnergyEndpoint:
    """Frame levels of a stream as it arrives, and whether its current utterance has ended."""

    def __init__(self, options: EndpointOptions, samples_per_frame: int, frame_seconds: float) -> None:
        self.options = options
        self._spf = samples_per_frame
        self._rise = options.floor_rise_db_per_second * frame_seconds
        self._silence_frames = max(1, round(options.silence_seconds / frame_seconds))
        self._min_speech = max(1, round(options.min_speech_seconds / frame_seconds))
        self._rest = np.zeros(0, np.float32)  # samples of an incomplete frame
        self._floor: float | None = None
        self.frames = 0  # frames measured so far (stream position in frames)
        self.speech_frames = 0  # speech frames of the current utterance
        self.last_speech_end = 0  # frame after the last speech frame (stream position)
        self.ended: int | None = None  # where the speech of an ended utterance stopped (stream frame), until `reset`
        self._after = 0  # speech frames since then (the next utterance's)

    def add(self, samples: np.ndarray) -> None:
        """Measure the complete frames these samples bring."""
        x = np.concatenate([self._rest, samples])
        usable = len(x) // self._spf * self._spf
        self._rest = x[usable:]
        if not usable:
            return
        power = np.square(x[:usable].reshape(-1, self._spf).astype(np.float64)).mean(axis=1)
        levels = 10 * np.log10(power + 1e-12)
        floor = self.options.min_db if self._floor is None else self._floor
        for index, level in enumerate(levels.tolist(), start=self.frames):
            floor = min(level, floor + self._rise)
            if level > max(floor + self.options.margin_db, self.options.min_db):
                self.speech_frames += 1
                self._after += self.ended is not None
                self.last_speech_end = index + 1
            elif (self.ended is None and self.options.enabled and self.speech_frames >= self._min_speech
                  and index + 1 - self.last_speech_end >= self._silence_frames):
                self.ended, self._after = self.last_speech_end, 0
        self._floor = floor
        self.frames += len(levels)

    def due(self) -> bool:
        """True when an utterance had speech and then silence long enough (its end is `ended`)."""
        return self.ended is not None

    def reset(self) -> None:
        """The ended utterance was finalised: the next one starts (with the speech heard since)."""
        self.ended, self.speech_frames = None, self._after
