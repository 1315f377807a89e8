"""Timestamps from CTC frames: characters, words and segments with start, end and confidence.

A token emitted over frames [a, b) spans a x frame_seconds to b x frame_seconds (20 ms frames for
wav2vec2); its score is the mean probability of those frames on the chosen path. Words are the
characters between word delimiters; in scripts written without spaces (Chinese, Japanese, Thai)
every character is a word of its own. Segments end at a pause between words or when they grow too long.

A word's score estimates the chance that it is right. Decoded by the acoustics alone (greedy, beam
without LM or hotwords) it is the product of its characters' scores (every character must be
right: ECE 0.09 on the proxy model, where the mean of the frames gave 0.51); when an LM or hotwords
chose the words it is the mean probability of their frames (ECE 0.04; the product, 0.44, ignores
the LM's corrections). A segment's `score` is its words' mean, `avg_logprob` the mean of their logs
and `no_speech_prob` the chance that none of them is right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from ..decoding.ctc import Decoded, TokenSpan, Vocabulary
from ..decoding.options import MEAN_SCORE, PRODUCT_SCORE
from ..errors import OptionsError
from ..language.catalogue import is_unspaced
from ..results import Char, Segment, Word


@dataclass(frozen=True)
class SegmentOptions:
    """How words are grouped into segments."""

    pause_seconds: float = 0.5  # a silence at least this long between two words ends a segment
    max_segment_seconds: float = 15.0  # a segment is closed before it grows longer than this

    def __post_init__(self) -> None:
        if not self.pause_seconds >= 0:
            raise OptionsError(f"pause_seconds must be 0 or more, not {self.pause_seconds}")
        if not self.max_segment_seconds > 0:
            raise OptionsError(f"max_segment_seconds must be positive, not {self.max_segment_seconds}")


def round_time(seconds: float) -> float:
    """Seconds rounded to whole milliseconds, so outputs carry no float noise (11.040000000000001)."""
    return round(seconds, 3)


def frame_time(frame: int, frame_seconds: float) -> float:
    """The time of a frame boundary (frame x frame_seconds), in whole milliseconds."""
    return round_time(frame * frame_seconds)


def join_words(words: Sequence[Word]) -> str:
    """Words joined by spaces, except between two characters of a script written without spaces."""
    text = ""
    for word in words:
        glue = "" if not text or (is_unspaced(text[-1]) and is_unspaced(word.word[:1])) else " "
        text += glue + word.word
    return text


def make_word(text: str, chars: Sequence[Char], frame_probs: np.ndarray, word_score: str = MEAN_SCORE) -> Word:
    """A word spanning its characters, scored as `word_score` says (PRODUCT_SCORE or MEAN_SCORE)."""
    score = float(np.prod([c.score for c in chars])) if word_score == PRODUCT_SCORE else float(frame_probs.mean())
    return Word(text, chars[0].start, chars[-1].end, min(max(score, 0.0), 1.0), tuple(chars))


def segment_confidence(words: Sequence[Word]) -> dict[str, float | None]:
    """A segment's score, avg_logprob and no_speech_prob from its words' scores (None without words)."""
    scores = np.clip([w.score for w in words if w.word.strip()], 0.0, 1.0)
    if not scores.size:
        return {"score": None, "avg_logprob": None, "no_speech_prob": None}
    return {"score": round(float(scores.mean()), 4), "avg_logprob": round(float(np.log(np.maximum(scores, 1e-10)).mean()), 4),
            "no_speech_prob": round(float(np.prod(1.0 - scores)), 4)}


def words_from_spans(decoded: Decoded, vocabulary: Vocabulary, frame_seconds: float, word_score: str = PRODUCT_SCORE) -> list[Word]:
    """The words of a decoded utterance: characters between delimiters, subwords from one "▁" piece to the
    next, or single unspaced characters; scored as `word_score` says (PRODUCT_SCORE or MEAN_SCORE)."""
    probs = decoded.frames.probs
    words: list[Word] = []
    current: list[TokenSpan] = []

    def close() -> None:
        chars = [
            Char(vocabulary.text_of(s.token_id), frame_time(s.start_frame, frame_seconds), frame_time(s.end_frame, frame_seconds),
                 float(probs[s.start_frame : s.end_frame].mean()))
            for s in current
        ]
        if chars and "".join(c.char for c in chars):
            frame_probs = np.concatenate([probs[s.start_frame : s.end_frame] for s in current])
            words.append(make_word("".join(c.char for c in chars), chars, frame_probs, word_score))
        current.clear()

    for span in decoded.spans:
        if span.token_id == vocabulary.word_delimiter_id:
            close()
        elif span.token_id not in vocabulary.hidden_ids:
            unspaced = is_unspaced(vocabulary.text_of(span.token_id))
            if unspaced or vocabulary.starts_word(span.token_id):
                close()
            current.append(span)
            if unspaced:
                close()
    close()
    return words


def group_segments(words: Sequence[Word], options: SegmentOptions = SegmentOptions(), keep_words: bool = False) -> tuple[Segment, ...]:
    """Consecutive words grouped into segments, split at pauses and before a segment grows too long."""
    groups: list[list[Word]] = []
    for word in words:
        if groups:
            pause = word.start - groups[-1][-1].end >= options.pause_seconds
            too_long = word.end - groups[-1][0].start > options.max_segment_seconds
            if not (pause or too_long):
                groups[-1].append(word)
                continue
        groups.append([word])
    return tuple(
        Segment(id=i, start=g[0].start, end=g[-1].end, text=join_words(g), words=tuple(g) if keep_words else (),
                **segment_confidence(g))
        for i, g in enumerate(groups)
    )


def within(word: Word, duration: float) -> Word:
    """The word with its times (and its characters') inside [0, duration]: a frame of 80 ms (Parakeet)
    can end after the audio does."""
    if word.end <= duration:
        return word
    last = math.floor(duration * 1000) / 1000
    clip = lambda t: min(t, last)  # noqa: E731
    chars = tuple(replace(c, start=clip(c.start), end=clip(c.end)) for c in word.chars)
    return replace(word, start=clip(word.start), end=clip(word.end), chars=chars)


def shifted_word(word: Word, seconds: float) -> Word:
    """The word and its characters `seconds` later (a part decoded on its own)."""
    move = lambda t: round_time(t + seconds)  # noqa: E731
    return replace(word, start=move(word.start), end=move(word.end),
                   chars=tuple(replace(c, start=move(c.start), end=move(c.end)) for c in word.chars))


def shifted(segment: Segment, seconds: float) -> Segment:
    """The segment, its words and their characters `seconds` later (a part decoded on its own)."""
    return replace(segment, start=round_time(segment.start + seconds), end=round_time(segment.end + seconds),
                   words=tuple(shifted_word(w, seconds) for w in segment.words))


def segment_within(segment: Segment, duration: float) -> Segment:
    """The segment and its words inside [0, duration] (see `within`)."""
    if segment.end <= duration:
        return segment
    words = tuple(within(w, duration) for w in segment.words)
    return replace(segment, start=min(segment.start, math.floor(duration * 1000) / 1000),
                   end=math.floor(duration * 1000) / 1000, words=words)


def build_segments(
    decoded: Decoded,
    vocabulary: Vocabulary,
    frame_seconds: float,
    options: SegmentOptions = SegmentOptions(),
    word_timestamps: bool = False,
    duration: float | None = None,
    word_score: str = PRODUCT_SCORE,
) -> tuple[Segment, ...]:
    """Segments of a decoded utterance; each carries its words when `word_timestamps` is set. With
    `duration`, no time lies after it. `word_score`: how words are scored (PRODUCT_SCORE or MEAN_SCORE)."""
    words = words_from_spans(decoded, vocabulary, frame_seconds, word_score)
    if duration is not None:
        words = [within(w, duration) for w in words]
    return group_segments(words, options, word_timestamps)
