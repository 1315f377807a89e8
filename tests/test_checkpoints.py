"""Checkpoint layouts users have: each loads and agrees with transformers, or fails with one sentence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from transformers import Wav2Vec2CTCTokenizer

import polyasr
from polyasr.cli.main import main
from polyasr.errors import HubUnreachableError, ModelLoadError
from polyasr.language.table import read_language_table, write_language_table_json
from polyasr.model.ctc_model import load_language_table
from tiny_model import LAYOUTS, build_tiny_model, language_ids, layout_vocab, transformers_reference

SR = 16_000


def noise(seed: int = 1, seconds: float = 3.0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layouts")
    return {name: build_tiny_model(root / name, layout=name) for name in LAYOUTS if name != "polyasr"}


def test_xlsr_recipe_layout_loads_and_ignores_the_appended_special_tokens(layouts: dict[str, Path]) -> None:
    folder = layouts["xlsr-recipe"]
    tokenizer = Wav2Vec2CTCTokenizer.from_pretrained(folder)
    head = len(layout_vocab("xlsr-recipe"))  # 82 classes: characters, "|", [UNK], [PAD]
    assert len(tokenizer) == head + 2  # <s> and </s> appended beyond the head: what was refused before
    rec = polyasr.load(str(folder), device="cpu", dtype="fp32")
    vocabulary = rec.model.vocabulary
    assert len(vocabulary) == head and "<s>" not in vocabulary.tokens and "</s>" not in vocabulary.tokens
    assert vocabulary.blank_id == head - 1 and vocabulary.tokens[vocabulary.blank_id] == "[PAD]"
    x = noise()
    logits, text = transformers_reference(folder, x)
    (ours,) = rec.model.logits([x])
    np.testing.assert_allclose(ours, logits, atol=1e-4)
    assert rec.transcribe(x, sampling_rate=SR).text == text and text
    restricted = rec.transcribe(x, language="ru", sampling_rate=SR).text
    assert restricted and set(restricted) <= set(layout_vocab("xlsr-recipe")[i] for i in language_ids("xlsr-recipe")["ru"]) | {" "}


def test_onnx_export_of_the_recipe_layout(layouts: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from polyasr.model.export import ExportOptions, export_onnx

    original = polyasr.load(str(layouts["xlsr-recipe"]), device="cpu", dtype="fp32")
    exported = polyasr.load(str(export_onnx(str(layouts["xlsr-recipe"]), tmp_path / "onnx", ExportOptions(optimize=False))))
    assert exported.model.vocabulary == original.model.vocabulary and len(exported.model.vocabulary) == 82
    x = noise(3)
    assert exported.transcribe(x, sampling_rate=SR).text == original.transcribe(x, sampling_rate=SR).text


def test_real_characters_beyond_the_head_are_named(layouts: dict[str, Path], tmp_path: Path) -> None:
    folder = Path(shutil.copytree(layouts["xlsr-recipe"], tmp_path / "extra"))
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    vocab.update({"ñ": len(vocab), "ç": len(vocab) + 1})  # two letters the 82-class head cannot emit
    for name in ("vocab.json", "tokenizer_config.json", "added_tokens.json"):
        (folder / name).unlink(missing_ok=True)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), **LAYOUTS["xlsr-recipe"][1]).save_pretrained(folder)
    with pytest.raises(ModelLoadError) as error:
        polyasr.load(str(folder), device="cpu", dtype="fp32")
    assert str(error.value) == (
        f"model '{folder}' outputs 82 classes, but vocab.json has characters with ids beyond them: "
        "'ñ' (82), 'ç' (83); the tokenizer does not belong to this model"
    )


def test_fairseq_layout_upper_case_and_alignment_of_lower_case_text(layouts: dict[str, Path]) -> None:
    folder = layouts["fairseq"]
    rec = polyasr.load(str(folder), device="cpu", dtype="fp32")
    assert rec.model.vocabulary.tokens[:5] == ("<pad>", "<s>", "</s>", "<unk>", "|")
    x = noise(2)
    _, text = transformers_reference(folder, x)
    ours = rec.transcribe(x, sampling_rate=SR).text
    assert ours == text and any(c.isupper() for c in ours)
    german = rec.transcribe(x, language="de", sampling_rate=SR).text
    assert german and set(german.replace(" ", "")) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ'ÄÖÜß")
    aligned = rec.align(x, "hallo welt", sampling_rate=SR)
    assert [w.word for w in aligned.segments[0].words] == ["hallo", "welt"] and not aligned.warnings
    assert "".join(c.char for c in aligned.segments[0].words[0].chars) == "HALLO"


def test_tokenizer_config_with_another_delimiter_and_pad(layouts: dict[str, Path]) -> None:
    rec = polyasr.load(str(layouts["custom-delimiter"]), device="cpu", dtype="fp32")
    vocabulary = rec.model.vocabulary
    assert vocabulary.tokens[vocabulary.word_delimiter_id] == "_"  # transformers 5 alone would read "|"
    assert vocabulary.tokens[vocabulary.blank_id] == "<blank>" and vocabulary.blank_id == len(vocabulary) - 1
    result = rec.transcribe(noise(1), language="en", word_timestamps=True, sampling_rate=SR)  # Latin and "_"
    assert "_" not in result.text and " " in result.text  # the delimiter is printed as a space
    words = [w for s in result.segments for w in s.words]
    assert [w.word for w in words] == result.text.split() and all(0 <= w.start <= w.end <= 3.0 for w in words)


def test_lang_ids_json_alone_and_preferred_to_the_pickle(tiny_model_dir: Path, tmp_path: Path) -> None:
    only_json = Path(shutil.copytree(tiny_model_dir, tmp_path / "json"))
    table = read_language_table(only_json / "lang_ids.pk")
    write_language_table_json(table, only_json / "lang_ids.json")
    (only_json / "lang_ids.pk").unlink()
    assert polyasr.load(str(only_json), device="cpu", dtype="fp32").languages() == ["de", "en", "ja", "ru"]
    both = Path(shutil.copytree(tiny_model_dir, tmp_path / "both"))
    (both / "lang_ids.json").write_text(json.dumps({"en": list(table.ids["en"])}), encoding="utf-8")
    assert polyasr.load(str(both), device="cpu", dtype="fp32").languages() == ["en"]


def test_language_table_ids_beyond_the_head_are_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "bad-table"))
    (folder / "lang_ids.json").write_text(json.dumps({"en": [5, 6], "xx": [5, 500]}), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=r"lists token ids beyond the model's 84 output classes for xx$"):
        polyasr.load(str(folder), device="cpu", dtype="fp32")


@pytest.mark.parametrize(("remove", "message"), [
    (("processor_config.json", "preprocessor_config.json"),
     "has no feature extractor settings (preprocessor_config.json or processor_config.json); save the processor"),
    (("vocab.json", "tokenizer_config.json", "added_tokens.json"), "has no tokenizer (vocab.json or tokenizer.json); save the processor"),
])
def test_missing_processor_parts_are_one_sentence(tiny_model_dir: Path, tmp_path: Path, remove, message) -> None:
    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "partial"))
    for name in remove:
        (folder / name).unlink(missing_ok=True)
    with pytest.raises(ModelLoadError) as error:
        polyasr.load(str(folder))
    assert str(error.value).startswith(f"model folder '{folder}' {message}")


def test_legacy_preprocessor_config_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import Wav2Vec2FeatureExtractor

    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "legacy"))
    (folder / "processor_config.json").unlink()  # checkpoints saved before transformers 5 have preprocessor_config.json
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(folder)
    assert (folder / "preprocessor_config.json").is_file()
    rec = polyasr.load(str(folder), device="cpu", dtype="fp32")
    assert rec.model.feature_extractor.return_attention_mask and rec.model.feature_extractor.do_normalize


def test_missing_folder_says_so(tmp_path: Path, capsys) -> None:
    with pytest.raises(ModelLoadError, match=r"^model folder '\./missing' does not exist$"):
        polyasr.load("./missing")
    assert main(["transcribe", str(tmp_path / "a.wav"), "--model", str(tmp_path / "missing")]) == 1
    assert capsys.readouterr().err.strip() == f"polyasr: error: model folder '{tmp_path / 'missing'}' does not exist"
    assert main(["languages", "--model", "./missing"]) == 1
    assert capsys.readouterr().err.strip() == "polyasr: error: model folder './missing' does not exist"


@pytest.fixture
def offline_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty Hub cache and no Hub (HF_HUB_OFFLINE), whatever the machine's network."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))


def test_offline_hub_is_named_not_taken_for_a_missing_table(offline_hub, capsys) -> None:
    with pytest.raises(HubUnreachableError, match="the Hugging Face Hub cannot be reached"):
        load_language_table("someone/some-model")
    assert main(["languages", "--model", "someone/some-model"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("polyasr: error: could not load model 'someone/some-model': the Hugging Face Hub cannot be "
                          "reached and the local cache does not have lang_ids.json or lang_ids.pk; download")
    assert "no language table" not in err
    with pytest.raises(HubUnreachableError, match=r"^could not load model 'someone/some-model': the Hugging Face Hub cannot "
                                                  r"be reached and the local cache does not have its configuration; download"):
        polyasr.load("someone/some-model")
