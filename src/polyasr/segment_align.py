"""Aligning timed text (subtitles, another recogniser's segments) segment by segment.

Each segment is aligned only inside its own time span plus `margin_seconds` on each side, so the
model runs over the spans alone (overlapping or nearby spans merged into one region, every region
one input of `run_inference`) and a long recording whose subtitles cover little of it costs little.
A segment whose alignment fails (its span is too short for its text), whose characters score
below `min_char_score`, or whose speech is pressed against an edge of its search window (its
times are off by more than the margin) is aligned again within `wide_margin_seconds`, which costs
a second pass over those wider spans only; the better-scoring of the two is kept.

Consecutive segments without times (plain text) are aligned together, in the gap their timed
neighbours leave (the whole file when nothing has times), and split back into their segments.
Each segment keeps its own text, punctuation and case; characters the model lacks are handled as
in `Recognizer.align` (normalised, or skipped with a warning and the word placed by a neighbour).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from .align_text import EmissionReducer, TranscriptTokens, aligned_words, tokenize_transcript
from .alignment import Alignment, forced_align
from .audio import SAMPLE_RATE, AudioInput, source_name
from .decoding import FrameChoices, Vocabulary
from .errors import AlignmentError, OptionsError
from .langid import LanguageFrames, LanguageReducer
from .results import Segment, Transcription, Word
from .inference import rereadable
from .span_inference import run_over_spans
from .transcripts import TranscriptSegment

if TYPE_CHECKING:
    from .transcriber import Recognizer, TranscribeOptions

AUTO, DETECT = "auto", "detect"  # as in transcriber.py
# A wider search stops this far from a well-aligned neighbour's words: CTC puts a character's
# edges only to within a frame or two, so the neighbour's last sounds may lie just past its words.
NEIGHBOUR_GUARD_SECONDS = 0.1


@dataclass(frozen=True)
class SegmentAlignOptions:
    """Where each segment's words are searched for."""

    margin_seconds: float = 1.0  # audio searched on each side of a segment's own times
    wide_margin_seconds: float = 10.0  # searched on each side when the first search fails or looks wrong
    min_char_score: float = 0.02  # a first alignment whose characters' mean probability is lower is searched wider
    context_seconds: float = 0.5  # audio the model also hears around each search (its frames are not searched)
    merge_gap_seconds: float = 1.0  # search spans closer than this are run through the model as one region

    def __post_init__(self) -> None:
        if not 0 <= self.margin_seconds <= self.wide_margin_seconds:
            raise OptionsError(
                f"need 0 <= margin_seconds <= wide_margin_seconds, got {self.margin_seconds} and {self.wide_margin_seconds}"
            )
        if not 0 <= self.min_char_score <= 1 or not self.merge_gap_seconds >= 0 or not self.context_seconds >= 0:
            raise OptionsError("min_char_score must lie in [0, 1]; merge_gap_seconds and context_seconds must be >= 0")


@dataclass(frozen=True)
class SpanEmissions:
    """Log-probability columns over a few regions of one input (frames x columns each)."""

    starts: tuple[int, ...]  # first global frame of each region, increasing
    arrays: tuple[np.ndarray, ...]  # each region's (frames, columns) log-probabilities
    num_frames: int  # frames of the whole input

    def window(self, start: int, end: int) -> tuple[int, np.ndarray]:
        """(first frame, log-probs) of [start, end) clipped to the audio and the region that holds `start`."""
        start, end = max(0, start), min(end, self.num_frames)
        for first, array in zip(self.starts, self.arrays):
            if first <= start < first + len(array):
                return start, array[start - first : min(end, first + len(array)) - first]
        return start, np.zeros((0, self.arrays[0].shape[1] if self.arrays else 1), np.float32)


Fetch = Callable[[list[tuple[int, int]]], SpanEmissions]  # frame spans -> their emissions


@dataclass(frozen=True)
class AlignmentGroup:
    """Segments aligned as one: a timed segment alone, or a run of untimed ones."""

    segments: tuple[TranscriptSegment, ...]
    span: tuple[float, float | None] | None  # seconds the group must lie in (None end: the audio's end); None: no times
    tokens: TranscriptTokens  # the group's text, prepared for its language
    word_counts: tuple[int, ...]  # words of each segment in `tokens.words`
    language: str | None  # the code the text was matched to; None: every character of the model


