"""Live transcription of an audio stream: partial text while speech goes on, final segments at pauses.

A `StreamingSession` takes 16 kHz mono float32 samples in pieces of any size (`PcmDecoder` turns raw
PCM bytes at any rate into those) and returns events (streaming/events.py; `to_json()` gives what
the WebSocket sends):

* `PartialEvent` ``{"type": "partial", "text", "start", "end"}``: the current reading of the
  unfinalised audio (from ``start`` to ``end``, seconds from the stream's start). It may still
  change; a new partial replaces the previous one, and so does a final (after which nothing is
  pending). Sent only when its text changes; ``""`` means nothing is pending.
* `FinalEvent` ``{"type": "final", "segment": {"id", "start", "end", "text", "words": [{"word",
  "start", "end", "probability"}]}}``: a segment that will not change any more. Segments are
  numbered from 0 and ordered.

How it works. Audio is decoded in steps of `update_seconds`. After each step the model runs once
over the whole unfinalised buffer (never more than `max_buffer_seconds`), and each frame gets its
token on the path the decoder chose (`Recognizer.decoder`: greedy, or beam search with an LM and
hotwords; restricted to a language's characters as `Recognizer.transcribe` does). A run of frames
without characters (blank, word delimiter) at least `pause_seconds` long ends a segment: the frames before a cut inside that run are decoded
(`decoding.decode_frames`, `timing.words_from_spans`) and sent as a final, and the buffer is
trimmed to the cut. Cuts are made only on blank frames, so no character is split between two
segments. When the buffer would outgrow `max_buffer_seconds`, it is cut at its longest run of
frames without characters (else at the last blank frame), keeping at least `cut_margin_seconds`
of the newest audio. Each step is normalised with the mean and variance of all audio so far, as a
whole file is. With `catch_up=False` the steps do not depend on how the caller splits the audio,
so the same stream always gives the same events; with `catch_up=True` (the default) all complete
steps that one `feed` call brings are decoded in one pass, so a live stream on a slow machine falls
behind by at most one pass instead of more and more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..audio.levels import LevelMeter
from ..audio.resample import StreamResampler
from ..decoding.options import DecoderOptions
from ..language.choice import AUTO, LanguageChoice
from ..decoding.ctc import FrameChoices, decode_frames
from ..errors import LanguageError, OptionsError
from ..results import Word
from ..output.timing import words_from_spans
from .events import Event, FinalEvent, PartialEvent, StreamSegment, StreamWord

if TYPE_CHECKING:
    from ..recognizer import Recognizer

PCM_FORMATS: dict[str, tuple[str, float]] = {  # format name -> (numpy dtype, scale to [-1, 1])
    "pcm_s16le": ("<i2", 1 / 32768),
    "f32le": ("<f4", 1.0),
}


@dataclass(frozen=True)
class StreamingOptions:
    """When a live stream is decoded and where it is cut into final segments."""

    update_seconds: float = 0.5  # decode again after this much new audio (smaller: fresher partials, more compute)
    max_buffer_seconds: float = 20.0  # unfinalised audio kept at most; each update runs the model on at most this
    pause_seconds: float = 0.6  # a run of frames without characters this long ends (finalises) a segment
    cut_margin_seconds: float = 1.0  # a cut forced by a full buffer leaves at least this much newest audio unfinalised
    decimals: int = 3  # times and scores in events are rounded to this many decimals
    # Audio that arrives faster than it is decoded (a slow machine, a file fed at once): True decodes
    # all complete steps of one `feed` call in one pass (up to half the buffer), so a stream catches up
    # instead of lagging more and more; False decodes step by step, which makes the events independent
    # of how the stream is split into `feed` calls.
    catch_up: bool = True

    def __post_init__(self) -> None:
        for name in ("update_seconds", "pause_seconds"):
            value = getattr(self, name)
            if not value > 0:
                raise OptionsError(f"{name} must be positive, not {value}")
        if not self.cut_margin_seconds >= 0:
            raise OptionsError(f"cut_margin_seconds must be 0 or more, not {self.cut_margin_seconds}")
        if not self.max_buffer_seconds >= 2 * self.update_seconds + self.cut_margin_seconds:
            raise OptionsError(
                f"max_buffer_seconds ({self.max_buffer_seconds}) must be at least twice update_seconds "
                f"({self.update_seconds}) plus cut_margin_seconds ({self.cut_margin_seconds})"
            )
        if self.decimals < 0:
            raise OptionsError(f"decimals must be 0 or more, not {self.decimals}")


class PcmDecoder:
    """Raw little-endian PCM bytes, split anywhere, -> 16 kHz mono float32."""

    def __init__(self, format: str = "pcm_s16le", sample_rate: int = SAMPLE_RATE, channels: int = 1) -> None:
        if format not in PCM_FORMATS:
            raise OptionsError(f"unsupported PCM format {format!r}; use one of: {', '.join(PCM_FORMATS)}")
        if not 1 <= channels <= 8:
            raise OptionsError(f"unsupported channel count {channels}; use 1 to 8 interleaved channels")
        self._resample = StreamResampler(sample_rate)
        self.dtype, self.scale = PCM_FORMATS[format]
        self.channels = channels
        self._frame_bytes = np.dtype(self.dtype).itemsize * channels
        self._rest = b""  # bytes of an incomplete sample frame, kept for the next message

    def decode(self, data: bytes) -> np.ndarray:
        """The 16 kHz samples these bytes complete (possibly none)."""
        data = self._rest + bytes(data)
        usable = len(data) - len(data) % self._frame_bytes
        self._rest = data[usable:]
        values = np.frombuffer(data[:usable], dtype=self.dtype).astype(np.float32) * np.float32(self.scale)
        return self._resample(values.reshape(-1, self.channels).mean(axis=1, dtype=np.float32))

    def flush(self) -> np.ndarray:
        """The resampler's last samples, at the end of the stream."""
        self._rest = b""
        return self._resample.flush()


