"""Every CTC architecture through polyasr.load: logits equal transformers' forward, and everything works on them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCTC

import polyasr
from polyasr.cli.main import main
from polyasr.errors import LanguageError, ModelLoadError
from audio_factory import write_audio
from tiny_model import ARCHITECTURES, build_tiny_model, transformers_reference

SR = 16_000
LAYER_NORM_FRONT_ENDS = {"wav2vec2", "hubert", "data2vec-audio"}  # where the time-major front end applies


def noise(seed: int = 0, seconds: float = 2.5) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny checkpoint per architecture, without a language table (as public fine-tunes ship);
    HuBERT's card declares English, as a single-language fine-tune's does."""
    root = tmp_path_factory.mktemp("architectures")
    return {
        name: build_tiny_model(root / name, architecture=name, language_table=False,
                               card_language="en" if name == "hubert" else None)
        for name in ARCHITECTURES
    }


@pytest.fixture(scope="module")
def recognizers(folders: dict[str, Path]) -> dict[str, polyasr.Recognizer]:
    return {name: polyasr.load(str(folder), device="cpu", dtype="fp32") for name, folder in folders.items()}


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_logits_text_and_frame_geometry_equal_transformers(architecture: str, folders, recognizers) -> None:
    rec, folder = recognizers[architecture], folders[architecture]
    facts = rec.model.describe()
    assert facts.architecture == type(AutoModelForCTC.from_config(rec.model.config)).__name__
    assert facts.fast_frontend == (architecture in LAYER_NORM_FRONT_ENDS)
    assert facts.attention_mask == ARCHITECTURES[architecture][2] and facts.frame_seconds == 0.02
    x = noise()
    reference, text = transformers_reference(folder, x)
    (ours,) = rec.model.logits([x])
    assert ours.shape == reference.shape == (rec.model.frames_for_samples(len(x)), 84)
    np.testing.assert_allclose(ours, reference, atol=2e-4, rtol=1e-5)  # fp32 (logits reach about 100)
    assert text and rec.transcribe(x, sampling_rate=SR).text == text
    # frame counts for odd lengths, from the config's strides (and SEW's minimum of two conv frames)
    network = rec.model.backend.network
    for n in (rec.model.min_samples, rec.model.min_samples + 1, 4_321, 16_001):
        with torch.no_grad():
            frames = network(torch.zeros(1, n)).logits.shape[1]
        assert rec.model.frames_for_samples(n) == frames, n
    assert rec.model.min_samples == (720 if architecture == "sew" else 400)
    (short,) = rec.model.logits([noise(1, 0.03)])  # shorter than the receptive field: padded up to it
    assert short.shape == (rec.model.frames_for_samples(rec.model.min_samples), 84)


@pytest.mark.parametrize("architecture", ["wav2vec2-group", "sew", "wavlm"])
def test_timestamps_and_alignment(architecture: str, recognizers) -> None:
    rec = recognizers[architecture]
    x = noise(2)
    result = rec.transcribe(x, word_timestamps=True, sampling_rate=SR)
    words = [w for s in result.segments for w in s.words]
    assert words and all(0.0 <= w.start <= w.end <= result.duration for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)
    aligned = rec.align(x, "hello big world", sampling_rate=SR)
    placed = [w for s in aligned.segments for w in s.words]
    assert [w.word for w in placed] == ["hello", "big", "world"] and not aligned.warnings
    assert placed[0].start < placed[1].start < placed[2].start <= placed[2].end <= 2.5


def test_single_language_model_reports_its_language_and_refuses_detection(recognizers, folders, capsys) -> None:
    rec = recognizers["hubert"]  # no language table; its card says "language: en"
    facts = rec.model.describe()
    assert (facts.languages, facts.language_source, facts.default_language) == (("en",), "model card", "en")
    assert not facts.can_detect and not facts.can_restrict and rec.languages() == ["en"]
    x = noise(3)
    auto = rec.transcribe(x, sampling_rate=SR)
    assert auto.language == "en"
    for name in ("en", "English", "eng"):
        same = rec.transcribe(x, language=name, sampling_rate=SR)
        assert (same.text, same.language) == (auto.text, "en")
    with pytest.raises(LanguageError) as error:
        rec.transcribe(x, language="de", sampling_rate=SR)
    assert str(error.value) == (f"model '{folders['hubert']}' transcribes only English (en, from its model card) and has "
                                "no language table to restrict decoding to 'de'; use language='auto'")
    detect = (f"model '{folders['hubert']}' has one language, English (en, from its model card), and no language "
              "table, so it cannot identify the spoken language")
    with pytest.raises(LanguageError) as error:
        rec.detect_language(x, sampling_rate=SR)
    assert str(error.value) == detect
    with pytest.raises(LanguageError, match="cannot identify the spoken language"):
        rec.transcribe(x, language="detect", sampling_rate=SR)
    segments = rec.align_segments(x, [{"start": 0.0, "end": 2.5, "text": "hello world"}], language="en", sampling_rate=SR)
    assert segments.language == "en" and [w.word for w in segments.segments[0].words] == ["hello", "world"]


