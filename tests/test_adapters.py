"""MMS-style language adapters: a language selects its adapter and vocabulary, one adapter per forward pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import polyasr
from audio_factory import write_audio
from polyasr.cli.main import main
from polyasr.errors import LanguageError, OptionsError
from tiny_model import adapter_vocab, build_tiny_adapter_model, transformers_reference

SR = 16_000


def noise(seed: int = 0, seconds: float = 2.5) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_adapter_model(tmp_path_factory.mktemp("mms"))


@pytest.fixture(scope="module")
def rec(folder: Path) -> polyasr.Recognizer:
    return polyasr.load(str(folder), device="cpu", dtype="fp32")


def test_facts_and_codes(rec: polyasr.Recognizer, folder: Path) -> None:
    facts = rec.model.describe()
    assert facts.adapters and facts.languages == ("eng", "fra") and facts.language_source == "adapters"
    assert facts.default_language == "eng" and not facts.can_detect and not facts.can_restrict
    assert rec.languages() == ["eng", "fra"]
    assert [rec.resolve_language(x) for x in ("fra", "fr", "French", "FRA", "eng", "en")] == ["fra"] * 4 + ["eng"] * 2
    with pytest.raises(LanguageError, match=r"^unknown language 'de' for this model; it has 2 languages: eng, fra"):
        rec.resolve_language("de")


@pytest.mark.parametrize("language", ["eng", "fra"])
def test_each_adapter_equals_transformers_with_that_target_lang(rec: polyasr.Recognizer, folder: Path, language) -> None:
    x = noise(1)
    reference, text = transformers_reference(folder, x, target_lang=language)
    result = rec.transcribe(x, language=language, sampling_rate=SR)
    assert result.language == language and result.text == text and text
    (ours,) = rec.model.with_adapter(language).logits([x])
    assert ours.shape == reference.shape == (rec.model.frames_for_samples(len(x)), len(adapter_vocab(language)))
    np.testing.assert_allclose(ours, reference, atol=2e-4, rtol=1e-5)


def test_switching_language_switches_adapter_not_the_base(folder: Path) -> None:
    rec = polyasr.load(str(folder), device="cpu", dtype="fp32")
    backend = rec.model.backend
    network, base = backend.network, backend.network.base_model.encoder.layers[0].attention.k_proj.weight
    loads: list[str] = []
    original = network.load_adapter
    network.load_adapter = lambda code, **kw: (loads.append(code), original(code, **kw))[1]
    try:
        x = noise(2)
        english = rec.transcribe(x, language="en", word_timestamps=True, sampling_rate=SR)
        french = rec.transcribe(x, language="fr", word_timestamps=True, sampling_rate=SR)
        again = rec.transcribe(x, language="eng", word_timestamps=True, sampling_rate=SR)
        rec.transcribe(x, language="eng", sampling_rate=SR)  # already loaded: no reload
    finally:
        del network.load_adapter
    assert loads == ["eng", "fra", "eng"]
    assert backend.network is network and network.base_model.encoder.layers[0].attention.k_proj.weight is base
    assert english.text != french.text and again.text == english.text
    assert set(french.text) - set(adapter_vocab("eng")) - {" "}, "French output should use French-only letters"
    assert set(english.text) <= set(adapter_vocab("eng")) | {" "}
    words = [w for s in french.segments for w in s.words]
    assert words and [w.word for w in words] == french.text.split() and all(0 <= w.start <= w.end <= 2.5 for w in words)


def test_interleaved_languages_never_share_a_forward_pass(rec: polyasr.Recognizer) -> None:
    clips = [noise(seed, 6.0) for seed in range(3)]
    alone = {lang: [r.text for r in rec.transcribe_batch(clips, language=lang, sampling_rate=SR)] for lang in ("eng", "fra")}
    backend = rec.model.backend
    widths: list[tuple[str, int]] = []
    forward = backend.forward
    backend.forward = lambda values, mask: (out := forward(values, mask), widths.append((backend.adapter, out.shape[-1])))[0]
    try:
        from polyasr.engine.inference import BatchOptions

        small = polyasr.Recognizer(rec.model, BatchOptions(batch_seconds=4.0, max_batch_size=1, lookahead_batches=1))
        english = small.transcribe_iter(clips, language="eng", sampling_rate=SR)
        french = small.transcribe_iter(clips, language="fra", sampling_rate=SR)
        mixed = {"eng": [], "fra": []}
        for e, f in zip(english, french):  # the two generators' forward passes alternate
            mixed["eng"].append(e.result.text)
            mixed["fra"].append(f.result.text)
    finally:
        del backend.forward
    assert mixed == alone
    order = [adapter for adapter, _ in widths]
    assert sum(a != b for a, b in zip(order, order[1:])) >= 3  # the adapters really alternated
    assert all(width == len(adapter_vocab(adapter)) for adapter, width in widths)


def test_alignment_with_an_adapter_language(rec: polyasr.Recognizer) -> None:
    aligned = rec.align(noise(3), "ça été très", language="fr", sampling_rate=SR)
    words = [w for s in aligned.segments for w in s.words]
    assert aligned.language == "fra" and [w.word for w in words] == ["ça", "été", "très"] and not aligned.warnings
    assert "".join(c.char for c in words[0].chars) == "ça"
    english = rec.align(noise(3), "ça été", language="en", sampling_rate=SR)  # the English adapter has no accents
    first = english.segments[0].words[0]
    assert english.language == "eng" and "".join(c.char for c in first.chars) == "ca" and first.word == "ça"


def test_segment_alignment_uses_the_segments_adapter(rec: polyasr.Recognizer) -> None:
    from polyasr.errors import AlignmentError

    segments = [{"start": 0.0, "end": 1.2, "text": "ça été"}, {"start": 1.2, "end": 2.5, "text": "très"}]
    aligned = rec.align_segments(noise(3), segments, language="fr", sampling_rate=SR)
    assert aligned.language == "fra"
    chars = "".join(c.char for s in aligned.segments for w in s.words for c in w.chars)
    assert chars == "çaététrès"  # French letters: the French adapter's vocabulary, not the default English one
    mixed = [{**segments[0], "language": "fr"}, {**segments[1], "language": "en"}]
    with pytest.raises(AlignmentError, match=r"several languages \(eng, fra\); a model with language adapters aligns"):
        rec.align_segments(noise(3), mixed, sampling_rate=SR)


def test_detection_is_refused_and_auto_uses_the_default(rec: polyasr.Recognizer, folder: Path) -> None:
    with pytest.raises(LanguageError) as error:
        rec.detect_language(noise(4), sampling_rate=SR)
    assert str(error.value) == (f"model '{folder}' has per-language adapters and no language table, so it cannot identify "
                                "the spoken language; name the language instead (one of its 2 adapters)")
    x = noise(4)
    auto = rec.transcribe(x, sampling_rate=SR)
    assert auto.language == "eng" and auto.text == rec.transcribe(x, language="eng", sampling_rate=SR).text


@pytest.mark.parametrize("dtype", ["bf16", "int8"])  # int8: adapters stay as they are, load_adapter loads them by name
def test_reduced_precision_keeps_a_replaced_head_in_fp32(folder: Path, rec: polyasr.Recognizer, dtype: str) -> None:
    bf16 = polyasr.load(str(folder), device="cpu", dtype=dtype)
    x = noise(5)
    for language in ("fra", "eng", "fra"):  # the head is replaced on each switch (47 and 32 classes)
        (got,) = bf16.model.with_adapter(language).logits([x])
        (expected,) = rec.model.with_adapter(language).logits([x])
        assert bf16.model.backend.network.lm_head.weight.dtype == torch.float32
        # bf16 (and int8) rounding, a few % of the logits' range (it varies with the padded length)
        assert got.shape == expected.shape and np.abs(got - expected).max() < 0.05 * np.abs(expected).max()


def test_server_batches_one_language_per_forward_pass(rec: polyasr.Recognizer) -> None:
    pytest.importorskip("fastapi")
    from polyasr.language.choice import LanguageChoice
    from polyasr.server.batcher import Batcher, BatcherOptions

    clips = [noise(seed) for seed in range(4)]
    expected = [rec.transcribe(c, language=lang, sampling_rate=SR).text for c, lang in zip(clips, ["eng", "fra"] * 2)]
    batcher = Batcher(rec, BatcherOptions(max_batch=8, batch_wait_ms=200))
    try:
        futures = [batcher.submit_transcription(c, LanguageChoice.parse(lang)) for c, lang in zip(clips, ["eng", "fra"] * 2)]
        assert [f.result(timeout=60).text for f in futures] == expected
    finally:
        batcher.stop()


def test_cli_and_export(folder: Path, tmp_path: Path, capsys) -> None:
    clip = tmp_path / "clip.wav"
    write_audio(clip, "pcm_s16le", SR, noise(6)[None])
    assert main(["transcribe", str(clip), "--model", str(folder), "--dtype", "fp32", "--language", "fr", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["language"] == "fra"
    assert main(["languages", "--model", str(folder)]) == 0
    assert capsys.readouterr().out == "eng\tEnglish\tadapter, 32 tokens\nfra\tFrench\tadapter, 47 tokens\n"
    pytest.importorskip("onnxruntime")
    from polyasr.model.export import export_onnx

    with pytest.raises(OptionsError, match="has per-language adapters, which the ONNX export cannot switch"):
        export_onnx(str(folder), tmp_path / "onnx")


def test_beam_search_decodes_each_adapter_with_its_own_characters(rec: polyasr.Recognizer) -> None:
    pytest.importorskip("ctc_beam_decoder")
    from polyasr.decoding import BeamOptions, DecoderOptions
    from polyasr import TranscribeOptions

    x = noise(7)
    beam1 = TranscribeOptions(decoder=DecoderOptions("beam", BeamOptions(beam_size=1)))
    for language in ("eng", "fra", "eng"):  # one Recognizer: a search loaded for one adapter must not serve the other
        greedy = rec.transcribe(x, language=language, sampling_rate=SR)
        beamed = rec.transcribe(x, language=language, sampling_rate=SR, options=beam1)
        assert beamed.language == language and beamed.text == greedy.text
