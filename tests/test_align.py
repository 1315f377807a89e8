"""Forced alignment of a known transcript, through the public API and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from polyasr.align.text import EmissionReducer, aligned_words, tokenize_transcript
from polyasr.decoding.forced_align import forced_align
from polyasr.cli.main import main
from polyasr.decoding.ctc import Vocabulary

from audio_factory import write_audio

TOKENS = ("[PAD]", "<s>", "[UNK]", "|", "a", "b", "c", "é", "'")
VOCAB = Vocabulary(tokens=TOKENS, blank_id=0, word_delimiter_id=3, hidden_ids=frozenset({0, 1, 2}))


def test_transcript_is_mapped_to_tokens_with_delimiters_and_skips_reported() -> None:
    tokens = tokenize_transcript("  Ab, c'É  x9 —", VOCAB)
    assert tokens.words == ("Ab,", "c'É", "x9", "—")
    assert [TOKENS[t] for t in tokens.targets] == ["a", "b", "|", "c", "'", "é"]
    assert tokens.word_of_target.tolist() == [0, 0, -1, 1, 1, 1]
    assert tokens.skipped == ("x", "9")  # letters and digits without a token; punctuation is silent
    restricted = tokenize_transcript("abc é", VOCAB, allowed_ids=[4, 5, 6, 3])
    assert [TOKENS[t] for t in restricted.targets] == ["a", "b", "c"] and restricted.skipped == ("é",)


def test_known_path_comes_back_as_word_times() -> None:
    text = "AB c"
    tokens = tokenize_transcript(text, VOCAB)
    path = [0, 4, 4, 5, 0, 0, 3, 0, 0, 6, 6, 0]  # a a b _ _ | _ _ c c _ after one leading blank
    logits = np.full((len(path), len(TOKENS)), -4.0, np.float32)
    logits[np.arange(len(path)), path] = 4.0
    columns = np.unique(np.r_[0, tokens.targets])
    reducer = EmissionReducer(columns)
    reducer.add(0, logits)
    emissions = reducer.finish(len(path))
    alignment = forced_align(emissions, np.searchsorted(columns, tokens.targets), blank=0)
    words, unplaced = aligned_words(tokens, alignment, VOCAB, 0.02)
    assert unplaced == []
    assert [(w.word, w.start, w.end) for w in words] == [("AB", 0.02, 0.08), ("c", 0.18, 0.22)]
    assert [(c.char, c.start, c.end) for c in words[0].chars] == [("a", 0.02, 0.06), ("b", 0.06, 0.08)]


def test_align_api_returns_ordered_words_and_warnings(recognizer) -> None:
    x = np.random.default_rng(2).standard_normal(16_000 * 3).astype(np.float32) * 0.1
    result = recognizer.align(x, "Hello there, général Kenobi 42 ½", language="en", sampling_rate=16_000)
    assert [w.word for w in result.words] == ["Hello", "there,", "général", "Kenobi", "42", "½"]
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and all(w.end <= 3.0 for w in result.words)
    assert all(w.end > w.start for w in result.words[:5])  # 42 is aligned as one of its spoken forms
    assert "".join(c.char for c in result.words[4].chars) in ("fortytwo", "fourtwo")
    assert result.warnings == (
        "skipped characters the model has no token for: ½",
        "words with no alignable character, placed next to their neighbour: ½",
    )
    assert "é" not in "".join(c.char for w in result.words for c in w.chars)  # en has no é: aligned as e


def test_too_long_transcript_is_a_clear_error(recognizer) -> None:
    import polyasr

    x = np.zeros(1_600, np.float32)  # 0.1 s: 4 frames
    with pytest.raises(polyasr.AlignmentError, match="needs at least .* frames .* only 4"):
        recognizer.align(x, "hello world", language="en", sampling_rate=16_000)


def test_align_command_writes_json_and_srt(tiny_model_dir, tmp_path, capsys) -> None:
    audio = write_audio(tmp_path / "speech.wav", "pcm_s16le", 16_000, (0.1 * np.random.default_rng(4).standard_normal(48_000))[None])
    (tmp_path / "speech.txt").write_text("Hola mundo, ¿qué tal?\n", encoding="utf-8")
    code = main(["align", str(audio), str(tmp_path / "speech.txt"), "--model", str(tiny_model_dir), "--dtype", "fp32",
                 "--language", "de", "-f", "all", "-o", str(tmp_path / "out")])
    assert code == 0
    data = json.loads((tmp_path / "out" / "speech.json").read_text(encoding="utf-8"))
    assert [w["word"] for s in data["segments"] for w in s["words"]] == ["Hola", "mundo,", "¿qué", "tal?"]
    assert (tmp_path / "out" / "speech.srt").read_text(encoding="utf-8").startswith("1\n00:00:")
    missing = main(["align", str(audio), str(tmp_path / "nope.txt"), "--model", str(tiny_model_dir), "--dtype", "fp32"])
    assert missing == 1 and "nope.txt: cannot read the transcript" in capsys.readouterr().err


def test_align_never_replaces_its_input_subtitles(tiny_model_dir, tmp_path, monkeypatch, capsys) -> None:
    """The README's example run in the folder of the files: interview.srt would be the output's name too."""
    write_audio(tmp_path / "interview.wav", "pcm_s16le", 16_000, (0.1 * np.random.default_rng(5).standard_normal(48_000))[None])
    subtitles = "1\n00:00:00,500 --> 00:00:02,000\nhallo welt\n"
    (tmp_path / "interview.srt").write_text(subtitles, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    common = ["--model", str(tiny_model_dir), "--dtype", "fp32", "--output-format", "srt"]
    assert main(["align", "interview.wav", "interview.srt", *common]) == 1
    assert "would replace the input interview.srt" in capsys.readouterr().err
    assert (tmp_path / "interview.srt").read_text(encoding="utf-8") == subtitles
    assert main(["align", "interview.wav", "interview.srt", *common, "-o", "aligned"]) == 0
    assert (tmp_path / "aligned" / "interview.srt").read_text(encoding="utf-8").startswith("1\n00:00:")
    assert (tmp_path / "interview.srt").read_text(encoding="utf-8") == subtitles
