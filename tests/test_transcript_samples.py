"""Language ID's text evidence read from transcripts drawn from the CTC posteriors (decoding/transcript_samples.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from polyasr import LanguageCalibration
from polyasr.decoding.langid import LanguageReducer
from polyasr.decoding.language_spans import frames_between
from polyasr.decoding.transcript_samples import SAMPLES, sample_frames, sampled_texts
from polyasr.errors import OptionsError
from test_langid_text import TABLE, VOCABULARY, identifier  # noqa: F401 (identifier: a fixture)

def token(character: str) -> int:
    return VOCABULARY.blank_id if character == "_" else VOCABULARY.tokens.index("|" if character == " " else character)


def uncertain(heard: str, other: str, p: float = 0.55) -> np.ndarray:
    """Log-probabilities: each character of `heard` on one frame with probability p, where `other`
    differs its character with 1 - p; a blank frame after each character."""
    logits = np.full((2 * len(heard), len(VOCABULARY.tokens)), -30.0, np.float32)
    for i, (a, b) in enumerate(zip(heard, other)):
        logits[2 * i, token(a)] = math.log(p) if a != b else 0.0
        if a != b:
            logits[2 * i, token(b)] = math.log(1 - p)
        logits[2 * i + 1, VOCABULARY.blank_id] = 0.0
    return logits


def frames_of(logits: np.ndarray, keep_frames: bool = True, **settings):
    reducer = LanguageReducer(TABLE, 0, ("en", "de"), keep_frames, VOCABULARY, settings.pop("identifier"), **settings)
    reducer.add(0, logits)
    return reducer.finish(len(logits))


def test_drawn_paths_follow_each_frames_distribution_among_its_best_tokens() -> None:
    scores = np.full((3, 6), -30.0, np.float32)
    scores[0, 2] = 0.0  # certain
    scores[1, [3, 4]] = np.log([0.75, 0.25])  # two-way
    scores[2, [1, 2, 5]] = np.log([0.5, 0.3, 0.2])  # three-way, of which top=2 keeps the first two
    drawn = sample_frames(scores, 4000, seed=7, top=2)
    assert drawn.shape == (3, 4000) and drawn.dtype == np.int32
    assert (drawn[0] == 2).all()
    assert set(drawn[1].tolist()) == {3, 4} and abs(float(np.mean(drawn[1] == 3)) - 0.75) < 0.03
    assert set(drawn[2].tolist()) == {1, 2} and abs(float(np.mean(drawn[2] == 1)) - 0.5 / 0.8) < 0.03
    np.testing.assert_array_equal(drawn, sample_frames(scores + 5.0, 4000, seed=7, top=2))  # logits or log-probs: same draws
    assert not np.array_equal(drawn, sample_frames(scores, 4000, seed=8, top=2))
    assert sample_frames(scores, 0, seed=0).shape == (3, 0)


def test_language_id_reads_what_the_model_may_have_heard_not_only_its_greedy_spelling(identifier) -> None:
    """The greedy path spells English ("the man in the house"), but almost half of each uncertain
    frame's mass is German ("dür män im dür höuse"): the language averaged over drawn transcripts is German."""
    logits = uncertain("the man in the house", "dür män im dür höuse")
    found = LanguageReducer(TABLE, 0, ("en", "de"), vocabulary=VOCABULARY, text_identifier=identifier)
    found.add(0, logits)
    frames = found.finish(len(logits))
    assert frames.text() == "the man in the house"
    greedy = identifier.log_probabilities(frames.text(), ["en", "de"])
    assert greedy[0] > greedy[1]  # the greedy text alone says English (what language ID read before)
    ranked = frames.probabilities()
    assert ranked[0][0] == "de" and ranked[0][1] > 0.99
    # with the greedy text only (text_samples=0), the old answer
    assert frames_of(logits, identifier=identifier, text_samples=0).probabilities()[0][0] == "en"


def test_the_text_evidence_is_the_mean_probability_over_the_drawn_transcripts(identifier) -> None:
    logits = uncertain("the man in the house", "dür män im dür höuse")
    frames = frames_of(logits, identifier=identifier)
    assert frames.samples is not None and frames.samples.shape == (len(logits), SAMPLES)
    texts = frames.texts()
    assert texts == sampled_texts(frames.samples, 0, VOCABULARY) and len(set(texts)) > 4
    each = np.exp([identifier.log_probabilities(t, ["en", "de"]) for t in texts])
    np.testing.assert_allclose(np.exp(frames.text_log_probabilities()), each.mean(axis=0), rtol=1e-9)
    calibration = LanguageCalibration()
    scores = frames.scores(calibration)
    logit = np.array([scores["en"], scores["de"]]) / calibration.temperature + 8.0 * np.log(each.mean(axis=0))
    expected = np.exp(logit - logit.max()) / np.exp(logit - logit.max()).sum()
    ranked = dict(frames.probabilities())
    assert [ranked["en"], ranked["de"]] == pytest.approx(expected.tolist(), rel=1e-9)


def test_auto_and_detect_draw_the_same_paths_and_slices_keep_their_own(identifier) -> None:
    logits = uncertain("the man in the house", "dür män im dür höuse")
    kept, sums = frames_of(logits, identifier=identifier), frames_of(logits, False, identifier=identifier)
    np.testing.assert_array_equal(kept.samples, sums.samples)
    assert dict(kept.probabilities()) == pytest.approx(dict(sums.probabilities()))
    part = frames_between(kept, 10, 20)  # language "multi": a stretch reads its own drawn paths
    np.testing.assert_array_equal(part.samples, kept.samples[10:20])
    # windows draw by their own first frame: the same audio windowed the same way gives the same answer
    again = LanguageReducer(TABLE, 0, ("en", "de"), vocabulary=VOCABULARY, text_identifier=identifier)
    again.add(0, logits[:20])
    again.add(20, logits[20:])
    twice = LanguageReducer(TABLE, 0, ("en", "de"), vocabulary=VOCABULARY, text_identifier=identifier)
    twice.add(20, logits[20:])
    twice.add(0, logits[:20])
    np.testing.assert_array_equal(again.finish(len(logits)).samples, twice.finish(len(logits)).samples)


def test_no_paths_are_drawn_where_nothing_reads_them_and_a_negative_count_is_refused(identifier) -> None:
    plain = LanguageReducer(TABLE, 0, ("en", "de"))  # no identifier, no vocabulary: the acoustic evidence alone
    plain.add(0, uncertain("the man", "dür män"))
    assert plain.finish(14).samples is None
    with pytest.raises(OptionsError, match="text_samples"):
        LanguageReducer(TABLE, 0, ("en", "de"), vocabulary=VOCABULARY, text_identifier=identifier, text_samples=-1)
    with pytest.raises(OptionsError, match="text_samples must be 0 or more, not -1"):  # also where none would be drawn
        LanguageReducer(TABLE, 0, ("en", "de"), text_samples=-1)
