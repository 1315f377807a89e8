"""Language identification from CTC logits and the language table."""

from __future__ import annotations

import numpy as np
import pytest

import polyasr
from polyasr.decoding.ctc import frame_tokens
from polyasr.language.table import LanguageTable
from polyasr.decoding.langid import LanguageCalibration, LanguageReducer

# vocabulary of 12: 0 blank, 1 delimiter, 2-5 shared Latin, 6-7 German only, 8-9 Russian, 10-11 Japanese
TABLE = LanguageTable.from_mapping({
    "en": [1, 2, 3, 4, 5],
    "de": [1, 2, 3, 4, 5, 6, 7],
    "ru": [1, 8, 9],
    "ja": [10, 11],
})


def favouring(ids: list[int], frames: int = 200, seed: int = 0) -> np.ndarray:
    """Logits whose speech frames pick tokens of `ids` (noisy), with blank frames in between."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (frames, 12)).astype(np.float32)
    speech = rng.random(frames) < 0.5
    logits[~speech, 0] += 8
    picks = rng.choice(ids, size=speech.sum())
    logits[np.flatnonzero(speech), picks] += 6
    return logits


def frames_for(logits: np.ndarray, codes=None):
    reducer = LanguageReducer(TABLE, blank_id=0, codes=codes)
    reducer.add(0, logits[:120])
    reducer.add(120, logits[120:])  # two windows, as the engine sends them
    return reducer.finish(len(logits))


@pytest.mark.parametrize(("ids", "expected"), [([8, 9, 1], "ru"), ([10, 11], "ja"), ([2, 6, 7, 3], "de")])
def test_speech_favouring_one_language_is_identified(ids, expected) -> None:
    ranked = frames_for(favouring(ids)).probabilities()
    assert ranked[0][0] == expected and ranked[0][1] > 0.9
    assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
    assert sum(p for _, p in ranked) == pytest.approx(1.0) and len(ranked) == 4


def test_keeping_only_the_sums_gives_the_same_scores_and_choices() -> None:
    """language="auto" keeps only each language's sum (computed without a log-probability matrix)."""
    for seed, ids in enumerate([[8, 9, 1], [10, 11], [2, 6, 7, 3]]):
        logits = favouring(ids, seed=seed) * 3
        full = frames_for(logits)
        sums = LanguageReducer(TABLE, blank_id=0, keep_frames=False)
        sums.add(0, logits[:120])
        sums.add(120, logits[120:])
        light = sums.finish(len(logits))
        np.testing.assert_allclose(light.acoustic, full.acoustic, rtol=1e-6)
        assert np.array_equal(light.unrestricted.tokens, full.unrestricted.tokens)
        np.testing.assert_allclose(light.unrestricted.probs, full.unrestricted.probs, rtol=1e-5)
        assert [c for c, _ in light.probabilities()] == [c for c, _ in full.probabilities()]
        assert light.best_ids is None


def test_inventory_prior_prefers_the_smallest_table_that_explains_the_audio() -> None:
    frames = frames_for(favouring([2, 3, 4]))  # only characters English and German share
    acoustic = dict(frames.probabilities(LanguageCalibration(inventory_weight=0.0)))
    assert acoustic["en"] == pytest.approx(acoustic["de"])  # the acoustic score alone cannot choose
    ranked = frames.probabilities()
    assert ranked[0][0] == "en" and ranked[1][0] == "de"  # en: 5 characters, de: 7
    tokens = frames.unrestricted.tokens
    emitted = sum(1 for i, t in enumerate(tokens) if t != 0 and (i == 0 or tokens[i - 1] != t))
    prior = frames.inventory_priors()  # one log(1/characters) per emitted character
    assert prior["en"] == pytest.approx(-emitted * np.log(5)) and prior["de"] == pytest.approx(-emitted * np.log(7))


def test_restricted_frames_equal_the_decoding_cores_language_filter() -> None:
    logits = favouring([2, 6, 8, 10], seed=3)
    frames = frames_for(logits)
    for code in TABLE.codes():
        expected = frame_tokens(logits, 0, TABLE.token_ids(code))
        np.testing.assert_array_equal(frames.restricted(code).tokens, expected)


def test_candidates_and_no_speech() -> None:
    ranked = frames_for(favouring([10, 11]), codes=("en", "ru")).probabilities()
    assert [c for c, _ in ranked] in (["en", "ru"], ["ru", "en"])
    silence = np.zeros((50, 12), np.float32)
    silence[:, 0] = 5
    assert frames_for(silence).probabilities() == []


def test_detect_then_decode_equals_decoding_with_that_language(recognizer) -> None:
    x = (0.1 * np.random.default_rng(8).standard_normal(16_000 * 4)).astype(np.float32)
    ranked = recognizer.detect_language(x, top=2, sampling_rate=16_000)
    assert len(ranked) == 2 and ranked[0][1] >= ranked[1][1]
    detected = recognizer.transcribe(x, language="detect", sampling_rate=16_000)
    assert detected.language == ranked[0][0] and detected.language_probability == pytest.approx(ranked[0][1])
    assert detected.text == recognizer.transcribe(x, language=detected.language, sampling_rate=16_000).text
    only = recognizer.detect_language(x, language_candidates=("EN", "ru",), sampling_rate=16_000)
    assert {c for c, _ in only} == {"en", "ru"}
    with pytest.raises(polyasr.LanguageError, match="unknown language 'xx'"):
        recognizer.detect_language(x, language_candidates=("xx",), sampling_rate=16_000)