@dataclass(frozen=True)
class _Attempt:
    words: list[Word]
    unplaced: list[str]
    score: float  # mean probability of the aligned characters
    pinned: bool  # speech pressed against an edge of the search window that is not the audio's edge


def group_segments(segments: Sequence[TranscriptSegment]) -> list[tuple[tuple[TranscriptSegment, ...], tuple[float, float | None] | None]]:
    """Timed segments alone; each run of untimed ones together, spanning the gap its neighbours leave."""
    groups: list[tuple[tuple[TranscriptSegment, ...], tuple[float, float | None] | None]] = []
    run: list[TranscriptSegment] = []
    previous_end = 0.0

    def close(next_start: float | None) -> None:
        if run:
            groups.append((tuple(run), (previous_end, next_start)))
            run.clear()

    for segment in segments:
        if segment.start is None or segment.end is None:
            run.append(segment)
            continue
        close(segment.start)
        groups.append(((segment,), (segment.start, segment.end)))
        previous_end = segment.end
    close(None)
    return groups


def prepare_group(
    segments: tuple[TranscriptSegment, ...], span: tuple[float, float | None] | None, vocabulary: Vocabulary,
    language: str | None, allowed: np.ndarray | None,
) -> AlignmentGroup:
    """A group's text as tokens of its language (the segments' texts joined by spaces)."""
    counts = tuple(len(tokenize_transcript(s.text, vocabulary, allowed).words) for s in segments)
    tokens = tokenize_transcript(" ".join(s.text for s in segments), vocabulary, allowed)
    return AlignmentGroup(segments, span, tokens, counts, language)


def search_frames(span: tuple[float, float | None], margin: float, frame_seconds: float) -> tuple[int, int]:
    """The frames [start, end) searched for a span widened by `margin` seconds (end unbounded when None)."""
    start, end = span
    last = math.inf if end is None else end + margin
    return max(0, int((start - margin) / frame_seconds)), int(min(last / frame_seconds + 1, 2**62))


def align_groups(
    groups: Sequence[AlignmentGroup],
    first: SpanEmissions,
    fetch: Fetch,
    columns: np.ndarray,
    vocabulary: Vocabulary,
    frame_seconds: float,
    options: SegmentAlignOptions = SegmentAlignOptions(),
) -> tuple[list[Segment], list[str]]:
    """Every group aligned in `first` (the emissions of its margin-wide span), suspicious ones again wider.

    `fetch` gives the emissions of the wider spans. Returns the segments (own text, aligned words,
    times from their words) and warnings for the user.
    """
    attempts: list[_Attempt | str] = []
    for group in groups:
        window = search_frames(group.span or (0.0, None), options.margin_seconds, frame_seconds)
        attempts.append(_align(group, first, window, columns, vocabulary, frame_seconds))
    retry = [i for i, (g, a) in enumerate(zip(groups, attempts)) if g.segments[0].start is not None and _suspicious(a, options)]
    warnings: list[str] = []
    if retry and options.wide_margin_seconds > options.margin_seconds:
        runs = _runs(retry)  # neighbours searched again are aligned together, in order
        windows = [_wide_window(run, groups, attempts, options, frame_seconds) for run in runs]
        second = fetch(sorted(window for window, _ in windows))
        for run, (window, open_edges) in zip(runs, windows):
            joint = _joined([groups[i] for i in run], vocabulary.word_delimiter_id)
            again = _align(joint, second, window, columns, vocabulary, frame_seconds, open_edges)
            if _better(again, _combined([attempts[i] for i in run])):
                assert isinstance(again, _Attempt)
                for i, part in zip(run, _parts(again, [len(groups[i].tokens.words) for i in run])):
                    attempts[i] = part
                what = "segment" if len(run) == 1 else f"{len(run)} segments"
                warnings.append(f"{what} at {_clock(groups[run[0]].span[0])} found outside its own times "  # type: ignore[index]
                                f"(searched up to {options.wide_margin_seconds:g} s around them)")
    segments: list[Segment] = []
    skipped: list[str] = []
    unplaced: list[str] = []
    for group, attempt in zip(groups, attempts):
        skipped += group.tokens.skipped
        if isinstance(attempt, str):
            warnings.append(f"segment at {_clock((group.span or (0.0, None))[0])} could not be aligned ({attempt}); "
                            "it keeps its own times")
            words = _spread(group)
        else:
            words, unplaced = attempt.words, unplaced + attempt.unplaced
        segments += _split(group, words, len(segments))
    if skipped:
        warnings.insert(0, f"skipped characters the model has no token for: {''.join(dict.fromkeys(skipped))}")
    if unplaced:
        warnings.insert(1 if skipped else 0, f"words with no alignable character, placed next to their neighbour: {' '.join(unplaced)}")
    return segments, warnings


