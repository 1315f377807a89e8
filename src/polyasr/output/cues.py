"""The subtitle cue builder shared by SRT and VTT (:func:`build_cues`, :class:`Cue`).

Segments become cues in order; long or wordy segments are split (at word timestamps when there are
any, else in proportion to characters); text is wrapped to at most `max_line_count` lines of
`max_line_width` characters; a diarized segment's cues start with its speaker; times are rounded
to whole milliseconds, made non-overlapping and strictly increasing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..language.catalogue import is_unspaced
from ..results import Segment, Transcription
from .base import WriterOptions, timed_texts
from .lines import MARK_CLOSE, MARK_OPEN, Atoms, is_punctuation, one_line, text_atoms, visible_length, wrap_lines
from .timestamps import to_ms

__all__ = ["Cue", "build_cues"]


@dataclass(frozen=True)
class Cue:
    """One subtitle: times in whole milliseconds (end > start), text already wrapped into lines."""

    start_ms: int
    end_ms: int
    text: str


@dataclass
class _Token:
    atoms: list[tuple[str, bool]]
    start: float  # seconds
    end: float  # seconds


def _word_tokens(segment: Segment, highlight_below: float | None = None) -> list[_Token]:
    """The segment's words as tokens; the segment's own spelling when it has one token per word. Words
    scoring below `highlight_below` are marked (MARK_OPEN, MARK_CLOSE)."""
    words = [word for word in segment.words if word.word.strip()]
    spelled = segment.text.split()
    if len(spelled) != len(words):
        spelled = [one_line(word.word) for word in words]
    tokens: list[_Token] = []
    previous = ""
    for text, word in zip(spelled, words):
        if tokens and is_punctuation(text):  # a lone "," or "。" stays with the word before it
            piece, space_before = tokens[-1].atoms[-1]
            tokens[-1].atoms[-1] = (piece + text, space_before)
            tokens[-1].end = max(tokens[-1].end, word.end)
            previous = text
            continue
        atoms = text_atoms(text)
        # a space before the word unless either side is a script without spaces
        space = bool(previous) and not (is_unspaced(previous[-1]) or is_unspaced(text[0]))
        atoms[0] = (atoms[0][0], space)
        if highlight_below is not None and word.score < highlight_below:
            atoms[0] = (MARK_OPEN + atoms[0][0], atoms[0][1])
            atoms[-1] = (atoms[-1][0] + MARK_CLOSE, atoms[-1][1])
        tokens.append(_Token(atoms, word.start, word.end))
        previous = text
    return tokens


def _spread(atoms: list[tuple[str, bool]], start: float, end: float) -> list[_Token]:
    """One token per atom, timed in proportion to character offsets between start and end, end to end."""
    offsets = []
    position = 0
    for index, (piece, space_before) in enumerate(atoms):
        if space_before and index:
            position += 1
        offsets.append(position)
        position += len(piece)
    total = max(position, 1)
    span = max(end - start, 0.0)
    starts = [start + span * offset / total for offset in offsets]
    ends = starts[1:] + [max(end, start)]
    return [_Token([atom], token_start, token_end) for atom, token_start, token_end in zip(atoms, starts, ends)]


def _proportional_tokens(text: str, start: float, end: float) -> list[_Token]:
    """Atoms of `text` timed in proportion to character offsets between start and end, end to end."""
    return _spread(text_atoms(text), start, end)


def _cut(piece: str, space_before: bool, parts: int) -> list[tuple[str, bool]]:
    """`piece` cut into `parts` atoms of nearly equal length; only the first keeps the space before it."""
    bounds = [round(len(piece) * k / parts) for k in range(parts + 1)]
    return [(piece[a:b], space_before and a == 0) for a, b in zip(bounds, bounds[1:]) if b > a]


def _prefixed(prefix: Atoms, atoms: Atoms) -> Atoms:
    """A cue's atoms after its prefix ("[SPEAKER_00]:"), one space between them."""
    if not prefix or not atoms:
        return prefix + atoms
    return [*prefix, (atoms[0][0], True), *atoms[1:]]


def _fit(tokens: list[_Token], options: WriterOptions, prefix: Atoms) -> list[_Token]:
    """Tokens that each fit in one cue after `prefix`, even where one "word" does not.

    A token too wide for the cue's lines or lasting longer than a cue is cut into its atoms; an atom
    wider than a line into line-wide pieces (narrower by the prefix when a cue has one line); a
    piece lasting longer than a cue into shorter pieces (down to single characters). All pieces are
    timed in proportion to their characters.
    """
    width, longest = options.max_line_width, options.max_cue_seconds
    if prefix and options.max_line_count == 1:
        width = max(1, width - len(wrap_lines(prefix, width)[0]) - 1)
    fitted: list[_Token] = []
    for token in tokens:
        if _fits(_prefixed(prefix, token.atoms), options) and token.end - token.start <= longest:
            fitted.append(token)
            continue
        narrow = [atom for piece, space in token.atoms for atom in _cut(piece, space, math.ceil(len(piece) / width))]
        for part in _spread(narrow, token.start, token.end):
            ((piece, space),) = part.atoms
            parts = min(len(piece), math.ceil((part.end - part.start) / longest))
            fitted += _spread(_cut(piece, space, parts), part.start, part.end) if parts > 1 else [part]
    return fitted


