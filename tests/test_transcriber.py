"""The Recognizer on the tiny model: batching parity, language restriction, errors, model loading."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import polyasr
from polyasr.model.buckets import plan_batches
from tiny_model import CYRILLIC, VOCAB, language_ids

SR = 16_000


def signals() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    lengths = [0.5, 3.0, 1.3, 2.2, 0.02]  # the last is shorter than the model's receptive field
    return [(0.2 * rng.standard_normal(int(s * SR))).astype(np.float32) for s in lengths]


def test_batch_gives_each_input_the_result_it_gets_alone(recognizer) -> None:
    inputs = signals()
    alone = [recognizer.transcribe(x, sampling_rate=SR) for x in inputs]
    batched = recognizer.transcribe_batch(inputs, sampling_rate=SR)
    assert [r.text for r in batched] == [r.text for r in alone]
    assert all(r.text for r in alone[:4])  # the tiny model emits characters: the comparison is not vacuous
    assert [r.duration for r in batched] == pytest.approx([0.5, 3.0, 1.3, 2.2, 0.02])


def test_batched_logits_match_single_pass_logits(recognizer) -> None:
    inputs = signals()[:4]
    batched = recognizer.model.logits(inputs)
    for x, logits in zip(inputs, batched):
        (single,) = recognizer.model.logits([x])
        assert logits.shape == single.shape == (recognizer.model.frames_for_samples(len(x)), len(VOCAB))
        np.testing.assert_allclose(logits, single, atol=2e-4)


def test_frame_geometry_is_derived_from_the_config(recognizer) -> None:
    model = recognizer.model
    assert model.samples_per_frame == 320 and model.frame_seconds == 0.02 and model.min_samples == 400
    lengths = torch.tensor([400, 16_000, 48_123])
    from transformers import Wav2Vec2ForCTC

    expected = Wav2Vec2ForCTC(model.config)._get_feat_extract_output_lengths(lengths).tolist()  # transformers own count
    assert [model.frames_for_samples(int(n)) for n in lengths] == expected == [1, 49, 150]


def test_language_restriction_emits_only_that_languages_characters(recognizer) -> None:
    x = signals()[1]
    unrestricted = recognizer.transcribe(x, sampling_rate=SR)
    russian = recognizer.transcribe(x, language="RU", sampling_rate=SR)
    assert russian.language == "ru" and russian.language_probability is None
    assert russian.text and set(russian.text) <= set(CYRILLIC) | {" "}
    assert set(unrestricted.text) - set(CYRILLIC)  # the restriction changed something


def test_language_errors_list_the_valid_codes(recognizer) -> None:
    with pytest.raises(polyasr.LanguageError, match="unknown language 'xx'.*de, en, ja"):
        recognizer.transcribe(signals()[0], language="xx", sampling_rate=SR)
    with pytest.raises(polyasr.LanguageError, match="'rw'.*de, en, ja, ru"):
        recognizer.transcribe(signals()[0], language="rw", sampling_rate=SR)
    assert recognizer.languages() == sorted(code for code, ids in language_ids().items() if ids)


def test_iter_reports_a_bad_input_and_transcribes_the_others(recognizer, tmp_path: Path) -> None:
    bad = tmp_path / "missing.wav"
    outcomes = list(recognizer.transcribe_iter([signals()[0], str(bad), signals()[2]], sampling_rate=SR))
    assert [o.error is None for o in outcomes] == [True, False, True]
    assert isinstance(outcomes[1].error, polyasr.AudioNotFoundError) and "missing.wav" in str(outcomes[1].error)
    with pytest.raises(polyasr.AudioNotFoundError):
        recognizer.transcribe_batch([signals()[0], str(bad)], sampling_rate=SR)


def test_plan_batches_groups_by_length_within_the_budget() -> None:
    lengths = [10, 100, 50, 95, 12, 300]
    # sorted: 300, 100, 95, 50, 12, 10; budget 200 samples of padded input per batch
    assert plan_batches(lengths, max_batch_samples=200, min_fill=0.0) == [[5], [1, 3], [2, 4, 0]]
    assert plan_batches(lengths, max_batch_samples=10_000, max_batch_size=4, min_fill=0.0) == [[5, 1, 3, 2], [4, 0]]
    # min_fill 0.8: 95 >= 0.8 x 100 joins 100; 50 < 0.8 x 100 starts a batch; 12 and 10 >= 0.8 x 12 go together
    assert plan_batches(lengths, max_batch_samples=10_000) == [[5], [1, 3], [2], [4, 0]]
    # min_fill 1.0 (inference, on padded lengths): one length per batch, within the budget
    lengths = [10, 100, 50, 100, 10, 300, 100]
    assert plan_batches(lengths, max_batch_samples=200, min_fill=1.0) == [[5], [1, 3], [6], [2], [0, 4]]
    assert plan_batches(lengths, max_batch_samples=10_000, min_fill=1.0) == [[5], [1, 3, 6], [2], [0, 4]]
    assert plan_batches([], 100) == []


def test_missing_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(polyasr.ModelLoadError, match=r"has no config.json, so it is not a saved model$"):
        polyasr.load(str(tmp_path))  # exists but holds no checkpoint


def test_unreachable_hub_says_how_to_use_a_local_copy(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "POLYASR_MODEL": ""}
    code = "import polyasr\ntry:\n    polyasr.load()\nexcept polyasr.ModelLoadError as e:\n    print(e)\n"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    message = out.stdout.strip()
    assert message.startswith("could not load model 'voidful/wav2vec2-xlsr-multilingual-56': the Hugging Face Hub cannot be reached")
    assert "--model DIR" in message and "POLYASR_MODEL=DIR" in message
    assert "Traceback" not in out.stderr


def test_a_nan_sample_is_repaired_with_a_warning_for_paths_bytes_and_arrays(recognizer, tmp_path: Path) -> None:
    """A 6 s float WAV with one NaN (second channel) and one inf (first): the same text as the
    recording with those two samples silenced, and one warning, whatever the input kind."""
    from audio_factory import write_audio

    x = (0.3 * np.random.default_rng(11).standard_normal((2, 6 * 16_000))).astype(np.float32)
    clean = x.copy()
    clean[1, 40_000] = clean[0, 50_000] = 0.0
    x[1, 40_000], x[0, 50_000] = np.nan, np.inf
    path = write_audio(tmp_path / "nan.wav", "pcm_f32le", 16_000, x)
    expected = recognizer.transcribe(clean, sampling_rate=16_000)
    assert expected.text and expected.warnings == ()
    for source, name in ((str(path), str(path)), (path.read_bytes(), "<bytes>"), (x, "<array>")):
        result = recognizer.transcribe(source, sampling_rate=16_000)
        assert result.text == expected.text
        assert result.warnings == (f"{name}: 2 NaN or infinite samples were replaced by silence (first at 2.50 s)",)
    (aligned,) = [recognizer.align(x, "ab", sampling_rate=16_000)]
    assert aligned.warnings[0].startswith("<array>: 2 NaN or infinite samples")


def test_auto_reports_the_identified_language_from_the_same_pass_and_keeps_the_text_unrestricted(recognizer) -> None:
    """"auto" used to return language None; now it names the language "detect" would choose, with
    its probability, while the text stays the unrestricted argmax decoding."""
    from polyasr.decoding.ctc import GreedyReducer, decode_frames
    from polyasr.engine.inference import run_inference

    x = signals()[1]
    auto = recognizer.transcribe(x, sampling_rate=SR)
    (plain,) = run_inference(recognizer.model, [x], lambda: GreedyReducer(0), sampling_rate=SR)
    assert auto.text == decode_frames(plain.value, recognizer.model.vocabulary).text
    ranked = recognizer.detect_language(x, sampling_rate=SR)
    assert auto.language == ranked[0][0] and auto.language_probability == pytest.approx(ranked[0][1])
    detected = recognizer.transcribe(x, language="detect", sampling_rate=SR)
    assert (detected.language, detected.language_probability) == (auto.language, auto.language_probability)