def _align(
    group: AlignmentGroup, emissions: SpanEmissions, window: tuple[int, int], columns: np.ndarray,
    vocabulary: Vocabulary, frame_seconds: float, open_edges: tuple[bool, bool] = (True, True),
) -> _Attempt | str:
    """The group aligned in the frames of `window`, or why it could not be.

    Speech touching an edge of the window counts as pinned there, except at the audio's ends and
    at edges not in `open_edges` (a well-aligned neighbour's words).
    """
    tokens = group.tokens
    first, log_probs = emissions.window(*window)
    if tokens.targets.size == 0:
        words, unplaced = aligned_words(tokens, Alignment((), 0.0), vocabulary, frame_seconds)
        at = first * frame_seconds
        return _Attempt([Word(w.word, at, at, 0.0) for w in words], unplaced, 0.0, False)
    if len(log_probs) == 0:
        return "its times lie beyond the end of the audio"
    blank = int(np.searchsorted(columns, vocabulary.blank_id))
    try:
        alignment = forced_align(log_probs, np.searchsorted(columns, tokens.targets), blank=blank, frame_seconds=frame_seconds)
    except AlignmentError as error:
        return str(error)
    shifted = tuple(replace(t, start_frame=t.start_frame + first, end_frame=t.end_frame + first) for t in alignment.tokens)
    words, unplaced = aligned_words(tokens, Alignment(shifted, alignment.log_likelihood), vocabulary, frame_seconds)
    end = first + len(log_probs)
    pinned = (open_edges[0] and first > 0 and shifted[0].start_frame <= first + 1) or (
        open_edges[1] and end < emissions.num_frames and shifted[-1].end_frame >= end - 1)
    return _Attempt(words, unplaced, float(np.mean([t.score for t in shifted])), pinned)


def _runs(indices: list[int]) -> list[list[int]]:
    """Sorted indices cut into runs of consecutive ones: [1, 2, 5] -> [[1, 2], [5]]."""
    runs: list[list[int]] = []
    for i in indices:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _wide_window(
    run: list[int], groups: Sequence[AlignmentGroup], attempts: Sequence[_Attempt | str], options: SegmentAlignOptions,
    frame_seconds: float,
) -> tuple[tuple[int, int], tuple[bool, bool]]:
    """The wider search of a run of groups, and which of its edges are open (see `_align`).

    It covers their spans plus the wide margin, but not the words of the well-aligned neighbours.
    """
    first, last = groups[run[0]].span, groups[run[-1]].span
    start, end = search_frames((first[0], last[1]), options.wide_margin_seconds, frame_seconds)  # type: ignore[index]
    before = attempts[run[0] - 1] if run[0] > 0 else None  # not searched again, so not suspicious
    after = attempts[run[-1] + 1] if run[-1] + 1 < len(attempts) else None
    open_start = open_end = True
    guard = int(round(NEIGHBOUR_GUARD_SECONDS / frame_seconds))
    if isinstance(before, _Attempt) and before.words:
        bound = int(round(max(w.end for w in before.words) / frame_seconds)) + guard
        open_start = bound < start
        start = max(start, min(bound, end - 1))
    if isinstance(after, _Attempt) and after.words:
        bound = int(round(after.words[0].start / frame_seconds)) - guard
        open_end = bound > end
        end = min(end, max(bound, start + 1))
    return (start, end), (open_start, open_end)


