"""Alignment end to end, for `Recognizer.align` and `Recognizer.align_segments`.

`align_segments`: segment languages, the model over the search spans, then segments.py.
`align_transcript`: one known transcript, as one untimed segment over the whole input, its words
then grouped into segments at pauses (the same path).

The languages are settled first (the caller's, each segment's own, or "detect"), so that the
emission columns kept per frame cover every token the segments' characters may become; language
identification, when asked for, runs in the same pass over the spans as the emissions.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np

from .text import EmissionReducer, tokenize_transcript, transcript_numbers
from ..audio.decode import SAMPLE_RATE
from ..audio.sources import AudioInput, source_name
from ..decoding.ctc import Vocabulary
from ..errors import AlignmentError
from ..audio.vad import SpeechDetector
from ..engine.inference import BatchOptions, PairReducer, ProgressCallback, rereadable
from ..decoding.langid import LanguageFrames, LanguageReducer
from ..decoding.language_spans import frames_between
from ..decoding.text_langid import TextLanguageIdentifier
from ..model.ctc_model import CTCModel
from ..model.languages import language_target, resolve_code
from ..options import TranscribeOptions
from ..output.timing import group_segments as group_words, join_words, segment_within
from ..results import Transcription
from .segments import SegmentAlignOptions, SpanEmissions, align_groups, group_segments, prepare_group, search_frames
from ..engine.spans import run_over_spans
from .transcripts import TranscriptSegment


def align_transcript(
    model: CTCModel,
    batch: BatchOptions,
    audio: AudioInput,
    transcript: str,
    options: TranscribeOptions,
    detector: SpeechDetector | None = None,
    sampling_rate: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> Transcription:
    """See `Recognizer.align`: the words of `transcript` timed in `audio`, grouped by `options.segments`.

    One untimed segment through `align_segments` (the one alignment path), over the whole input.
    """
    choice = options.choice
    if choice.identifies:
        raise AlignmentError(f"aligning one transcript needs 'auto' or a language, not '{choice}'")
    whole = align_segments(model, batch, audio, [TranscriptSegment(transcript, None, None)], replace(options, language=choice),
                           SegmentAlignOptions(), sampling_rate, detector=detector, on_progress=on_progress)
    words = [word for segment in whole.segments for word in segment.words]
    return replace(whole, text=join_words(words), segments=group_words(words, options.segments, keep_words=True))


def align_segments(
    model: CTCModel,
    batch: BatchOptions,
    audio: AudioInput,
    segments: Sequence[Any],
    options: TranscribeOptions,
    search: SegmentAlignOptions,
    sampling_rate: int | None = None,
    candidates: tuple[str, ...] = (),
    detector: SpeechDetector | None = None,
    on_progress: ProgressCallback | None = None,
    text_identifier: TextLanguageIdentifier | None = None,
) -> Transcription:
    """See `Recognizer.align_segments`; `candidates` are the languages "detect" chooses among
    (`text_identifier`: the Recognizer's, for the text evidence of language identification).

    With a `detector` (VAD), the model runs on the speech inside the searched spans only.
    """
    vocabulary, table = model.vocabulary, model.language_table
    items = [s for s in (as_transcript_segment(s, i) for i, s in enumerate(segments)) if s.text]
    if not items:
        raise AlignmentError("there are no segments with text to align")
    source = source_name(audio)
    audio = rereadable(audio)  # decoded again when some segments need a wider search
    choice = options.language
    detect = choice is not None and choice.identifies  # "multi": each segment's own, as "detect"
    plans = group_segments(items)
    if choice is not None:  # detect: decided per segment below
        codes: list[str | None] = [None if choice.requested is None else resolve_code(model, choice.requested)] * len(plans)
    else:  # each segment's own language, where the transcript gives one
        codes = [resolve_code(model, group[0].language) if group[0].language else None for group, _ in plans]
    if model.adapters is not None:  # MMS: the segments' one language chooses the adapter and vocabulary
        if len(set(codes)) > 1:
            raise AlignmentError(f"the segments are in several languages ({', '.join(sorted(map(str, set(codes))))}); "
                                 "a model with language adapters aligns one language at a time")
        model = language_target(model, codes[0]).model
        vocabulary = model.vocabulary
    allowed = {code: table.token_ids(code) for code in {*codes, *candidates} if code} if table is not None else {}
    languages = {*codes, *candidates}
    spoken = [" ".join(r for _, readings in transcript_numbers(item.text, code) for r in readings)
              for item in items for code in languages if search.numbers and code]
    columns = _columns([*(i.text for i in items), *spoken], vocabulary, [allowed.get(c) if c else None for c in languages])
    fs = model.frame_seconds
    windows = [search_frames(span or (0.0, None), search.margin_seconds, fs) for _, span in plans]
    num_samples = 0
    input_warnings: list[str] = []

    def fetch(spans: list[tuple[int, int]], identify: bool = False) -> tuple[SpanEmissions, list[LanguageFrames]]:
        nonlocal num_samples

        def reducer() -> Any:
            emissions = EmissionReducer(columns)
            return PairReducer(emissions, LanguageReducer(
                table, vocabulary.blank_id, candidates, vocabulary=vocabulary, text_identifier=text_identifier,
            )) if identify else emissions

        context = int(search.context_seconds / fs)
        padded = [(max(0, a - context), b + context) for a, b in spans]
        found = run_over_spans(model, audio, padded, reducer, options.windows, batch, sampling_rate,
                               merge_gap_frames=int(search.merge_gap_seconds / fs), detector=detector,
                               on_progress=None if input_warnings else on_progress)
        num_samples = found.num_samples
        if not input_warnings:
            input_warnings.extend(found.warnings or ("",))
        pairs = [v if identify else (v, None) for v in found.values]
        emissions = SpanEmissions(found.starts, tuple(p[0] for p in pairs), model.frames_for_samples(num_samples))
        return emissions, [p[1] for p in pairs if p[1] is not None]

    first, language_frames = fetch(windows, identify=detect)
    if detect:
        codes = [_detected(first, language_frames, window, options) for window in windows]
    groups = [prepare_group(group, span, vocabulary, code, _within(allowed.get(code) if code else None, columns, vocabulary), search.numbers)
              for (group, span), code in zip(plans, codes)]
    aligned, warnings = align_groups(groups, first, lambda spans: fetch(spans)[0], columns, vocabulary, fs, search)
    used = set(codes)
    return Transcription(
        text=" ".join(s.text for s in aligned), language=used.pop() if len(used) == 1 else None,
        duration=num_samples / SAMPLE_RATE, source=source,
        segments=tuple(segment_within(s, num_samples / SAMPLE_RATE) for s in aligned),
        warnings=(*(w for w in input_warnings if w), *warnings),
    )


def as_transcript_segment(item: Any, index: int) -> TranscriptSegment:
    """A TranscriptSegment from one, a polyasr Segment, a mapping or an object with start, end and text."""
    if isinstance(item, TranscriptSegment):
        return item
    get = item.get if isinstance(item, Mapping) else lambda key, default=None: getattr(item, key, default)
    text, start, end = get("text"), get("start"), get("end")
    if not isinstance(text, str):
        raise AlignmentError(f"segment {index} has no text (a string); segments need start, end and text")
    times = [t for t in (start, end) if t is not None]
    if any(isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0 for t in times) or len(times) == 1:
        raise AlignmentError(f"segment {index} needs both start and end in seconds (>= 0) or neither, got {start!r} and {end!r}")
    if times and end < start:
        raise AlignmentError(f"segment {index} ends ({end}) before it starts ({start})")
    return TranscriptSegment(" ".join(text.split()), None if start is None else float(start),
                             None if end is None else float(end), get("language"), get("speaker"))


def _columns(texts: Sequence[str], vocabulary: Vocabulary, alloweds: Sequence[np.ndarray | None]) -> np.ndarray:
    """Blank and every token the texts' characters may become, in any of the languages used."""
    letters = " ".join(sorted({char for text in texts for char in text if not char.isspace()}))
    targets = [tokenize_transcript(letters, vocabulary, allowed).targets for allowed in alloweds]
    return np.unique(np.concatenate([[vocabulary.blank_id], *targets])).astype(np.int64)


def _within(allowed: np.ndarray | None, columns: np.ndarray, vocabulary: Vocabulary) -> np.ndarray | None:
    """The token ids a segment's text may use: its language's that are emission columns (None: any token).

    A subword vocabulary's columns come from single letters, not from the words' own pieces, so its
    restriction stays the language's."""
    if allowed is None or vocabulary.encode is not None:
        return allowed
    return np.intersect1d(allowed, columns)


def _detected(emissions: SpanEmissions, frames: list[LanguageFrames], window: tuple[int, int], options: "TranscribeOptions") -> str | None:
    """The most probable language in a search window; None (every character) when it holds no speech."""
    start = max(0, window[0])
    for first, found in zip(emissions.starts, frames):
        count = len(found.unrestricted.tokens)
        if first <= start < first + count:
            part = frames_between(found, start - first, min(window[1], first + count) - first)  # the window's own sums
            ranked = part.probabilities(options.calibration)
            return ranked[0][0] if ranked else None
    return None
