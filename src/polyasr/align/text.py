"""Aligning a known transcript: its text as model tokens, emissions over windows, words with times.

The Viterbi search itself is in decoding/forced_align.py; this module prepares its inputs and reads its output
back into the transcript's own words (as written, with their case and punctuation).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..decoding.forced_align import Alignment
from ..decoding.ctc import Vocabulary, log_normalizer, stitch_frames
from ..results import Char, Word
from ..errors import OptionsError
from ..language.catalogue import is_unspaced
from ..language.numbers import number_readings
from ..output.timing import frame_time, make_word


@dataclass(frozen=True)
class TranscriptTokens:
    """A transcript prepared for alignment."""

    words: tuple[str, ...]  # the transcript's words as written; in unspaced scripts, one character each
    targets: np.ndarray  # token ids to align, in order, with word delimiters between spaced words
    word_of_target: np.ndarray  # for each target, the index of its word; -1 for a delimiter
    skipped: tuple[str, ...]  # letters and digits that have no token (in the language), in order


def _variants(char: str) -> list[str]:
    """Spellings to try for a character the vocabulary may lack: as is, lower case, NFKC, unaccented,
    then upper case (vocabularies of converted fairseq models are upper case)."""
    lower = char.lower()
    nfkc = unicodedata.normalize("NFKC", lower)
    bare = "".join(c for c in unicodedata.normalize("NFD", nfkc) if not unicodedata.combining(c))
    return list(dict.fromkeys([char, lower, nfkc, bare, nfkc.upper(), bare.upper()]))


NumberReadings = tuple[tuple[int, tuple[str, ...]], ...]  # (index in text.split(), its spoken forms) per number


def transcript_numbers(text: str, language: str | None) -> NumberReadings:
    """The words of `text` that hold numbers, each with the ways it is spoken in `language` (usual first);
    () without a language, for a language without number words, or without num2words installed."""
    try:
        found = [(i, number_readings(chunk, language)) for i, chunk in enumerate(text.split())] if language else []
    except OptionsError:  # num2words is missing: numbers stay as written
        return ()
    return tuple((i, r) for i, r in found if r)


def tokenize_transcript(
    text: str, vocabulary: Vocabulary, allowed_ids: Sequence[int] | np.ndarray | None = None,
    spoken: Mapping[int, str] | None = None,
) -> TranscriptTokens:
    """Map each character to a token of the vocabulary (restricted to `allowed_ids` when given).

    Characters without a token are skipped: punctuation silently, letters and digits are reported
    in `skipped` so the caller can warn. A subword vocabulary tokenises each word with the model's
    own tokenizer (`Vocabulary.encode`) instead. `spoken` replaces the characters of some words (by
    their index in `text.split()`) with the words said for them ("1984" -> "nineteen eighty-four"):
    the word keeps its written form and owns the spoken form's tokens.
    """
    if vocabulary.encode is not None:
        return _subword_tokens(text, vocabulary, allowed_ids, spoken or {})
    ids = {token: i for i, token in enumerate(vocabulary.tokens) if i not in vocabulary.hidden_ids}
    allowed = None if allowed_ids is None else {int(i) for i in allowed_ids}
    delimiter = vocabulary.word_delimiter_id
    use_delimiter = delimiter is not None and (allowed is None or delimiter in allowed)
    words: list[str] = []
    targets: list[int] = []
    owners: list[int] = []
    skipped: list[str] = []

    def lookup(char: str) -> int | None:
        for variant in _variants(char):
            token = ids.get(variant)
            if token is not None and token != delimiter and (allowed is None or token in allowed):
                return token
        return None

    def delimit() -> None:
        if use_delimiter and targets and targets[-1] != delimiter:
            targets.append(delimiter)  # type: ignore[arg-type]
            owners.append(-1)

    def spell(chars: str) -> None:  # the characters of the last word (or of its spoken form)
        for char in chars:
            token = lookup(char)
            if token is not None:
                targets.append(token)
                owners.append(len(words) - 1)
            elif unicodedata.category(char)[0] in "LN":
                skipped.append(char)

    for index, chunk in enumerate(text.split()):
        delimit()
        if spoken and index in spoken:
            words.append(chunk)
            for number, said in enumerate(spoken[index].split()):
                if number:
                    delimit()
                spell(said)
            continue
        for piece in [c for c in chunk] if all(is_unspaced(c) for c in chunk) else [chunk]:
            words.append(piece)
            spell(piece)
    if targets and targets[-1] == delimiter:
        targets.pop()
        owners.pop()
    return TranscriptTokens(tuple(words), np.asarray(targets, np.int64), np.asarray(owners, np.int64), tuple(skipped))


def _subword_tokens(
    text: str, vocabulary: Vocabulary, allowed_ids: Sequence[int] | np.ndarray | None, spoken: Mapping[int, str]
) -> TranscriptTokens:
    """Each word of `text` (or its spoken form) through the model's tokenizer; pieces it cannot emit
    (unknown, or outside `allowed_ids`) are dropped, and the letters and digits they held reported as skipped."""
    assert vocabulary.encode is not None
    allowed = None if allowed_ids is None else {int(i) for i in allowed_ids}
    words: list[str] = []
    targets: list[int] = []
    owners: list[int] = []
    skipped: list[str] = []
    for index, chunk in enumerate(text.split()):
        pieces = [c for c in chunk] if all(is_unspaced(c) for c in chunk) and index not in spoken else [chunk]
        for piece in pieces:
            words.append(piece)
            said = spoken.get(index, piece)
            for token in [t for part in said.split() for t in vocabulary.encode(part)]:
                if token in vocabulary.hidden_ids or token >= len(vocabulary):  # <unk>: the word's letters are unknown
                    skipped.extend(c for c in said if unicodedata.category(c)[0] in "LN")
                    continue
                if allowed is not None and token not in allowed:
                    skipped.extend(c for c in vocabulary.text_of(token) if unicodedata.category(c)[0] in "LN")
                    continue
                targets.append(int(token))
                owners.append(len(words) - 1)
    return TranscriptTokens(tuple(words), np.asarray(targets, np.int64), np.asarray(owners, np.int64), tuple(skipped))


class EmissionReducer:
    """Keeps the log-probabilities of a few columns (blank and the transcript's tokens) per frame."""

    def __init__(self, columns: np.ndarray) -> None:
        self.columns = columns
        self._parts: dict[int, np.ndarray] = {}

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        self._parts[first_frame] = (logits[:, self.columns] - log_normalizer(logits)).astype(np.float32)

    def finish(self, num_frames: int) -> np.ndarray:
        return stitch_frames(self._parts, num_frames, np.float32, (len(self.columns),))


def aligned_words(
    tokens: TranscriptTokens, alignment: Alignment, vocabulary: Vocabulary, frame_seconds: float
) -> tuple[list[Word], list[str]]:
    """The transcript's words with times; words with no alignable character get their neighbour's time.

    Returns the words and the words that had to be placed that way.
    """
    chars: dict[int, list[Char]] = {}
    for aligned in alignment.tokens:
        owner = int(tokens.word_of_target[aligned.index])
        if owner >= 0:
            token = vocabulary.text_of(int(tokens.targets[aligned.index]))
            start, end = frame_time(aligned.start_frame, frame_seconds), frame_time(aligned.end_frame, frame_seconds)
            char = Char(token, start, end, aligned.score)
            chars.setdefault(owner, []).append(char)
    words: list[Word] = []
    unplaced: list[str] = []
    for index, text in enumerate(tokens.words):
        if index in chars:
            own = chars[index]
            words.append(make_word(text, own, np.asarray([c.score for c in own])))
        else:
            unplaced.append(text)
            at = words[-1].end if words else 0.0
            words.append(Word(text, at, at, 0.0))
    first_timed = next((w.start for w in words if w.chars), 0.0)
    words = [w if w.chars or w.start > 0 else Word(w.word, first_timed, first_timed, 0.0) for w in words]
    return words, unplaced
