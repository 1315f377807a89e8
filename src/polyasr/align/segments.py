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
from typing import Callable, Sequence

import numpy as np

from .text import NumberReadings, TranscriptTokens, aligned_words, tokenize_transcript, transcript_numbers
from ..decoding.forced_align import Alignment, forced_align
from ..decoding.ctc import Vocabulary
from ..errors import AlignmentError, OptionsError
from ..output.timing import segment_confidence
from ..results import Segment, Word
from .transcripts import TranscriptSegment

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
    numbers: bool = True  # numbers aligned as spoken in the segment's language ("1984" -> "nineteen eighty-four")

    def __post_init__(self) -> None:
        if not 0 <= self.margin_seconds <= self.wide_margin_seconds:
            raise OptionsError(
                f"need 0 <= margin_seconds <= wide_margin_seconds, got {self.margin_seconds} and {self.wide_margin_seconds}"
            )
        if not 0 <= self.min_char_score <= 1:
            raise OptionsError(f"min_char_score must lie between 0 and 1, not {self.min_char_score}")
        for name in ("context_seconds", "merge_gap_seconds"):
            value = getattr(self, name)
            if not value >= 0:
                raise OptionsError(f"{name} must be 0 or more, not {value}")


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
    numbers: NumberReadings = ()  # the words that hold numbers and their spoken forms; `tokens` has the first
    allowed: np.ndarray | None = None  # the token ids the text was matched to (for other readings of numbers)


@dataclass(frozen=True)
class _Attempt:
    words: list[Word]
    unplaced: list[str]
    score: float  # mean probability of the aligned characters
    pinned: bool  # speech pressed against an edge of the search window that is not the audio's edge
    log_likelihood: float = 0.0  # of the best path, to compare readings of the same frames


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
    language: str | None, allowed: np.ndarray | None, numbers: bool = False,
) -> AlignmentGroup:
    """A group's text as tokens of its language (the segments' texts joined by spaces); with `numbers`,
    its numbers as spoken in that language (their other readings are tried when aligning)."""
    counts = tuple(len(tokenize_transcript(s.text, vocabulary, allowed).words) for s in segments)
    text = " ".join(s.text for s in segments)
    readings = transcript_numbers(text, language) if numbers else ()
    if readings:  # the written form too, where the model spells every one of its characters (digit tokens)
        chunks = text.split()
        readings = tuple((i, r + ((chunks[i],) if not tokenize_transcript(chunks[i], vocabulary, allowed).skipped else ()))
                         for i, r in readings)
    tokens = tokenize_transcript(text, vocabulary, allowed, {i: r[0] for i, r in readings})
    return AlignmentGroup(segments, span, tokens, counts, language, readings, allowed)


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
        if isinstance(attempt, str) and group.span == (0.0, None):  # untimed text over the whole input: no fallback
            raise AlignmentError(attempt)
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
    """The group aligned in the frames of `window`, or why it could not be; each number in the reading
    that aligns best (each other reading tried with the rest kept usual, then the winners together).

    Speech touching an edge of the window counts as pinned there, except at the audio's ends and
    at edges not in `open_edges` (a well-aligned neighbour's words).
    """
    def attempt(tokens: TranscriptTokens) -> _Attempt | str:
        return _align_tokens(tokens, emissions, window, columns, vocabulary, frame_seconds, open_edges)

    best = attempt(group.tokens)
    if not group.numbers or isinstance(best, str):
        return best
    text = " ".join(s.text for s in group.segments)
    usual = {i: readings[0] for i, readings in group.numbers}
    gains: dict[int, tuple[float, str]] = {}
    for i, readings in group.numbers:
        for reading in readings[1:]:
            other = attempt(tokenize_transcript(text, vocabulary, group.allowed, {**usual, i: reading}))
            if isinstance(other, _Attempt) and other.log_likelihood - best.log_likelihood > gains.get(i, (0.0, ""))[0]:
                gains[i] = (other.log_likelihood - best.log_likelihood, reading)
    if gains:
        chosen = attempt(tokenize_transcript(text, vocabulary, group.allowed, {**usual, **{i: r for i, (_, r) in gains.items()}}))
        if isinstance(chosen, _Attempt) and chosen.log_likelihood > best.log_likelihood:
            return chosen
    return best


def _align_tokens(
    tokens: TranscriptTokens, emissions: SpanEmissions, window: tuple[int, int], columns: np.ndarray,
    vocabulary: Vocabulary, frame_seconds: float, open_edges: tuple[bool, bool],
) -> _Attempt | str:
    """`tokens` aligned in the frames of `window` (see `_align`)."""
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
    return _Attempt(words, unplaced, float(np.mean([t.score for t in shifted])), pinned, alignment.log_likelihood)


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
                                language=group.language, **segment_confidence([w for w in own if w.chars])))
    return segments


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:06.3f}"


