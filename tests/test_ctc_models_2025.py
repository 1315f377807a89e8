"""omniASR-CTC, Parakeet-CTC, LASR-CTC and w2v-BERT 2.0 through polyasr.load, as tiny random checkpoints
saved by transformers: the same logits and greedy text as transformers, long audio in windows, word
timestamps and alignment with subword vocabularies, and what each model reports about itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import polyasr
from tiny_ctc_models import FRAME_SECONDS, MODELS, SUBWORD_MODELS, build, network_frames, reference

SR = 16_000


def noise(seed: int, seconds: float) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ctc-2025")
    return {name: build(root / name, name) for name in MODELS}


@pytest.fixture(scope="module")
def recognizers(folders: dict[str, Path]) -> dict[str, polyasr.Recognizer]:
    return {name: polyasr.load(str(folder), device="cpu", dtype="fp32") for name, folder in folders.items()}


@pytest.mark.parametrize("name", MODELS)
def test_logits_and_text_equal_transformers(name: str, folders, recognizers) -> None:
    rec = recognizers[name]
    x = noise(0, 2.5)
    expected_logits, expected_text = reference(folders[name], x)
    (logits,) = rec.model.logits([x])
    assert logits.shape == expected_logits.shape == (rec.model.frames_for_samples(len(x)), len(rec.model.vocabulary))
    np.testing.assert_allclose(logits, expected_logits, atol=1e-4, rtol=1e-5)
    text = rec.transcribe(x, sampling_rate=SR).text
    assert text and text == expected_text


@pytest.mark.parametrize("name", MODELS)
def test_front_end_and_frame_geometry_from_the_config(name: str, folders, recognizers) -> None:
    facts = recognizers[name].model.describe()
    assert facts.frame_seconds == FRAME_SECONDS[name]  # Parakeet 160 x 8 = 1280 samples; LASR 160 x 4; w2v-BERT 160 x 2
    assert facts.front_end == ("raw audio" if name == "omniasr" else "log-mel")
    assert facts.vocabulary_kind == ("subwords" if name in SUBWORD_MODELS else "characters")
    assert f"frame={FRAME_SECONDS[name] * 1000:g}ms" in str(facts)
    for n in (4_321, 16_001, 40_000):  # odd lengths: the config's stages give the network's own frame count
        assert recognizers[name].model.frames_for_samples(n) == network_frames(folders[name], n), n


@pytest.mark.parametrize("name", MODELS)
def test_70_seconds_in_windows_with_times_inside_the_audio(name: str, recognizers) -> None:
    rec = recognizers[name]
    result = rec.transcribe(noise(1, 70.0), word_timestamps=True, sampling_rate=SR)
    words = [w for s in result.segments for w in s.words]
    assert result.duration == 70.0 and words and result.segments[-1].end <= 70.0
    assert all(0.0 <= w.start <= w.end <= 70.0 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words) and words[-1].end > 60.0
    assert result.text == " ".join(s.text for s in result.segments)


@pytest.mark.parametrize("name", MODELS)
def test_align_places_every_word_of_a_known_text(name: str, recognizers) -> None:
    aligned = recognizers[name].align(noise(2, 3.0), "hello big world", sampling_rate=SR)
    placed = [w for s in aligned.segments for w in s.words]
    assert [w.word for w in placed] == ["hello", "big", "world"] and not aligned.warnings
    assert placed[0].start < placed[1].start < placed[2].start <= placed[2].end <= 3.0


def test_subword_words_begin_at_word_start_pieces(recognizers) -> None:
    from polyasr.decoding.ctc import FrameChoices, decode_frames
    from polyasr.output.timing import words_from_spans

    vocabulary = recognizers["parakeet"].model.vocabulary
    ids = {t: i for i, t in enumerate(vocabulary.tokens)}
    blank = vocabulary.blank_id
    frames = [ids["▁hello"], blank, ids["▁w"], ids["or"] if "or" in ids else ids["o"], ids["l"], ids["d"], blank, ids["▁the"]]
    decoded = decode_frames(FrameChoices(np.asarray(frames), np.ones(len(frames), np.float32)), vocabulary)
    words = words_from_spans(decoded, vocabulary, 0.08)
    assert decoded.text == " ".join(w.word for w in words)
    assert [(w.word, w.start, w.end) for w in words] == [("hello", 0.0, 0.08), (decoded.text.split()[1], 0.16, 0.48), ("the", 0.56, 0.64)]


def test_language_restricts_a_model_without_a_table_to_cldr_letters(recognizers) -> None:
    pytest.importorskip("icu")
    import unicodedata

    rec = recognizers["omniasr"]
    assert rec.model.describe().can_restrict and not rec.model.describe().can_detect
    x = noise(3, 10.0)
    scripts = {}
    for language in ("ru", "de"):
        result = rec.transcribe(x, language=language, sampling_rate=SR)
        assert result.language == language and result.text
        scripts[language] = {unicodedata.name(c).split()[0] for c in result.text.replace(" ", "")}
    assert scripts == {"ru": {"CYRILLIC"}, "de": {"LATIN"}}
    assert rec.transcribe(x, language="Russian", sampling_rate=SR).text == rec.transcribe(x, language="ru", sampling_rate=SR).text
    with pytest.raises(polyasr.LanguageError, match="CLDR has no exemplar characters for 'xx'"):
        rec.transcribe(x, language="xx", sampling_rate=SR)
    with pytest.raises(polyasr.LanguageError, match="has no token written in the letters of Russian"):
        recognizers["w2v-bert"].transcribe(x, language="ru", sampling_rate=SR)  # a Latin-only character vocabulary


def test_capabilities_the_new_models_refuse_say_so_in_one_sentence(folders, tmp_path) -> None:
    from polyasr.errors import ModelLoadError
    from polyasr.training.base_model import inspect_base

    with pytest.raises(ModelLoadError, match=r"is a parakeet_ctc model; polyasr trains the raw-audio wav2vec2 family"):
        inspect_base(str(folders["parakeet"]))
    pytest.importorskip("onnxruntime")
    from polyasr.errors import OptionsError
    from polyasr.model.export import export_onnx

    with pytest.raises(OptionsError, match=r"is a omniasr_ctc model, which polyasr runs with PyTorch only"):
        export_onnx(str(folders["omniasr"]), tmp_path / "onnx")