def _joined(groups: list[AlignmentGroup], delimiter: int | None) -> AlignmentGroup:
    """Several groups as one, aligned in one search (their tokens in order, a delimiter between)."""
    if len(groups) == 1:
        return groups[0]
    targets: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    words = 0
    for group in groups:
        tokens = group.tokens
        gap = delimiter is not None and targets and (delimiter in tokens.targets or delimiter in targets[-1])
        if gap and tokens.targets.size:
            targets.append(np.asarray([delimiter], np.int64))
            owners.append(np.asarray([-1], np.int64))
        targets.append(tokens.targets)
        owners.append(np.where(tokens.word_of_target >= 0, tokens.word_of_target + words, -1))
        words += len(tokens.words)
    tokens = TranscriptTokens(
        tuple(w for g in groups for w in g.tokens.words), np.concatenate(targets), np.concatenate(owners),
        tuple(c for g in groups for c in g.tokens.skipped),
    )
    span = (groups[0].span[0], groups[-1].span[1])  # type: ignore[index]
    return AlignmentGroup(tuple(s for g in groups for s in g.segments), span, tokens,
                          tuple(n for g in groups for n in g.word_counts), groups[0].language)


def _combined(attempts: list[_Attempt | str]) -> _Attempt | str:
    """Several groups' first results judged as one: failed if one failed, else mean score and any pinned."""
    failed = next((a for a in attempts if isinstance(a, str)), None)
    if failed is not None:
        return failed
    done = [a for a in attempts if isinstance(a, _Attempt)]
    return _Attempt([], [], float(np.mean([a.score for a in done])), any(a.pinned for a in done))


def _parts(attempt: _Attempt, counts: list[int]) -> list[_Attempt]:
    """A joint result cut back into its groups' words (each group `counts` words)."""
    parts, at = [], 0
    for index, count in enumerate(counts):
        own = attempt.words[at : at + count]
        at += count
        unplaced = attempt.unplaced if index == 0 else []
        parts.append(_Attempt(own, unplaced, attempt.score, attempt.pinned))
    return parts


def _better(wide: _Attempt | str, tight: _Attempt | str) -> bool:
    """Whether the wider search's result replaces the first: it worked, and scores higher or is no longer pinned."""
    if isinstance(wide, str):
        return False
    if isinstance(tight, str):
        return True
    return wide.score > tight.score or (tight.pinned and not wide.pinned and wide.score >= 0.5 * tight.score)


def _suspicious(attempt: _Attempt | str, options: SegmentAlignOptions) -> bool:
    return isinstance(attempt, str) or attempt.pinned or attempt.score < options.min_char_score


def _spread(group: AlignmentGroup) -> list[Word]:
    """Words timed in proportion to their length over the group's own span (an unaligned group)."""
    start, end = group.span if group.span is not None and group.span[1] is not None else (0.0, 0.0)
    words = group.tokens.words
    total = max(sum(len(w) for w in words), 1)
    out, at = [], start
    for word in words:
        step = (end - start) * len(word) / total
        out.append(Word(word, at, at + step, 0.0))
        at += step
    return out


def _split(group: AlignmentGroup, words: list[Word], first_id: int) -> list[Segment]:
    """The group's words back in their segments, each segment timed by its words."""
    segments = []
    position = 0
    for offset, (segment, count) in enumerate(zip(group.segments, group.word_counts)):
        own = words[position : position + count]
        position += count
        timed = [w for w in own if w.chars] or own
        start = timed[0].start if timed else (segment.start or 0.0)
        end = max((w.end for w in timed), default=segment.end or start)
        segments.append(Segment(first_id + offset, start, end, segment.text, tuple(own), speaker=segment.speaker,
                                language=group.language))
    return segments


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:06.3f}"



# --- the whole job: languages, spans, model, alignment ------------------------------------------


