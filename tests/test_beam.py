"""Beam search on hand-built logits: LM and hotword flips, the language filter, greedy parity, timestamps."""

from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ctc_beam_decoder", reason="beam search needs polyasr[lm]")

import polyasr  # noqa: E402
from polyasr.decoding import BeamOptions, DecoderCache, DecoderOptions, LanguageFilter, parse_hotwords  # noqa: E402
from polyasr.decoding.beam import stretches  # noqa: E402
from polyasr.decoding.frames import TopTokensReducer  # noqa: E402
from polyasr.decoding.language_model import checkpoint_language_model, read_language_model  # noqa: E402
from polyasr.decoding.ctc import Vocabulary, frame_tokens, greedy_decode  # noqa: E402
from polyasr.errors import OptionsError  # noqa: E402
from polyasr.language.table import LanguageTable  # noqa: E402
from polyasr.model.languages import language_target  # noqa: E402
from polyasr import TranscribeOptions  # noqa: E402

TOKENS = ["[PAD]", "<s>", "</s>", "[UNK]", "|", *"abcdefghijklmnopqrstuvwxyz", "é", "ж", "щ"]
IDS = {t: i for i, t in enumerate(TOKENS)}
VOCAB = Vocabulary(tuple(TOKENS), 0, 4, frozenset({0, 1, 2, 3}))
ENGLISH = [IDS[c] for c in "abcdefghijklmnopqrstuvwxyz|"]
MODEL = types.SimpleNamespace(
    vocabulary=VOCAB, language_table=LanguageTable.from_mapping({"en": ENGLISH, "ru": [IDS["ж"], IDS["щ"], 4]}),
    name="/no/such/model", frame_seconds=0.02, adapters=None, single_language=None,
)
BLANK_FRAME = {"[PAD]": 0.98}

# Unigrams and bigrams of "the cat sat"; "cot" is a known but unlikely word.
TINY_ARPA = """\\data\\
ngram 1=7
ngram 2=4

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.3
-1.0\t</s>\t0
-0.8\tthe\t-0.3
-0.8\tcat\t-0.3
-0.8\tsat\t-0.3
-2.5\tcot\t-0.3

\\2-grams:
-0.2\t<s> the
-0.1\tthe cat
-0.1\tcat sat
-0.1\tsat </s>

\\end\\
"""


def logits_from(frames: list[dict[str, float]]) -> np.ndarray:
    """Log-probabilities of hand-written frames: the named tokens' probabilities, the rest tiny."""
    rows = []
    for frame in frames:
        p = np.full(len(TOKENS), 1e-4)
        for token, value in frame.items():
            p[IDS[token]] = value
        rows.append(np.log(p / p.sum()))
    return np.asarray(rows, np.float32)


def spoken(*words: str, ambiguous: dict[int, tuple[str, str]] | None = None) -> list[dict[str, float]]:
    """Frames of words separated by delimiters; `ambiguous` maps a character position (counted over
    all words) to (true, rival): the rival gets 0.55, the true character 0.42."""
    frames, position = [BLANK_FRAME], 0
    for n, word in enumerate(words):
        if n:
            frames += [{"|": 0.97}, BLANK_FRAME]
        for char in word:
            if ambiguous and position in ambiguous:
                true, rival = ambiguous[position]
                frames.append({true: 0.42, rival: 0.55})
            else:
                frames.append({char: 0.97})
            frames.append(BLANK_FRAME)
            position += 1
    return frames + [BLANK_FRAME]


