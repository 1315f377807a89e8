"""Timestamps from synthetic logits with a known alignment: exact times, words, segments."""

from __future__ import annotations

import numpy as np
import pytest

from polyasr.decoding.ctc import Vocabulary, greedy_decode
from polyasr.output.timing import SegmentOptions, build_segments, join_words
from polyasr.results import Word

TOKENS = ("[PAD]", "<s>", "[UNK]", "|", "h", "i", "y", "o", "你", "好")
VOCAB = Vocabulary(tokens=TOKENS, blank_id=0, word_delimiter_id=3, hidden_ids=frozenset({0, 1, 2}))
FRAME = 0.02


def logits_for(path: str, peak: float = 0.9) -> np.ndarray:
    """One frame per character of `path`; '_' is blank. The path's token gets probability `peak`."""
    ids = [0 if c == "_" else TOKENS.index(c) for c in path]
    probs = np.full((len(ids), len(TOKENS)), (1 - peak) / (len(TOKENS) - 1))
    probs[np.arange(len(ids)), ids] = peak
    return np.log(probs).astype(np.float32)


def test_character_and_word_times_are_exact() -> None:
    #        frame: 0123456789...
    path = "__hh_i__|||_yyo__"
    decoded = greedy_decode(logits_for(path), VOCAB)
    (segment,) = build_segments(decoded, VOCAB, FRAME, word_timestamps=True)
    hi, yo = segment.words
    assert (hi.word, yo.word, segment.text, decoded.text) == ("hi", "yo", "hi yo", "hi yo")
    # h: frames 2-3 -> 0.04..0.08; i: frame 5 -> 0.10..0.12; y: 12-13 -> 0.24..0.28; o: 14 -> 0.28..0.30
    assert [(c.char, c.start, c.end) for c in hi.chars] == [("h", 0.04, 0.08), ("i", 0.10, 0.12)]
    assert [(c.char, c.start, c.end) for c in yo.chars] == [("y", 0.24, 0.28), ("o", 0.28, 0.30)]
    assert (hi.start, hi.end, yo.start, yo.end) == (0.04, 0.12, 0.24, 0.30)
    assert (segment.start, segment.end) == (0.04, 0.30)
    assert hi.score == pytest.approx(0.81, abs=1e-6)  # two characters each of probability 0.9: both right 0.81


def test_word_score_is_the_product_of_its_characters_or_with_an_lm_the_mean_of_its_frames() -> None:
    logits = logits_for("hhi", peak=0.9)
    logits[2] = logits_for("i", peak=0.6)[0]
    decoded = greedy_decode(logits, VOCAB)
    (segment,) = build_segments(decoded, VOCAB, FRAME, word_timestamps=True)
    (word,) = segment.words
    assert word.score == pytest.approx(0.9 * 0.6, abs=1e-6)  # the chance that both characters are right
    assert [c.score for c in word.chars] == pytest.approx([0.9, 0.6], abs=1e-6)
    (word,) = build_segments(decoded, VOCAB, FRAME, word_timestamps=True, word_score="mean")[0].words
    assert word.score == pytest.approx((0.9 + 0.9 + 0.6) / 3, abs=1e-6)
    assert (segment.score, segment.no_speech_prob) == pytest.approx((0.54, 0.46), abs=1e-4)
    assert segment.avg_logprob == pytest.approx(np.log(0.54), abs=1e-4)


def test_segments_split_at_pauses_and_at_the_length_limit() -> None:
    pause = "_" * 30  # 0.6 s of blanks
    decoded = greedy_decode(logits_for("hi|yo|" + pause + "hi|hi|hi"), VOCAB)
    segments = build_segments(decoded, VOCAB, FRAME, SegmentOptions(pause_seconds=0.5))
    assert [s.text for s in segments] == ["hi yo", "hi hi hi"]
    assert [s.id for s in segments] == [0, 1] and segments[1].start == pytest.approx(0.72)
    assert segments[0].words == ()  # words only when asked for
    short = build_segments(decoded, VOCAB, FRAME, SegmentOptions(pause_seconds=5, max_segment_seconds=0.11))
    assert [s.text for s in short] == ["hi yo", "hi hi", "hi"]  # each closed before passing 0.11 s


def test_unspaced_characters_are_words_and_join_without_spaces() -> None:
    decoded = greedy_decode(logits_for("你_好__|hi"), VOCAB)
    (segment,) = build_segments(decoded, VOCAB, FRAME, word_timestamps=True)
    assert [w.word for w in segment.words] == ["你", "好", "hi"]
    assert segment.text == "你好 hi"
    assert join_words([Word("a", 0, 1, 1), Word("你", 1, 2, 1), Word("好", 2, 3, 1)]) == "a 你好"


def test_silence_gives_no_segments() -> None:
    assert build_segments(greedy_decode(logits_for("____"), VOCAB), VOCAB, FRAME) == ()


def test_one_table_of_unspaced_scripts_for_segments_text_subtitles_and_scoring() -> None:
    """CJK extension B (𠺝, U+20E9D) was missing from timing's copy: segments got '我 𠺝你'."""
    from polyasr.language.normalizer_rules import is_character_level
    from polyasr.output.lines import text_atoms

    tokens = ("[PAD]", "|", "我", "\U00020e9d", "你")
    vocab = Vocabulary(tokens=tokens, blank_id=0, word_delimiter_id=1, hidden_ids=frozenset({0}))
    probs = np.full((5, 5), 0.025)
    probs[np.arange(5), [2, 0, 3, 0, 4]] = 0.9
    decoded = greedy_decode(np.log(probs).astype(np.float32), vocab)
    (segment,) = build_segments(decoded, vocab, FRAME, word_timestamps=True)
    assert decoded.text == segment.text == "我\U00020e9d你"
    assert [w.word for w in segment.words] == ["我", "\U00020e9d", "你"]
    assert [piece for piece, _ in text_atoms("我\U00020e9d你")] == ["我", "\U00020e9d", "你"]  # a line may break anywhere
    assert [is_character_level(code) for code in ("zh-CN", "ja", "th", "en", "ru")] == [True, True, True, False, False]


def test_times_are_whole_milliseconds_at_the_source() -> None:
    from polyasr.output.timing import frame_time

    assert 552 * FRAME == 11.040000000000001 and frame_time(552, FRAME) == 11.04
    decoded = greedy_decode(logits_for("_" * 552 + "hi"), VOCAB)
    (segment,) = build_segments(decoded, VOCAB, FRAME, word_timestamps=True)
    assert (segment.start, segment.words[0].chars[1].end) == (11.04, 11.08)
