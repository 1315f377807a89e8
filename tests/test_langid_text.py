"""Language identification fused with the transcript's text language (decoding/text_langid.py, py3langid)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from polyasr import LanguageCalibration
from polyasr.decoding.ctc import Vocabulary
from polyasr.decoding.langid import LanguageReducer
from polyasr.decoding.text_langid import TextLanguageIdentifier, load_text_identifier, text_log_probabilities
from polyasr.errors import OptionsError
from polyasr.language.table import LanguageTable

pytest.importorskip("py3langid")

LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCABULARY = Vocabulary(tokens=("<pad>", "|", *LETTERS, "ä", "ö", "ü"), blank_id=0, word_delimiter_id=1,
                        hidden_ids=frozenset({0}))
ASCII = [1, *range(2, 28)]
TABLE = LanguageTable.from_mapping({"en": ASCII, "de": [*ASCII, 28, 29, 30]})


@pytest.fixture(scope="module")
def identifier() -> TextLanguageIdentifier:
    found = load_text_identifier()
    assert found is not None
    return found


def spelled(text: str) -> np.ndarray:
    """Logits whose argmax spells `text`: each character on 2 frames, a blank frame after each."""
    ids = [VOCABULARY.tokens.index("|" if c == " " else c) for c in text]
    logits = np.zeros((3 * len(ids), len(VOCABULARY.tokens)), np.float32)
    for i, token in enumerate(ids):
        logits[3 * i: 3 * i + 2, token] = 8.0
        logits[3 * i + 2, 0] = 8.0
    return logits


def test_text_log_probabilities_split_shares_and_leave_unknown_languages_uniform() -> None:
    raw = {"de": -10.0, "en": -12.0, "zh": -11.0, "fr": 50.0}  # fr is no candidate: it takes no share
    lp = text_log_probabilities(raw, ["de", "en", None], num_bytes=4)  # temperature sqrt(4) = 2
    de, en = 1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1))
    np.testing.assert_allclose(np.exp(lp), [2 / 3 * de, 2 / 3 * en, 1 / 3], rtol=1e-12)
    shared = np.exp(text_log_probabilities(raw, ["zh", "zh", "en"], num_bytes=1))  # zh-CN, zh-TW: one label
    zh = 1 / (1 + math.exp(-1))
    np.testing.assert_allclose(shared, [zh / 2, zh / 2, 1 - zh], rtol=1e-12)


def test_codes_map_to_the_identifiers_labels_by_their_primary_subtag(identifier) -> None:
    assert [identifier.label(c) for c in ("sv-SE", "zh-HK", "de", "rm-sursilv", "cnh")] == ["sv", "zh", "de", None, None]
    assert identifier.uncovered(["de", "cnh", "fy-NL", "vot"]) == ["cnh", "vot"]
    assert identifier.log_probabilities("", ["de", "en"]) is None
    assert identifier.log_probabilities("der hund", ["cnh", "vot"]) is None


def test_the_text_decides_between_languages_the_characters_cannot_separate(identifier) -> None:
    """German without umlauts: the characters favour English (the smaller table explains them), the text German."""
    logits = spelled("der hund und die katze sind heute nicht im haus")
    reducer = LanguageReducer(TABLE, 0, ("en", "de"), vocabulary=VOCABULARY, text_identifier=identifier)
    reducer.add(0, logits[:60])
    reducer.add(60, logits[60:])
    frames = reducer.finish(len(logits))
    assert frames.text() == "der hund und die katze sind heute nicht im haus"
    assert frames.probabilities(LanguageCalibration(text_weight=0))[0][0] == "en"
    ranked = dict(frames.probabilities())
    assert max(ranked, key=ranked.get) == "de"
    # the fusion is exactly softmax(scores / temperature + text_weight x log P_text)
    calibration = LanguageCalibration()
    scores = frames.scores(calibration)
    text = identifier.log_probabilities(frames.text(), ["en", "de"])
    logit = np.array([scores["en"], scores["de"]]) / calibration.temperature + calibration.text_weight * text
    expected = np.exp(logit - logit.max()) / np.exp(logit - logit.max()).sum()
    assert ranked["en"] == pytest.approx(expected[0], rel=1e-9) and ranked["de"] == pytest.approx(expected[1], rel=1e-9)
    # without the identifier (no py3langid) the acoustic evidence alone decides, as before
    plain = LanguageReducer(TABLE, 0, ("en", "de"))
    plain.add(0, logits)
    assert plain.finish(len(logits)).probabilities()[0][0] == "en"


def test_text_weight_is_checked() -> None:
    with pytest.raises(OptionsError, match="text_weight"):
        LanguageCalibration(text_weight=-1.0)


def test_every_entry_point_gets_the_recognizers_one_identifier(recognizer, tiny_model_dir) -> None:
    """detect_language_iter (CLI detect-language, server) and transcribe's auto/detect share one reducer."""
    identifier = recognizer.text_identifier()
    assert identifier is not None and recognizer.text_identifier() is identifier  # loaded once
    audio = np.random.default_rng(0).normal(0, 0.1, 16_000).astype(np.float32)
    (item,) = recognizer.detect_language_iter([audio], sampling_rate=16_000)
    assert item.value.text_identifier is identifier and item.value.vocabulary is recognizer.model.vocabulary
    reducer = recognizer.language_reducer(("de", "en"), keep_frames=False)
    assert reducer.text_identifier is identifier and reducer.vocabulary is recognizer.model.vocabulary