@pytest.fixture
def arpa(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.arpa"
    path.write_text(TINY_ARPA, encoding="utf-8")
    return path


def beam(**kwargs) -> DecoderOptions:
    return DecoderOptions("beam", BeamOptions(**kwargs))


AMBIGUOUS = logits_from(spoken("the", "cat", "sat", ambiguous={4: ("a", "o")}))


def test_greedy_reads_the_acoustically_better_rival() -> None:
    assert greedy_decode(AMBIGUOUS, VOCAB).text == "the cot sat"  # the premise of the two flips below


def test_an_ambiguous_span_flips_to_the_language_models_word(arpa: Path) -> None:
    cache = DecoderCache()
    assert cache.decoder(language_target(MODEL, "en"), beam()).decode_logits(AMBIGUOUS).text == "the cot sat"  # no LM: acoustics win
    assert cache.decoder(language_target(MODEL, "en"), beam(lm=str(arpa))).decode_logits(AMBIGUOUS).text == "the cat sat"


def test_a_hotword_flips_the_span_to_the_hotword() -> None:
    decoder = DecoderCache().decoder(language_target(MODEL, "en"), beam(hotwords=parse_hotwords("Cat")))
    assert decoder.decode_logits(AMBIGUOUS).text == "the cat sat"
    assert decoder.warnings == ()


def test_timestamps_of_the_flipped_word_come_from_its_frames(arpa: Path) -> None:
    decoded = DecoderCache().decoder(language_target(MODEL, "en"), beam(lm=str(arpa))).decode_logits(AMBIGUOUS)
    # frames: 0 blank, t h e at 1 3 5, | at 7, c a t at 9 11 13: the flipped "a" keeps frame 11
    spans = [(TOKENS[s.token_id], s.start_frame, s.end_frame) for s in decoded.spans]
    assert spans[4:7] == [("c", 9, 10), ("a", 11, 12), ("t", 13, 14)]
    assert decoded.frames.probs[11] == pytest.approx(np.exp(AMBIGUOUS[11, IDS["a"]]))  # the chosen character's own (0.43)
    words = polyasr.output.timing.words_from_spans(decoded, VOCAB, 0.02)
    assert [(w.word, w.start, w.end) for w in words][1] == ("cat", pytest.approx(0.18), pytest.approx(0.28))


def random_logits(seed: int, frames: int = 300) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (frames, len(TOKENS))).astype(np.float32)
    logits[rng.random(frames) < 0.45, 0] += 5.0  # plenty of blank frames
    logits[rng.random(frames) < 0.1, IDS["ж"]] += 5.0  # a foreign character wins now and then
    logits[:, 1:4] -= 10.0  # <s>, </s>, [UNK] never win, as in a trained model (greedy would keep them as spans)
    return logits


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("language", [None, "en"])
def test_beam_size_one_without_lm_is_greedy_exactly(seed: int, language: str | None) -> None:
    logits = random_logits(seed)
    allowed = None if language is None else ENGLISH
    greedy = greedy_decode(logits, VOCAB, allowed)
    beamed = DecoderCache().decoder(language_target(MODEL, language), beam(beam_size=1, pause_seconds=0.1, max_stretch_seconds=1.0)).decode_logits(logits)
    assert beamed.text == greedy.text and len(greedy.text) > 40
    assert beamed.spans == greedy.spans
    np.testing.assert_array_equal(beamed.frames.tokens, greedy.frames.tokens)
    np.testing.assert_array_equal(beamed.frames.probs, greedy.frames.probs)


def test_the_filter_is_the_cards_restriction() -> None:
    logits = random_logits(9)
    language_filter = LanguageFilter.for_language(VOCAB, np.asarray(ENGLISH))
    reducer = TopTokensReducer(4, 0, language_filter.columns)
    reducer.add(0, logits)
    dense = language_filter.dense(reducer.finish(len(logits)), 0, len(logits))
    np.testing.assert_array_equal(language_filter.columns[dense.argmax(axis=1)], frame_tokens(logits, 0, ENGLISH))


@pytest.mark.parametrize("seed", range(3))
def test_restricted_decoding_never_emits_characters_outside_the_language(seed: int, arpa: Path) -> None:
    logits = random_logits(seed)
    assert "ж" in greedy_decode(logits, VOCAB).text  # unrestricted, the foreign character is read
    for options in (beam(), beam(lm=str(arpa)), beam(hotwords=parse_hotwords("жщ,cat"))):
        text = DecoderCache().decoder(language_target(MODEL, "en"), options).decode_logits(logits).text
        assert text and set(text) <= set("abcdefghijklmnopqrstuvwxyz ")


