"""Mixed-language speech (language "multi"): spans of one language from langid's frames, with hysteresis,
and the Recognizer decoding each span restricted to its own language."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyasr.cli.main import main
from polyasr.decoding.ctc import FrameChoices
from polyasr.decoding.langid import LanguageFrames
from polyasr.decoding.language_spans import SpanOptions, frames_between, joined, language_spans, piece_spans
from polyasr.errors import OptionsError
from polyasr.language.choice import MULTI, LanguageChoice
from polyasr.recognizer.multi import piece_regions

from audio_factory import write_audio


def _frames(plan: list[tuple[int, str | None]]) -> LanguageFrames:
    """Frames of en and ru: runs of (count, language speaking; None: a pause). A speaking frame's own
    language scores log 0.9, the other log 0.05; every other frame starts a character."""
    codes = ("en", "ru")
    tokens, lp = [], []
    for count, lang in plan:
        for f in range(count):
            tokens.append(0 if lang is None else 5 + (f // 2) % 2)
            lp.append([0.0, 0.0] if lang is None else [np.log(0.9) if c == lang else np.log(0.05) for c in codes])
    tokens_a = np.asarray(tokens, np.int64)
    best = np.asarray(lp, np.float32).T
    speech = tokens_a != 0
    return LanguageFrames(codes, (27, 34), FrameChoices(tokens_a, np.full(len(tokens), 0.9, np.float32)),
                          best[:, speech].sum(axis=1, dtype=np.float64), np.zeros(best.shape, np.int32), best, 0)


def test_spans_follow_the_language_and_one_word_does_not_flip_it() -> None:
    frames = _frames([(10, None), (150, "en"), (25, None), (150, "ru"), (20, None), (60, "en"), (12, "ru"), (60, "en"), (10, None)])
    spans = language_spans(frames, 0.02)
    assert [s.code for s in spans] == ["en", "ru", "en"]  # the 12 frames (0.24 s, one word) of ru inside en stay en
    assert 160 <= spans[0].end <= 185 and 335 <= spans[1].end <= 355  # cut inside the pauses
    assert spans[0].start == 0 and spans[-1].end == frames.unrestricted.num_frames
    assert all(s.probability > 0.9 for s in spans)
    flipped = language_spans(frames, 0.02, SpanOptions(switch_penalty=0.0, span_seconds=0.02, min_seconds=0.0))
    assert [s.code for s in flipped] == ["en", "ru", "en", "ru", "en"]  # without hysteresis the word flips it
    assert language_spans(_frames([(50, None)]), 0.02) == []


def test_a_span_s_frames_have_their_own_sums() -> None:
    frames = _frames([(100, "en"), (100, "ru")])
    part = frames_between(frames, 100, 200)
    assert part.unrestricted.num_frames == 100 and part.probabilities()[0][0] == "ru"
    assert part.acoustic[1] == pytest.approx(100 * np.log(0.9), rel=1e-5)
    with pytest.raises(OptionsError, match="switch_penalty"):
        SpanOptions(switch_penalty=-1)


def test_multi_is_parsed_once() -> None:
    assert LanguageChoice.parse(" Multi ") is MULTI and MULTI.is_multi and MULTI.identifies and str(MULTI) == "multi"


def test_recognizer_gives_every_segment_its_language(recognizer, tiny_model_dir, tmp_path) -> None:
    rng = np.random.default_rng(5)
    audio = (0.2 * rng.standard_normal(16_000 * 4)).astype(np.float32)
    result = recognizer.transcribe(audio, language="multi", word_timestamps=True, sampling_rate=16_000, language_candidates=("en", "ru"))
    assert result.segments and result.language in ("en", "ru")
    tables = recognizer.model.language_table
    for segment in result.segments:
        assert segment.language in ("en", "ru") and 0 < segment.language_probability <= 1
        allowed = {recognizer.model.vocabulary.tokens[i] for i in tables.token_ids(segment.language)}
        assert set(segment.text.replace(" ", "")) <= allowed  # decoded restricted to its own language
    wav = write_audio(tmp_path / "mixed.wav", "pcm_s16le", 16_000, audio[None].astype(np.float64))
    assert main(["transcribe", str(wav), "--model", str(tiny_model_dir), "--language", "multi", "--candidates", "en,ru",
                 "-f", "json", "-o", str(tmp_path)]) == 0
    written = json.loads((tmp_path / "mixed.json").read_text(encoding="utf-8"))["segments"]  # from 16-bit samples
    assert written and all(s["language"] in ("en", "ru") and 0 < s["language_probability"] <= 1 for s in written)


def test_pieces_are_judged_on_their_own_frames() -> None:
    """"multi"'s second pass: each piece judged on the frames the model gave it alone (piece_spans), not on
    its slice of one pass over everything, where the other languages leak in (docs/languages.md)."""
    pieces = [(0, 120), (120, 240), (240, 250), (250, 370)]
    alone = [_frames([(10, None), (100, "en"), (10, None)]), _frames([(10, None), (100, "ru"), (10, None)]), None,
             _frames([(10, None), (100, "en"), (10, None)])]
    spans = piece_spans(pieces, alone, 0.02)
    assert [(s.start, s.end, s.code, s.pieces) for s in spans] == [(0, 120, "en", (0,)), (120, 250, "ru", (1, 2)),
                                                                    (250, 370, "en", (3,))]
    assert all(s.probability > 0.9 for s in spans)
    one_pass = _frames([(10, None), (100, "en"), (20, None), (100, "en"), (20, None), (100, "en"), (20, None)])
    assert [s.code for s in language_spans(one_pass, 0.02)] == ["en"]  # the same cuts, judged on contaminated frames
    assert piece_spans(pieces, [None] * 4, 0.02) == []


def test_pieces_run_alone_as_separate_regions() -> None:
    speech = np.zeros(400, bool)
    speech[20:100] = speech[100:180] = speech[300:320] = True  # two pieces touching at 100 (a change without a pause)
    regions = piece_regions([(0, 100), (100, 250), (250, 280), (280, 400)], speech, 10)
    assert regions == [(10, 100), (101, 190), None, (290, 330)]  # speech + 10 frames, one frame apart, None: silence
    parts = [_frames([(50, "en")]), _frames([(30, None), (20, "ru")])]
    both = joined(parts)
    assert both.unrestricted.num_frames == 100 and both.best_log_probs.shape == (2, 100)
    assert both.acoustic == pytest.approx(parts[0].acoustic + parts[1].acoustic)