def align_segments(
    recognizer: "Recognizer",
    audio: AudioInput,
    segments: Sequence[Any],
    language: str | None,
    sampling_rate: int | None,
    options: "TranscribeOptions",
    search: SegmentAlignOptions,
    candidates: tuple[str, ...] = (),
) -> Transcription:
    """See `Recognizer.align_segments`; `candidates` are the languages "detect" chooses among."""
    model, vocabulary, table = recognizer.model, recognizer.model.vocabulary, recognizer.model.language_table
    items = [s for s in (as_transcript_segment(s, i) for i, s in enumerate(segments)) if s.text]
    if not items:
        raise AlignmentError("there are no segments with text to align")
    source = source_name(audio)
    audio = rereadable(audio)  # decoded again when some segments need a wider search
    detect = language is not None and language.lower() == DETECT
    plans = group_segments(items)
    if detect:
        codes: list[str | None] = [None] * len(plans)
    elif language is not None:
        codes = [recognizer.resolve_language(language)] * len(plans)
    else:  # each segment's own language, where the transcript gives one
        codes = [recognizer.resolve_language(group[0].language or AUTO) for group, _ in plans]
    allowed = {code: table.token_ids(code) for code in {*codes, *candidates} if code} if table is not None else {}
    columns = _columns(items, vocabulary, [allowed[c] if c else None for c in {*codes, *candidates}])
    fs = model.frame_seconds
    windows = [search_frames(span or (0.0, None), search.margin_seconds, fs) for _, span in plans]
    num_samples = 0

    def fetch(spans: list[tuple[int, int]], identify: bool = False) -> tuple[SpanEmissions, list[LanguageFrames]]:
        nonlocal num_samples

        def reducer() -> Any:
            emissions = EmissionReducer(columns)
            return _Both(emissions, LanguageReducer(table, vocabulary.blank_id, candidates)) if identify else emissions

        context = int(search.context_seconds / fs)
        padded = [(max(0, a - context), b + context) for a, b in spans]
        found = run_over_spans(model, audio, padded, reducer, options.windows, recognizer.batch, sampling_rate,
                               merge_gap_frames=int(search.merge_gap_seconds / fs))
        num_samples = found.num_samples
        pairs = [v if identify else (v, None) for v in found.values]
        emissions = SpanEmissions(found.starts, tuple(p[0] for p in pairs), model.frames_for_samples(num_samples))
        return emissions, [p[1] for p in pairs if p[1] is not None]

    first, language_frames = fetch(windows, identify=detect)
    if detect:
        codes = [_detected(first, language_frames, window, options) for window in windows]
    groups = [prepare_group(group, span, vocabulary, code, allowed.get(code) if code else None)
              for (group, span), code in zip(plans, codes)]
    aligned, warnings = align_groups(groups, first, lambda spans: fetch(spans)[0], columns, vocabulary, fs, search)
    used = set(codes)
    return Transcription(
        text=" ".join(s.text for s in aligned), language=used.pop() if len(used) == 1 else None,
        duration=num_samples / SAMPLE_RATE, source=source, segments=tuple(aligned), warnings=tuple(warnings),
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


def _columns(items: Sequence[TranscriptSegment], vocabulary: Vocabulary, alloweds: Sequence[np.ndarray | None]) -> np.ndarray:
    """Blank and every token any segment's characters may become, in any of the languages used."""
    letters = " ".join(sorted({char for item in items for char in item.text if not char.isspace()}))
    targets = [tokenize_transcript(letters, vocabulary, allowed).targets for allowed in alloweds]
    return np.unique(np.concatenate([[vocabulary.blank_id], *targets])).astype(np.int64)


class _Both:
    """A FrameReducer feeding two reducers the same logits; finishes as the pair of their summaries."""

    def __init__(self, first: Any, second: Any) -> None:
        self.first, self.second = first, second

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        self.first.add(first_frame, logits)
        self.second.add(first_frame, logits)

    def finish(self, num_frames: int) -> tuple[Any, Any]:
        return self.first.finish(num_frames), self.second.finish(num_frames)


def _detected(emissions: SpanEmissions, frames: list[LanguageFrames], window: tuple[int, int], options: "TranscribeOptions") -> str | None:
    """The most probable language in a search window; None (every character) when it holds no speech."""
    start = max(0, window[0])
    for first, found in zip(emissions.starts, frames):
        count = len(found.unrestricted.tokens)
        if first <= start < first + count:
            a, b = start - first, min(window[1], first + count) - first
            part = replace(
                found, unrestricted=FrameChoices(found.unrestricted.tokens[a:b], found.unrestricted.probs[a:b]),
                best_ids=found.best_ids[:, a:b], best_log_probs=found.best_log_probs[:, a:b],
            )
            ranked = part.probabilities(options.calibration)
            return ranked[0][0] if ranked else None
    return None
