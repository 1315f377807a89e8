"""Live transcription of an audio stream: partial text while speech goes on, final segments at pauses.

A `StreamingSession` takes 16 kHz mono float32 samples in pieces of any size (`PcmDecoder` turns raw
PCM bytes at any rate into those) and returns events (streaming/events.py; `to_json()` gives what
the WebSocket sends):

* `PartialEvent` ``{"type": "partial", "text", "start", "end", "stable"}``: the current reading of
  the unfinalised audio (from ``start`` to ``end``, seconds from the stream's start). Its first
  ``stable`` characters will not change any more (the finals that follow hold them); the rest may.
  A new partial replaces the previous one, and so does a final. Sent only when its text changes;
  ``""`` means nothing is pending.
* `FinalEvent` ``{"type": "final", "segment": {"id", "start", "end", "text", "words": [{"word",
  "start", "end", "probability"}]}}``: a segment that will not change any more. Segments are
  numbered from 0 and ordered. With language "multi" a final also carries ``"language"`` and
  ``"language_probability"``: its audio is run through the Recognizer once more, alone, with
  "detect" (the utterance's language, its text restricted to it); partials stay unrestricted.

How it works. Audio is decoded in steps of `update_seconds`. Each update runs the model once on
the new audio plus `context_seconds` of the audio before it (bounded cost, however long someone
talks): the frames of the new audio become final ("committed": never decoded again), except those
of its last `lookahead_seconds`, which are shown in the partial and decoded again by the next
update, with audio after them. Each frame gets its token on the path the decoder chose
(`Recognizer.decoder`: greedy, or beam search with an LM and hotwords, over the update's window).
A segment ends (a final is sent) at the first of:

* a pause of the model: a run of committed frames without characters at least `pause_seconds`
  long; the cut lies inside that run;
* a pause of the audio (`endpoint.py`, `EndpointOptions`): `endpoint.silence_seconds` of
  non-speech after speech; the cut lies in that silence, whatever the model writes there;
* a full buffer: unfinalised audio would outgrow `max_buffer_seconds`; the cut is made at the
  longest run of frames without characters (else at the last blank frame), keeping at least
  `cut_margin_seconds` of the newest audio.

Cuts never split a character between two segments. Each step is normalised with the mean and
variance of all audio so far, as a whole file is. With `catch_up=False` the steps do not depend on
how the caller splits the audio, so the same stream always gives the same events; with
`catch_up=True` (the default) all complete steps that one `feed` call brings are decoded in one
pass, so a live stream on a slow machine falls behind by at most one pass instead of more and more.
`begin_update` / `end_update` split an update around its forward pass, so that the updates of many
streams can share one pass (`passes.update_together`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..audio.levels import LevelMeter
from ..decoding.options import DecoderOptions
from ..language.choice import AUTO, DETECT, LanguageChoice
from ..decoding.ctc import FrameChoices, decode_frames
from ..errors import LanguageError, OptionsError
from ..options import TranscribeOptions
from ..output.timing import shifted_word, words_from_spans
from .endpoint import EndpointOptions, EnergyEndpoint
from .events import Event, FinalEvent, PartialEvent, StreamSegment, StreamWord
from .pcm import PCM_FORMATS, PcmDecoder

if TYPE_CHECKING:
    from ..recognizer import Recognizer

__all__ = ["PCM_FORMATS", "PcmDecoder", "StreamingOptions", "StreamingSession", "Update"]


@dataclass(frozen=True)
class StreamingOptions:
    """When a live stream is decoded and where it is cut into final segments."""

    update_seconds: float = 0.5  # decode again after this much new audio (smaller: fresher partials, more compute)
    context_seconds: float = 0.5  # audio before the new audio that each update runs the model on again (accuracy)
    lookahead_seconds: float = 0.2  # the newest audio's frames stay tentative until the next update sees audio after them
    max_buffer_seconds: float = 20.0  # unfinalised audio kept at most (the longest utterance); a pass never sees more
    pause_seconds: float = 0.6  # a run of frames without characters this long ends (finalises) a segment
    cut_margin_seconds: float = 1.0  # a cut forced by a full buffer leaves at least this much newest audio unfinalised
    endpoint: EndpointOptions = field(default_factory=EndpointOptions)  # a pause of the audio's level ends a segment
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
        for name in ("cut_margin_seconds", "context_seconds", "lookahead_seconds"):
            if not getattr(self, name) >= 0:
                raise OptionsError(f"{name} must be 0 or more, not {getattr(self, name)}")
        if not self.max_buffer_seconds >= 2 * self.update_seconds + self.cut_margin_seconds:
            raise OptionsError(
                f"max_buffer_seconds ({self.max_buffer_seconds}) must be at least twice update_seconds "
                f"({self.update_seconds}) plus cut_margin_seconds ({self.cut_margin_seconds})"
            )
        if self.decimals < 0:
            raise OptionsError(f"decimals must be 0 or more, not {self.decimals}")


@dataclass
class Update:
    """One update of a session, between `begin_update` and `end_update`: the window to run the model on."""

    events: list[Event]  # events that came before the pass (a cut forced by a full buffer)
    samples: np.ndarray | None  # the window (None: too short for the model, no pass)
    level: tuple[float, float]  # mean and variance of the stream so far, to normalise the window with
    first_frame: int  # buffer frame of the window's first frame
    commit_to: int | None  # buffer frame up to which frames become committed; None: all
    endpoint: bool  # the audio paused after speech: cut in that pause after the pass


class StreamingSession:
    """Transcribe one live stream with a Recognizer's model; see the module docstring for the events."""

    def __init__(
        self, recognizer: "Recognizer", language: LanguageChoice | str = AUTO, options: StreamingOptions = StreamingOptions(),
        decoder: DecoderOptions = DecoderOptions(), candidates: tuple[str, ...] | None = None,
    ) -> None:
        language = LanguageChoice.parse(language)  # a string from a Python caller
        self._recognizer = recognizer
        self._identify = None  # "multi": each final's audio identified alone (`candidates`: the languages to choose from)
        if language.is_multi:
            self._identify = TranscribeOptions(language=DETECT, language_candidates=candidates, word_timestamps=True,
                                               decoder=decoder)
            language = AUTO
        elif language.identifies:
            raise LanguageError(f"live streaming cannot identify one language ('{language}'); use 'multi', 'auto' or a language code")
        self.options = options
        self._decoder = recognizer.decoder(language, decoder)  # LanguageError for an unknown language
        self.model = self._decoder.model  # for an adapter model (MMS), the one with this language's adapter
        self.language = self._decoder.language
        vocabulary = self.model.vocabulary
        self._blank = vocabulary.blank_id
        silent = set(vocabulary.hidden_ids) | ({vocabulary.word_delimiter_id} - {None})
        self._silent_ids = np.array(sorted(silent), dtype=np.int64)  # tokens that print no character
        spf = self._spf = self.model.samples_per_frame
        self._step = max(spf, round(options.update_seconds * SAMPLE_RATE) // spf * spf)
        self._context = round(options.context_seconds * SAMPLE_RATE) // spf * spf
        self._lookahead = round(options.lookahead_seconds * SAMPLE_RATE) // spf * spf
        self._max_samples = int(options.max_buffer_seconds * SAMPLE_RATE)
        self._pause_frames = max(1, math.ceil(options.pause_seconds / self.model.frame_seconds))
        self._margin_frames = math.ceil(options.cut_margin_seconds / self.model.frame_seconds)
        self._max_steps = max(1, int(self._max_samples - options.cut_margin_seconds * SAMPLE_RATE) // 2 // self._step)
        self._pending = np.zeros(0, np.float32)  # received, not yet decoded
        self._buffer = np.zeros(0, np.float32)  # decoded, not yet final
        self._offset = 0  # stream position (samples) of buffer[0]; always a whole number of frames
        self._frames = self._empty()  # committed frames of the buffer, from its start
        self._tentative = self._empty()  # the frames after them (the lookahead), decoded again by the next update
        self._level = LevelMeter()
        self._endpoint = EnergyEndpoint(options.endpoint, spf, self.model.frame_seconds)
        self._next_id = 0
        self._partial = ""
        self._finished = False
        self.model_calls = 0  # forward passes run for this stream (by `feed` / `finish`)

    @property
    def step_samples(self) -> int:
        """Samples decoded per update: update_seconds in whole frames. Feeding this much at a time costs least."""
        return self._step

    @property
    def samples_per_pass(self) -> int:
        """Most new samples one model pass decodes: a `feed` of at most this much runs the model at most once."""
        return self._max_steps * self._step if self.options.catch_up else self._step

    @property
    def seconds(self) -> float:
        """Seconds of audio received so far."""
        return (self._offset + len(self._buffer) + len(self._pending)) / SAMPLE_RATE

    @property
    def pending_samples(self) -> int:
        """Samples received and not decoded yet."""
        return len(self._pending)

    @property
    def finished(self) -> bool:
        return self._finished

    def add(self, samples: np.ndarray) -> None:
        """Receive 16 kHz mono float32 samples without decoding them (`begin_update` decodes)."""
        if self._finished:
            raise RuntimeError("this streaming session is finished")
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"expected 1-D mono samples, got shape {x.shape}")
        self._pending = np.concatenate([self._pending, np.nan_to_num(x)])

    @property
    def update_due(self) -> bool:
        """A whole step of audio waits to be decoded."""
        return len(self._pending) >= self._step and not self._finished

    def feed(self, samples: np.ndarray) -> list[Event]:
        """Add 16 kHz mono float32 samples; the events they cause, in order."""
        self.add(samples)
        events: list[Event] = []
        while self.update_due:
            update = self.begin_update()
            events += self.end_update(update, self.run_update(update))
        return events

    def finish(self) -> list[Event]:
        """End of the stream: decode what is left and finalise it."""
        if self._finished:
            return []
        update = self.begin_update(last=True)
        events = self.end_update(update, self.run_update(update))
        self._finished = True
        final = self._final(0, self._frames.num_frames)
        if final is not None:
            events.append(final)
        elif self._partial:
            events.append(self._partial_event("", ""))
        self._offset += len(self._buffer)
        self._buffer, self._frames = np.zeros(0, np.float32), self._empty()
        return events

    # --- one update -------------------------------------------------------------------------

    def begin_update(self, last: bool = False) -> Update:
        """Take the next step(s) of audio (`last`: all of it) and say which window the model must run on."""
        if last:
            step, self._pending = self._pending, np.zeros(0, np.float32)
        else:
            steps = min(len(self._pending) // self._step, self._max_steps) if self.options.catch_up else 1
            step, self._pending = self._pending[: steps * self._step], self._pending[steps * self._step:]
        events: list[Event] = []
        overflow = len(self._buffer) + len(step) - self._max_samples
        if overflow > 0:
            events += self._forced_cut(math.ceil(overflow / self._spf))
        self._buffer = np.concatenate([self._buffer, step])
        self._level.add(step)
        self._endpoint.add(step)
        endpoint = self._endpoint.due()  # the audio paused after speech, somewhere in the audio so far
        committed = self._frames.num_frames * self._spf
        start = max(0, committed - self._context)
        stats = self._level.stats()
        window = self._buffer[start:] if len(self._buffer) - start >= self.model.min_samples else None
        commit_to = None if last else (len(self._buffer) - self._lookahead) // self._spf
        return Update(events, window, (stats.mean, stats.variance), start // self._spf, commit_to, endpoint)

    def run_update(self, update: Update) -> np.ndarray | None:
        """The model's logits for the update's window (None if it has none)."""
        if update.samples is None:
            return None
        self.model_calls += 1
        (logits,) = self.model.logits([update.samples], [update.level])
        return logits

    def end_update(self, update: Update, logits: np.ndarray | None) -> list[Event]:
        """Commit the frames the update is sure of, cut where the stream paused, and say what changed."""
        events = list(update.events)
        if logits is not None:
            frames = self._decoder.decode_logits(logits).frames
            have, end = self._frames.num_frames, update.first_frame + frames.num_frames
            keep = end if update.commit_to is None else max(have, min(update.commit_to, end))
            lo, mid = have - update.first_frame, keep - update.first_frame
            self._frames = FrameChoices(np.r_[self._frames.tokens, frames.tokens[lo:mid]],
                                        np.r_[self._frames.probs, frames.probs[lo:mid]])
            self._tentative = FrameChoices(frames.tokens[mid:], frames.probs[mid:])
        events += self._cut_at_pauses()
        if update.endpoint:
            events += self._cut_at_endpoint()
        stable = decode_frames(self._frames, self.model.vocabulary).text
        text = decode_frames(self._joined(), self.model.vocabulary).text
        if text != self._partial:
            events.append(self._partial_event(text, stable))
        return events

    def _cut_at_endpoint(self) -> list[Event]:
        """The audio paused after speech: finalise the frames up to a cut in the silence after that speech."""
        ended = self._endpoint.ended or 0
        self._endpoint.reset()
        frames = self._frames.num_frames
        speech_end = min(frames, max(0, ended - self._offset // self._spf))
        silence = min(frames, speech_end + max(1, round(self.options.endpoint.silence_seconds / self.model.frame_seconds)))
        target = min(silence, speech_end + self._pause_frames // 2)  # silence left in the final, the rest as context
        cut = self._blank_cut(speech_end, silence, target)
        if cut is None:  # the model writes characters in the silence too: cut anywhere it splits none
            cut = next((c for c in range(target, silence + 1) if self._safe(c)), silence)
        final = self._final(0, cut)
        self._drop(cut)
        return [final] if final is not None else []

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

    def _empty(self) -> FrameChoices:
        return FrameChoices(np.zeros(0, np.int64), np.zeros(0, np.float32))

    def _joined(self) -> FrameChoices:
        """The committed frames followed by the tentative ones: what the partial shows."""
        return FrameChoices(np.r_[self._frames.tokens, self._tentative.tokens], np.r_[self._frames.probs, self._tentative.probs])

    def _drop(self, frames: int) -> None:
        """Forget the first `frames` frames of the buffer (and their audio)."""
        if frames <= 0:
            return
        samples = min(frames * self._spf, len(self._buffer))
        self._buffer = self._buffer[samples:]
        self._offset += samples
        extra = max(0, frames - self._frames.num_frames)
        self._frames = self._frames_slice(frames, self._frames.num_frames)
        self._tentative = FrameChoices(self._tentative.tokens[extra:], self._tentative.probs[extra:])

    def _round(self, value: float) -> float:
        return round(value, self.options.decimals)

    def _final(self, start: int, end: int) -> FinalEvent | None:
        """A final event for frames [start, end) of the buffer, or None if they hold no text."""
        decoded = decode_frames(self._frames_slice(start, end), self.model.vocabulary)
        if not decoded.text:
            return None
        shift = (self._offset + start * self._spf) / SAMPLE_RATE
        if self._identify is None:
            text, language, probability, heard = decoded.text, None, None, words_from_spans(decoded, self.model.vocabulary, self.model.frame_seconds)
        else:  # "multi": the utterance alone, identified, restricted to its language
            self.model_calls += 1
            found = self._recognizer.transcribe(self._buffer[start * self._spf:end * self._spf], self._identify,
                                                sampling_rate=SAMPLE_RATE)
            text, language, probability, heard = (found.text, found.language, found.language_probability,
                                                  [w for s in found.segments for w in s.words])
        words = [shifted_word(w, shift) for w in heard]
        if not words:
            return None
        segment = StreamSegment(
            id=self._next_id, start=self._round(words[0].start), end=self._round(words[-1].end), text=text,
            words=tuple(StreamWord(w.word, self._round(w.start), self._round(w.end), self._round(w.score)) for w in words),
            language=language, language_probability=None if probability is None else round(probability, 4),
        )
        self._next_id += 1
        self._partial = ""
        return FinalEvent(segment)

    def _partial_event(self, text: str, stable: str) -> PartialEvent:
        self._partial = text
        start = self._offset / SAMPLE_RATE
        end = (self._offset + len(self._buffer)) / SAMPLE_RATE
        return PartialEvent(text, self._round(start), self._round(end), len(stable) if text.startswith(stable) else 0)