def test_a_hotword_the_language_cannot_spell_is_reported() -> None:
    decoder = DecoderCache().decoder(language_target(MODEL, "en"), beam(hotwords=parse_hotwords("жук,cat:4")))
    assert any("жук" in w for w in decoder.warnings)
    assert any("one weight" in w and "10" in w for w in decoder.warnings)  # 4 and the default 10: the largest applies


def test_stretches_cut_in_pauses_and_respect_the_limit() -> None:
    speech = np.array([0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0], bool)
    # pause of 4 frames at 3..7 -> cut at 5; the second stretch (5..19) exceeds 8 frames: cut in its
    # longest pause within the limit (frame 15 -> cut 15)
    assert stretches(speech, pause_frames=3, max_frames=8) == [(0, 5), (5, 13), (13, 19)] or \
        stretches(speech, pause_frames=3, max_frames=8)[0] == (0, 5)
    parts = stretches(speech, pause_frames=3, max_frames=8)
    assert all(b - a <= 8 for a, b in parts) and parts[0] == (0, 5) and parts[-1][1] == len(speech)
    assert stretches(np.zeros(10, bool), 3, 8) == []


def test_parse_hotwords() -> None:
    assert parse_hotwords("Müller, Zwickau:8,\n New York :2.5") == (
        polyasr.decoding.Hotword("müller"), polyasr.decoding.Hotword("zwickau", 8.0), polyasr.decoding.Hotword("new york", 2.5))
    assert parse_hotwords(None) == ()
    with pytest.raises(OptionsError, match="weight"):
        parse_hotwords("x:heavy")
    with pytest.raises(OptionsError, match="unknown decoder"):
        DecoderOptions("viterbi")
    with pytest.raises(OptionsError, match="beam_size"):
        BeamOptions(beam_size=0)


def test_language_model_folder_of_a_checkpoint_is_read(tmp_path: Path, arpa: Path) -> None:
    folder = tmp_path / "checkpoint" / "language_model"
    folder.mkdir(parents=True)
    shutil.copy(arpa, folder / "5gram.arpa")
    (folder / "unigrams.txt").write_text("the\ncat\nsat\ncot\n", encoding="utf-8")
    (folder / "attrs.json").write_text(json.dumps({"alpha": 0.7, "beta": 2.0, "unk_score_offset": -8.0, "score_boundary": True}))
    found = checkpoint_language_model(str(tmp_path / "checkpoint"))
    assert found is not None and found.path.name == "5gram.arpa"
    assert (found.alpha, found.beta, found.unk_score_offset) == (0.7, 2.0, -8.0)
    assert found.unigrams == ("the", "cat", "sat", "cot")
    assert read_language_model(tmp_path / "checkpoint") == found  # --lm may name the checkpoint or the folder
    assert checkpoint_language_model(str(tmp_path)) is None
    # a model whose folder ships one is decoded with it without options
    model = types.SimpleNamespace(**{**vars(MODEL), "name": str(tmp_path / "checkpoint")})
    assert DecoderCache().decoder(language_target(model, "en"), beam()).decode_logits(AMBIGUOUS).text == "the cat sat"
    assert DecoderCache().decoder(language_target(model, "en"), beam(checkpoint_lm=False)).decode_logits(AMBIGUOUS).text == "the cot sat"


def test_arpa_unigrams_are_read_from_the_file(arpa: Path) -> None:
    assert read_language_model(arpa).unigrams == ("the", "cat", "sat", "cot")
    with pytest.raises(polyasr.decoding.LanguageModelError, match="no such"):
        read_language_model(arpa.parent / "missing.arpa")


