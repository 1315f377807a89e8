"""Language "multi" in the Recognizer: mixed-language speech, a language per stretch of speech.

Two passes over the input. The first (the Recognizer's "detect" pass, langid's per-frame rows)
finds where to cut: its pauses and where its language seems to change (`language_cuts`). The second
runs the model over each piece alone (`engine/spans.run_over_spans`, with the piece's speech and a
margin of its silence), as a clip of its own: in one pass over the whole input the model's
self-attention hears the other languages and its text drifts towards them, which is what kept the
proxy model at 60 % of the mixed recordings' time in the right language (docs/languages.md). Each
piece is judged on its own frames, spans of one language are joined (`piece_spans`), and every piece
is decoded from its own frames restricted to its span's language; words are then grouped into
segments at pauses as usual, each segment carrying its span's language and probability.

The second pass costs a second forward pass over the speech. When the input cannot be read again
as it was (it changed between the passes), the pieces are judged and decoded on the first pass's frames.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import numpy as np

from ..audio.sources import AudioInput
from ..audio.vad import SpeechDetector
from ..decoding.engine import Decoder
from ..decoding.langid import LanguageFrames
from ..decoding.language_spans import LanguageSpan, SpanOptions, frames_between, language_cuts, piece_spans, sliced
from ..engine.inference import InputResult, PairReducer, rereadable
from ..engine.spans import run_over_spans
from ..model.languages import language_target
from ..options import TranscribeOptions
from ..output.timing import group_segments, shifted_word, within, words_from_spans
from ..results import Segment, Transcription

if TYPE_CHECKING:
    from .recognizer import Recognizer

MARGIN_SECONDS = 0.2  # silence kept on each side of a piece's speech when the piece is run alone

Part = tuple[int, LanguageFrames, Any]  # a piece's first frame, its language frames, the decoder's summary


def remembered(audios: Iterable[AudioInput], kept: deque[AudioInput]) -> Iterator[AudioInput]:
    """The inputs, each made readable twice and kept (in order) for the second pass."""
    for audio in audios:
        again = rereadable(audio)
        kept.append(again)
        yield again


def multi_result(
    recognizer: Recognizer, item: InputResult[Any], source: AudioInput | None, base: Decoder, opts: TranscribeOptions,
    codes: Sequence[str], sampling_rate: int | None, detector: SpeechDetector | None,
) -> Transcription | None:
    """The input's segments, each in its own language; None without speech (the caller decodes it plainly)."""
    frames, summary = item.value
    fs = recognizer.model.frame_seconds
    options = SpanOptions()
    pieces = language_cuts(frames, fs, options, opts.calibration)
    if not pieces:
        return None
    parts = None if source is None else _second_pass(recognizer, source, pieces, frames, base, opts, codes,
                                                      sampling_rate, detector)
    if parts is None:  # judged and decoded on the first pass's frames
        parts = [(a, frames_between(frames, a, b), sliced(summary, a, b)) for a, b in pieces]
    spans = piece_spans(pieces, [None if p is None else p[1] for p in parts], fs, options, opts.calibration)
    if not spans:
        return None
    segments: list[Segment] = []
    warnings, spoken = list(item.warnings), {}
    for span in spans:
        found, decoder = _span_segments(recognizer, span, parts, base, opts, item.duration)
        segments += found
        warnings += [w for w in decoder.warnings if w not in warnings]
        spoken[span.code] = spoken.get(span.code, 0) + span.end - span.start
    segments = [replace(s, id=i) for i, s in enumerate(segments)]
    return Transcription(text=" ".join(s.text for s in segments if s.text), language=max(spoken, key=spoken.__getitem__),
                         duration=item.duration, source=item.source, segments=tuple(segments), warnings=tuple(warnings))


def _span_segments(
    recognizer: Recognizer, span: LanguageSpan, parts: Sequence[Part | None], base: Decoder, opts: TranscribeOptions,
    duration: float,
) -> tuple[list[Segment], Decoder]:
    """A span's pieces decoded restricted to its language, their words grouped into segments."""
    model = recognizer.model
    decoder = recognizer._decoders.decoder(language_target(model, span.code), opts.decoder)
    words = []
    for index in span.pieces:
        part = parts[index]
        if part is None:
            continue
        start, frames, summary = part
        decoded = decoder.decode(base.restricted_summary(summary, frames, span.code))
        words += [within(shifted_word(w, start * model.frame_seconds), duration)
                  for w in words_from_spans(decoded, model.vocabulary, model.frame_seconds, decoder.word_score)]
    probability = round(span.probability, 4)
    segments = group_segments(words, opts.segments, opts.word_timestamps)
    return [replace(s, language=span.code, language_probability=probability) for s in segments], decoder


def _second_pass(
    recognizer: Recognizer, source: AudioInput, pieces: list[tuple[int, int]], frames: LanguageFrames, base: Decoder,
    opts: TranscribeOptions, codes: Sequence[str], sampling_rate: int | None, detector: SpeechDetector | None,
) -> list[Part | None] | None:
    """Each piece with speech run through the model alone; None when the input no longer matches."""
    regions = piece_regions(pieces, frames.speech(), int(round(MARGIN_SECONDS / recognizer.model.frame_seconds)))
    wanted = [r for r in regions if r is not None]
    found = run_over_spans(
        recognizer.model, source, wanted,
        lambda: PairReducer(recognizer.language_reducer(codes, keep_frames=True), base.reducer()),
        opts.windows, recognizer.batch, sampling_rate, merge_gap_frames=0, detector=detector,
    )
    if [s for s, _ in wanted] != list(found.starts):
        return None
    values = iter(zip(found.starts, found.values))
    parts: list[Part | None] = []
    for region in regions:
        if region is None:
            parts.append(None)
            continue
        start, (language_frames, summary) = next(values)
        parts.append((start, language_frames, summary))
    return parts


def piece_regions(pieces: list[tuple[int, int]], speech: np.ndarray, margin: int) -> list[tuple[int, int] | None]:
    """Each piece's speech with `margin` frames of its own silence each side (None: no speech); a
    region starts at least one frame after the one before, so that no two are run as one."""
    regions: list[tuple[int, int] | None] = []
    last = -1
    for a, b in pieces:
        spoken = np.flatnonzero(speech[a:b])
        start = max(a + int(spoken[0]) - margin, a, last + 1) if spoken.size else b
        end = min(a + int(spoken[-1]) + 1 + margin, b) if spoken.size else b
        if end - start < 2:
            regions.append(None)
            continue
        regions.append((start, end))
        last = end
    return regions
