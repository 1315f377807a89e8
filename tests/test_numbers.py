"""Numbers that align: written numbers as spoken in the transcript's language (language/numbers.py), aligned
as one of their spoken forms (the best-scoring) so that "1984", "25" and "3,5" get their own time, and the
same verbalisation for `train` and `evaluate` (--verbalize-numbers)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import polyasr
from polyasr.align.segments import SegmentAlignOptions, SpanEmissions, align_groups, group_segments, prepare_group
from polyasr.align.transcripts import TranscriptSegment
from polyasr.cli.main import main
from polyasr.decoding.ctc import Vocabulary
from polyasr.language.numbers import NUMBER_FALLBACKS, number_language, number_readings, verbalize_text

from speech import build_speech_detecting_model, conversation

pytest.importorskip("num2words")


@pytest.mark.parametrize("token, language, first", [
    ("1984", "en", "nineteen eighty-four"), ("1984", "de", "neunzehnhundertvierundachtzig"),
    ("25", "de", "fünfundzwanzig"), ("3,5", "de", "drei Komma fünf"), ("3.5", "en", "three point five"),
    ("25%", "de", "fünfundzwanzig Prozent"), ("$5", "en", "five dollars"), ("5€", "de", "fünf Euro"),
    ("$12.50", "en", "twelve dollars fifty cents"), ("1st", "en", "first"), ("1er", "fr", "premier"),
    ("1.000", "de", "eintausend"), ("1,000,000", "en", "one million"), ("(2024),", "en", "twenty twenty-four"),
    ("25", "tt", "двадцать пять"),  # Tatar falls back to Russian
])
def test_a_token_is_read_in_its_language(token: str, language: str, first: str) -> None:
    assert number_readings(token, language)[0] == first


def test_other_readings_and_tokens_without_a_reading() -> None:
    assert number_readings("1984", "de") == (
        "neunzehnhundertvierundachtzig", "eintausendneunhundertvierundachtzig", "eins neun acht vier")
    assert number_readings("3.", "de") == ("drei", "dritte")  # a German ordinal, or a number ending a sentence
    assert number_readings("10:30", "en") == number_readings("abc", "en") == number_readings("1.2.3", "de") == ()
    assert number_readings("25", "et") == number_readings("25", None) == ()  # no number words for Estonian
    assert number_language("sv-SE") == "sv" and number_language("et") is None
    assert all(number_language(code) == target for code, target in NUMBER_FALLBACKS.items())


def test_verbalize_text_keeps_punctuation_and_other_words() -> None:
    assert verbalize_text("Im Jahr 1984 waren es 25 Leute, 3,5 Prozent.", "de") == (
        "Im Jahr neunzehnhundertvierundachtzig waren es fünfundzwanzig Leute, drei Komma fünf Prozent.")
    assert verbalize_text("In 1984, 25% paid $5.", "en") == "In nineteen eighty-four, twenty-five percent paid five dollars."
    assert verbalize_text("25 Leute", None) == "25 Leute"


LETTERS = "abcdefghijklmnopqrstuvwxyz"
TOKENS = ("[PAD]", "|", *LETTERS)
VOCAB = Vocabulary(tokens=TOKENS, blank_id=0, word_delimiter_id=1, hidden_ids=frozenset({0}))


def _saying(words: list[str], lead: int = 5) -> np.ndarray:
    """Log-probs of frames that spell `words` (two frames a letter, a delimiter between words, blanks around)."""
    letters = "|".join(words)
    frames = lead * 2 + 2 * len(letters)
    probs = np.full((frames, len(TOKENS)), 0.05 / (len(TOKENS) - 1))
    probs[:, 0] = 0.95
    for i, letter in enumerate(letters):
        for f in (lead + 2 * i, lead + 2 * i + 1):
            probs[f] = 0.05 / (len(TOKENS) - 1)
            probs[f, TOKENS.index(letter)] = 0.95
    return np.log(probs).astype(np.float32)


@pytest.mark.parametrize("said, letters", [
    (["in", "nineteen", "eightyfour", "and", "twentyfive"], ("nineteeneightyfour", "twentyfive")),
    (["in", "one", "nine", "eight", "four", "and", "two", "five"], ("onenineeightfour", "twofive")),
    (["in", "one", "thousand", "nine", "hundred", "and", "eightyfour", "and", "twentyfive"],
     ("onethousandninehundredandeightyfour", "twentyfive")),
])
def test_each_number_is_aligned_as_the_reading_that_was_said(said: list[str], letters: tuple[str, str]) -> None:
    log_probs = _saying(said)
    segments = [TranscriptSegment("In 1984 and 25", None, None)]
    groups = [prepare_group(g, span, VOCAB, "en", None, numbers=True) for g, span in group_segments(segments)]
    aligned, warnings = align_groups(groups, SpanEmissions((0,), (log_probs,), len(log_probs)), lambda spans: None,
                                     np.arange(len(TOKENS)), VOCAB, 0.02, SegmentAlignOptions())
    words = aligned[0].words
    assert [w.word for w in words] == ["In", "1984", "and", "25"] and warnings == []
    assert ("".join(c.char for c in words[1].chars), "".join(c.char for c in words[3].chars)) == letters
    assert words[1].start < words[1].end <= words[2].start < words[3].start < words[3].end


def test_without_numbers_a_number_has_no_time_of_its_own() -> None:
    groups = [prepare_group(g, s, VOCAB, "en", None, numbers=False) for g, s in group_segments([TranscriptSegment("In 25", None, None)])]
    log_probs = _saying(["in", "twentyfive"])
    aligned, warnings = align_groups(groups, SpanEmissions((0,), (log_probs,), len(log_probs)), lambda spans: None,
                                     np.arange(len(TOKENS)), VOCAB, 0.02, SegmentAlignOptions())
    number = aligned[0].words[1]
    assert number.start == number.end and "placed next to their neighbour: 25" in warnings[1]


@pytest.fixture(scope="module")
def speech_recognizer(espeak: str, tmp_path_factory: pytest.TempPathFactory):
    return polyasr.load(str(build_speech_detecting_model(tmp_path_factory.mktemp("speech-model"), espeak)),
                        device="cpu", dtype="fp32")


@pytest.mark.parametrize("voice, text, numbers", [
    ("en", "In 1984 there were 25 people.", ["1984", "25"]),
    ("de", "Es waren 3,5 Prozent von 25 Leuten im Jahr 1984.", ["3,5", "25", "1984."]),
])
def test_numbers_in_speech_get_their_own_span(speech_recognizer, espeak: str, voice: str, text: str, numbers: list[str]) -> None:
    audio, turns = conversation(espeak, [(voice, text)], pause=1.0, lead=1.0)
    result = speech_recognizer.align(audio, text, language=voice, sampling_rate=16_000)
    assert result.warnings == ()
    found = {w.word: w for w in result.words}
    for number in numbers:
        word = found[number]
        assert turns[0].start - 0.25 <= word.start < word.end <= min(turns[0].end + 0.25, result.duration), word
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)


def test_evaluate_scores_against_references_with_numbers_in_words(tiny_model_dir, tmp_path, capsys) -> None:
    pytest.importorskip("jiwer")
    from audio_factory import write_audio

    wav = write_audio(tmp_path / "a.wav", "pcm_s16le", 16_000, np.zeros((1, 16_000)))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio": str(wav), "text": "Es waren 25.", "language": "de"}) + "\n")
    assert main(["evaluate", "--model", str(tiny_model_dir), "--manifest", str(manifest), "--verbalize-numbers",
                 "--output-dir", str(tmp_path / "out"), "--device", "cpu"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "hypotheses.jsonl").read_text().splitlines()]
    assert [r.get("reference") for r in rows if "reference" in r] == ["Es waren fünfundzwanzig."]