class StreamingSession:
    """Transcribe one live stream with a Recognizer's model; see the module docstring for the events."""

    def __init__(
        self, recognizer: "Recognizer", language: LanguageChoice | str = AUTO, options: StreamingOptions = StreamingOptions(),
        decoder: DecoderOptions = DecoderOptions(),
    ) -> None:
        language = LanguageChoice.parse(language)  # a string from a Python caller
        if language.identifies:
            raise LanguageError(f"live streaming cannot identify the language ('{language}'); use 'auto' or a language code")
        self.options = options
        self._decoder = recognizer.decoder(language, decoder)  # LanguageError for an unknown language
        self.model = self._decoder.model  # for an adapter model (MMS), the one with this language's adapter
        self.language = self._decoder.language
        vocabulary = self.model.vocabulary
        self._blank = vocabulary.blank_id
        silent = set(vocabulary.hidden_ids) | ({vocabulary.word_delimiter_id} - {None})
        self._silent_ids = np.array(sorted(silent), dtype=np.int64)  # tokens that print no character
        self._spf = self.model.samples_per_frame
        self._step = max(self._spf, round(options.update_seconds * SAMPLE_RATE) // self._spf * self._spf)
        self._max_samples = int(options.max_buffer_seconds * SAMPLE_RATE)
        self._pause_frames = max(1, math.ceil(options.pause_seconds / self.model.frame_seconds))
        self._margin_frames = math.ceil(options.cut_margin_seconds / self.model.frame_seconds)
        self._max_steps = max(1, int(self._max_samples - options.cut_margin_seconds * SAMPLE_RATE) // 2 // self._step)
        self._pending = np.zeros(0, np.float32)  # received, not yet decoded
        self._buffer = np.zeros(0, np.float32)  # decoded, not yet final
        self._offset = 0  # stream position (samples) of buffer[0]; always a whole number of frames
        self._frames = FrameChoices(np.zeros(0, np.int64), np.zeros(0, np.float32))  # of the buffer
        self._level = LevelMeter()
        self._next_id = 0
        self._partial = ""
        self._stale = False  # the buffer has audio its frames do not cover yet
        self._finished = False

    @property
    def step_samples(self) -> int:
        """Samples decoded per update: update_seconds in whole frames. Feeding this much at a time costs least."""
        return self._step

    @property
    def samples_per_pass(self) -> int:
        """Most samples one model pass decodes: a `feed` of at most this much runs the model at most once."""
        return self._max_steps * self._step if self.options.catch_up else self._step

    @property
    def seconds(self) -> float:
        """Seconds of audio received so far."""
        return (self._offset + len(self._buffer) + len(self._pending)) / SAMPLE_RATE

    def feed(self, samples: np.ndarray) -> list[Event]:
        """Add 16 kHz mono float32 samples; the events they cause, in order."""
        if self._finished:
            raise RuntimeError("this streaming session is finished")
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"expected 1-D mono samples, got shape {x.shape}")
        self._pending = np.concatenate([self._pending, np.nan_to_num(x)])
        events: list[Event] = []
        while len(self._pending) >= self._step:
            steps = min(len(self._pending) // self._step, self._max_steps) if self.options.catch_up else 1
            step, self._pending = self._pending[: steps * self._step], self._pending[steps * self._step :]
            events += self._advance(step)
        return events

    def finish(self) -> list[Event]:
        """End of the stream: decode what is left and finalise it."""
        if self._finished:
            return []
        self._finished = True
        events: list[Event] = []
        if len(self._pending):
            events += self._advance(self._pending)
            self._pending = np.zeros(0, np.float32)
        elif self._stale:  # an update was interrupted (Ctrl-C) before its frames were decoded
            self._frames = self._decode()
        final = self._final(0, self._frames.num_frames)
        if final is not None:
            events.append(final)
        elif self._partial:
            events.append(self._partial_event(""))
        self._offset += len(self._buffer)
        self._buffer, self._frames = np.zeros(0, np.float32), self._frames_slice(0, 0)
        return events

    # --- one update -------------------------------------------------------------------------

    def _advance(self, step: np.ndarray) -> list[Event]:
        events: list[Event] = []
        overflow = len(self._buffer) + len(step) - self._max_samples
        if overflow > 0:
            events += self._forced_cut(math.ceil(overflow / self._spf))
        self._buffer = np.concatenate([self._buffer, step])
        self._level.add(step)
        self._stale = True
        self._frames = self._decode()
        self._stale = False
        events += self._cut_at_pauses()
        text = decode_frames(self._frames, self.model.vocabulary).text
        if text != self._partial:
            events.append(self._partial_event(text))
        return events

    def _decode(self) -> FrameChoices:
        if len(self._buffer) < self.model.min_samples:
            return self._frames_slice(0, 0)
        stats = self._level.stats()
        (logits,) = self.model.logits([self._buffer], [(stats.mean, stats.variance)])
        return self._decoder.decode_logits(logits).frames

    # --- where to cut -----------------------------------------------------------------------

    def _silent_runs(self) -> list[tuple[int, int]]:
        """Maximal runs [a, b) of frames that print no character."""
        silent = np.isin(self._frames.tokens, self._silent_ids)
        edges = np.flatnonzero(np.diff(np.r_[0, silent.astype(np.int8), 0]))
        return list(zip(edges[::2].tolist(), edges[1::2].tolist()))

    def _safe(self, cut: int) -> bool:
        """True if cutting before frame `cut` splits no emitted token."""
        tokens = self._frames.tokens
        return cut <= 0 or cut >= len(tokens) or tokens[cut] == self._blank or tokens[cut - 1] != tokens[cut]

    def _blank_cut(self, lo: int, hi: int, target: int) -> int | None:
        """The safe blank frame in [lo, hi] nearest to `target`, or None."""
        candidates = [c for c in range(lo, min(hi, self._frames.num_frames - 1) + 1)
                      if self._frames.tokens[c] == self._blank and self._safe(c)]
        return min(candidates, key=lambda c: (abs(c - target), -c)) if candidates else None

    def _cut_at_pauses(self) -> list[Event]:
        """Finalise the speech before every pause; drop the silence that needs no more decoding."""
        keep = self._pause_frames // 2  # silence left on each side of a cut, as context
        events: list[Event] = []
        done = 0
        for a, b in self._silent_runs():
            if b - a < self._pause_frames:
                continue
            cut = self._blank_cut(a, b - 1, b - keep)
            if cut is None or cut <= done:
                continue
            final = self._final(done, cut)
            if final is not None:
                events.append(final)
            done = cut
        self._drop(done)
        return events

    def _forced_cut(self, need: int) -> list[Event]:
        """Make room for `need` more frames: cut at the longest silent run, else the last blank frame."""
        frames = self._frames.num_frames
        limit = frames - self._margin_frames if frames - self._margin_frames >= need else frames
        cut = None
        runs = [(min(b, limit + 1) - max(a, need), a, b) for a, b in self._silent_runs() if b > need and a <= limit]
        for _, a, b in sorted(runs, reverse=True):
            cut = self._blank_cut(max(a, need), min(b - 1, limit), (a + b) // 2)
            if cut is not None:
                break
        if cut is None:
            cut = next((c for c in range(limit, need - 1, -1) if self._safe(c)), limit)
        cut = max(cut, min(need, frames))
        final = self._final(0, cut)
        self._drop(max(cut, need))
        return [final] if final is not None else []

    # --- events -----------------------------------------------------------------------------

    def _frames_slice(self, start: int, end: int) -> FrameChoices:
        return FrameChoices(self._frames.tokens[start:end], self._frames.probs[start:end])

    def _drop(self, frames: int) -> None:
        """Forget the first `frames` frames of the buffer (and their audio)."""
        if frames <= 0:
            return
        samples = min(frames * self._spf, len(self._buffer))
        self._buffer = self._buffer[samples:]
        self._offset += samples
        self._frames = self._frames_slice(frames, self._frames.num_frames)

    def _round(self, value: float) -> float:
        return round(value, self.options.decimals)

    def _final(self, start: int, end: int) -> FinalEvent | None:
        """A final event for frames [start, end) of the buffer, or None if they hold no text."""
        decoded = decode_frames(self._frames_slice(start, end), self.model.vocabulary)
        if not decoded.text:
            return None
        shift = (self._offset + start * self._spf) / SAMPLE_RATE
        words = [_shifted(w, shift) for w in words_from_spans(decoded, self.model.vocabulary, self.model.frame_seconds)]
        segment = StreamSegment(
            id=self._next_id,
            start=self._round(words[0].start),
            end=self._round(words[-1].end),
            text=decoded.text,
            words=tuple(
                StreamWord(w.word, self._round(w.start), self._round(w.end), self._round(w.score)) for w in words
            ),
        )
        self._next_id += 1
        self._partial = ""
        return FinalEvent(segment)

    def _partial_event(self, text: str) -> PartialEvent:
        self._partial = text
        start = self._offset / SAMPLE_RATE
        end = (self._offset + len(self._buffer)) / SAMPLE_RATE
        return PartialEvent(text, self._round(start), self._round(end))


def _shifted(word: Word, seconds: float) -> Word:
    """`word` (and its characters) moved later by `seconds`."""
    chars = tuple(replace(c, start=c.start + seconds, end=c.end + seconds) for c in word.chars)
    return replace(word, start=word.start + seconds, end=word.end + seconds, chars=chars)