def test_model_without_table_or_card_says_so(recognizers, folders) -> None:
    from polyasr.language.exemplars import has_exemplars

    rec = recognizers["wavlm"]
    facts = rec.model.describe()
    assert facts.languages == () and facts.language_source is None and facts.default_language is None
    assert facts.can_restrict == has_exemplars()  # by CLDR's letters, when ICU is installed
    assert rec.transcribe(noise(4), sampling_rate=SR).language is None
    if has_exemplars():  # the tiny vocabulary is Latin: German restricts to it
        assert rec.transcribe(noise(4), language="de", sampling_rate=SR).language == "de"
    else:
        with pytest.raises(LanguageError) as error:
            rec.transcribe(noise(4), language="de", sampling_rate=SR)
        assert str(error.value) == ("restricting a model without a language table to 'de' uses CLDR's exemplar characters, "
                                    "which need ICU: pip install 'polyasr[languages]'")
    with pytest.raises(LanguageError, match=r"has no language table .*so it cannot identify languages"):
        rec.detect_language(noise(4), sampling_rate=SR)


def test_cli_detect_and_languages_on_a_single_language_model(folders, tmp_path, capsys) -> None:
    clip = tmp_path / "clip.wav"
    write_audio(clip, "pcm_s16le", SR, noise(5)[None])
    assert main(["detect-language", str(clip), "--model", str(folders["hubert"]), "--dtype", "fp32"]) == 1
    assert "has one language, English (en, from its model card)" in capsys.readouterr().err
    assert main(["languages", "--model", str(folders["hubert"])]) == 0
    assert capsys.readouterr().out == "en\tEnglish\tdeclared by its model card; no language table\n"
    assert main(["transcribe", str(clip), "--model", str(folders["hubert"]), "--dtype", "fp32", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["language"] == "en"


def test_bf16_keeps_position_convolution_and_head_in_fp32_for_any_architecture(tmp_path) -> None:
    folder = build_tiny_model(tmp_path / "hubert", architecture="hubert", live_tokens="ab|", language_table=False)
    fp32 = polyasr.load(str(folder), device="cpu", dtype="fp32")
    bf16 = polyasr.load(str(folder), device="cpu", dtype="bf16")
    network = bf16.model.backend.network
    assert network.base_model.encoder.layers[0].attention.k_proj.weight.dtype == torch.bfloat16
    assert {p.dtype for p in network.base_model.encoder.pos_conv_embed.parameters()} == {torch.float32}
    assert network.lm_head.weight.dtype == torch.float32
    x = noise(6)
    (expected,), (got,) = fp32.model.logits([x]), bf16.model.logits([x])
    assert np.abs(got - expected).max() <= 1.0 and (got.argmax(-1) == expected.argmax(-1)).all()


def test_models_polyasr_cannot_run_are_refused_in_one_sentence(folders, tmp_path) -> None:
    from transformers import Wav2Vec2BertConfig, Wav2Vec2BertForCTC, Wav2Vec2Model

    encoder = tmp_path / "encoder-only"  # a pretrained encoder saved without a CTC head
    for name in ("vocab.json", "tokenizer_config.json", "processor_config.json"):
        encoder.mkdir(exist_ok=True)
        (encoder / name).write_bytes((folders["wav2vec2"] / name).read_bytes())
    Wav2Vec2Model(polyasr.load(str(folders["wav2vec2"])).model.config).save_pretrained(encoder)
    with pytest.raises(ModelLoadError, match=r"has no trained CTC head \(lm_head.bias, lm_head.weight missing\): it is a "
                                             r"pretrained encoder, not a checkpoint fine-tuned for speech recognition$"):
        polyasr.load(str(encoder))
    bert = tmp_path / "w2v-bert"
    for name in ("vocab.json", "tokenizer_config.json", "processor_config.json"):
        bert.mkdir(exist_ok=True)
        (bert / name).write_bytes((folders["wav2vec2"] / name).read_bytes())
    config = Wav2Vec2BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                                output_hidden_size=16, vocab_size=84)
    Wav2Vec2BertForCTC(config).save_pretrained(bert)
    with pytest.raises(ModelLoadError, match=r"is a wav2vec2-bert CTC model that takes log-mel features, but its feature "
                                             r"extractor \(Wav2Vec2FeatureExtractor\) gives input_values; save the model's own "
                                             r"processor with it$"):
        polyasr.load(str(bert))


def test_models_endpoint_lists_the_model_facts(recognizers) -> None:
    pytest.importorskip("fastapi")
    import httpx

    from live_server import live_server
    from polyasr.server import ServerOptions, create_app

    rec = recognizers["hubert"]
    with live_server(create_app(rec, ServerOptions(model_alias="tiny-hubert"))) as url:
        (card,) = httpx.get(f"{url}/v1/models", timeout=30).json()["data"]
    assert card["id"] == "tiny-hubert" and card["facts"] == json.loads(json.dumps(rec.model.describe().as_dict()))
    assert card["facts"]["architecture"] == "HubertForCTC" and card["facts"]["languages"] == ["en"]