def test_recognizer_beam_size_one_gives_the_greedy_transcription(recognizer) -> None:
    rng = np.random.default_rng(3)
    audio = (0.2 * rng.standard_normal(16_000 * 3)).astype(np.float32)
    for language in ("auto", "en", "detect"):
        greedy = recognizer.transcribe(audio, language=language, word_timestamps=True, sampling_rate=16_000)
        beamed = recognizer.transcribe(audio, language=language, word_timestamps=True, sampling_rate=16_000,
                                       options=TranscribeOptions(decoder=beam(beam_size=1)))
        assert greedy.text and beamed == greedy


def test_recognizer_beam_with_lm_and_hotwords_keeps_words_and_segments(recognizer, arpa: Path) -> None:
    rng = np.random.default_rng(4)
    audio = (0.2 * rng.standard_normal(16_000 * 4)).astype(np.float32)
    options = TranscribeOptions(decoder=beam(lm=str(arpa), hotwords=parse_hotwords("cat")))
    result = recognizer.transcribe(audio, language="en", word_timestamps=True, sampling_rate=16_000, options=options)
    assert result.text == " ".join(w.word for w in result.words)
    assert all(0 <= w.start <= w.end <= 4.0 and 0 < w.score <= 1 for w in result.words)


def test_word_scores_under_an_lm_are_the_mean_of_the_chosen_paths_frames(arpa: Path) -> None:
    from polyasr.output.timing import build_segments

    greedy = DecoderCache().decoder(language_target(MODEL, "en"), DecoderOptions())
    with_lm = DecoderCache().decoder(language_target(MODEL, "en"), beam(lm=str(arpa)))
    hotwords = DecoderCache().decoder(language_target(MODEL, "en"), beam(hotwords=parse_hotwords("cat")))
    assert (greedy.word_score, with_lm.word_score, hotwords.word_score) == ("product", "mean", "mean")
    assert DecoderCache().decoder(language_target(MODEL, "en"), beam()).word_score == "product"  # acoustics alone
    (segment,) = build_segments(with_lm.decode_logits(AMBIGUOUS), VOCAB, 0.02, word_timestamps=True, word_score=with_lm.word_score)
    cat = segment.words[1]
    assert cat.word == "cat" and cat.score == pytest.approx(np.mean([c.score for c in cat.chars]))
    assert [c.score for c in cat.chars][1] == pytest.approx(np.exp(AMBIGUOUS[11, IDS["a"]]))  # the LM's "a": 0.42 acoustically
    (plain,) = build_segments(greedy.decode_logits(AMBIGUOUS), VOCAB, 0.02, word_timestamps=True)
    cot = plain.words[1]
    assert cot.word == "cot" and cot.score == pytest.approx(np.prod([c.score for c in cot.chars]))
    scores = np.array([w.score for w in segment.words])
    assert segment.score == pytest.approx(scores.mean(), abs=1e-4)
    assert segment.avg_logprob == pytest.approx(np.log(scores).mean(), abs=1e-4)
    assert segment.no_speech_prob == pytest.approx(np.prod(1 - scores), abs=1e-4)


def test_recognizer_beam_with_lm_and_hotwords_scores_every_word_and_segment(recognizer, arpa: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    audio = (0.2 * rng.standard_normal(16_000 * 4)).astype(np.float32)
    options = TranscribeOptions(decoder=beam(lm=str(arpa), hotwords=parse_hotwords("cat")))
    result = recognizer.transcribe(audio, language="en", word_timestamps=True, sampling_rate=16_000, options=options)
    assert result.words and all(0 <= w.score <= 1 for w in result.words)
    for segment in result.segments:
        assert 0 <= segment.score <= 1 and 0 <= segment.no_speech_prob <= 1 and segment.avg_logprob <= 0
        assert segment.score == pytest.approx(np.mean([w.score for w in segment.words]), abs=1e-4)
    from polyasr.output.writers import get_writer

    written = json.loads(get_writer("json").format(result))
    assert all({"score", "avg_logprob", "no_speech_prob"} <= set(s) for s in written["segments"])
    assert all(0 <= w["score"] <= 1 for s in written["segments"] for w in s["words"])