def _fits(atoms: list[tuple[str, bool]], options: WriterOptions) -> bool:
    lines = wrap_lines(atoms, options.max_line_width)
    return len(lines) <= options.max_line_count and all(visible_length(line) <= options.max_line_width for line in lines)


def _pack(tokens: list[_Token], options: WriterOptions, prefix: Atoms) -> list[tuple[float, float, Atoms]]:
    """Greedily group tokens into cues that fit the lines after `prefix` and last at most max_cue_seconds."""
    chunks: list[tuple[float, float, list[tuple[str, bool]]]] = []
    atoms: list[tuple[str, bool]] = []
    start = end = 0.0
    for token in tokens:
        if atoms:
            candidate = atoms + token.atoms
            if token.end - start <= options.max_cue_seconds and _fits(_prefixed(prefix, candidate), options):
                atoms, end = candidate, max(end, token.end)
                continue
            chunks.append((start, end, atoms))
        atoms, start, end = list(token.atoms), token.start, token.end
    if atoms:
        chunks.append((start, end, atoms))
    return chunks


def _segment_chunks(start: float, end: float, text: str, segment: Segment | None, options: WriterOptions):
    """(start, end, atoms) for one segment: the whole segment, or its pieces when too long or too wordy.

    A diarized segment's cues start with its speaker ("[SPEAKER_00]: "), counted in the limits.
    """
    prefix: Atoms = [(f"[{segment.speaker}]:", False)] if segment is not None and segment.speaker is not None else []
    has_words = segment is not None and any(word.word.strip() for word in segment.words)
    below = options.highlight_below
    marked = has_words and below is not None and any(w.score < below for w in segment.words)  # type: ignore[union-attr]
    atoms = text_atoms(text)
    if (not atoms or marked) and has_words:
        assert segment is not None
        atoms = [atom for token in _word_tokens(segment, below) for atom in token.atoms]
    if not atoms:
        return []
    if end - start <= options.max_cue_seconds and _fits(_prefixed(prefix, atoms), options):
        chunks = [(start, end, atoms)]
    elif has_words:
        assert segment is not None
        chunks = _pack(_fit(_word_tokens(segment, below), options, prefix), options, prefix)
    else:
        chunks = _pack(_fit(_proportional_tokens(text, start, end), options, prefix), options, prefix)
    return [(chunk_start, chunk_end, _prefixed(prefix, atoms)) for chunk_start, chunk_end, atoms in chunks]


def build_cues(result: Transcription, options: WriterOptions | None = None) -> list[Cue]:
    """The subtitle cues of `result`, shared by the SRT and VTT writers.

    Cues follow the segments in order (a result with text but no segments gets one 0..duration cue).
    A segment longer than max_cue_seconds, or whose text needs more than max_line_count lines, is
    split: at words (by their timestamps) when it has them, else in proportion to characters; a
    single word too wide for a line or too long for a cue is split too (see `_fit`). Times are whole
    milliseconds; a cue starting before the previous one ended starts at that end, each cue ends at
    least 1 ms after it starts and lasts at most max_cue_seconds (a one-character word held longer
    is cut short). Cues without text are left out.
    """
    options = options if options is not None else WriterOptions()
    if result.segments:
        pieces = [(segment.start, segment.end, segment.text, segment) for segment in result.segments]
    else:
        pieces = [(start, end, text, None) for start, end, text in timed_texts(result)]
    cues: list[Cue] = []
    previous_end = 0
    longest_ms = max(1, int(options.max_cue_seconds * 1000))
    for start, end, text, segment in pieces:
        for chunk_start, chunk_end, atoms in _segment_chunks(start, end, text, segment, options):
            lines = wrap_lines(atoms, options.max_line_width)
            body = "\n".join(line.replace("-->", "->") for line in lines)
            if not body.strip():
                continue
            start_ms = max(to_ms(chunk_start), previous_end)
            end_ms = min(max(to_ms(chunk_end), start_ms + 1), start_ms + longest_ms)
            cues.append(Cue(start_ms, end_ms, body))
            previous_end = end_ms
    return cues
