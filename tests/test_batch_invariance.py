"""An input's logits do not depend on what it is batched with, in every dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC, Wav2Vec2Processor

import polyasr
from polyasr.batching import BUCKET_ANCHOR, bucket_length
from polyasr.inference import BatchOptions, run_inference
from tiny_model import build_tiny_model

SR = 16_000


class KeepLogits:
    """A FrameReducer that keeps every frame's logits."""

    def __init__(self) -> None:
        self.parts: dict[int, np.ndarray] = {}

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        self.parts[first_frame] = logits.copy()

    def finish(self, num_frames: int) -> np.ndarray:
        return np.concatenate([self.parts[f] for f in sorted(self.parts)])


def noise(seconds: float, seed: int, level: float = 0.1) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def test_bucket_lengths_pad_little_and_keep_full_windows() -> None:
    assert bucket_length(BUCKET_ANCHOR, 320) == BUCKET_ANCHOR  # a full 30 s window is not padded
    assert bucket_length(BUCKET_ANCHOR // 2, 320) == BUCKET_ANCHOR // 2
    # (15 s, 30 s] in steps of 30 s / 32 = 15,000 samples: 20 s -> 22 x 15,000 = 330,000 samples,
    # then up to whole frames of 320: 1,032 x 320 = 330,240
    assert bucket_length(320_000, 320) == 330_240
    assert bucket_length(480_001, 320) == 510_080  # above the anchor: steps of 30,000, then whole frames
    lengths = range(400, 40 * SR, 997)
    buckets = [bucket_length(n, 320) for n in lengths]
    assert all(b % 320 == 0 and n <= b <= n * 17 / 16 + 320 for n, b in zip(lengths, buckets))
    assert buckets == sorted(buckets)
    assert len({b for n, b in zip(lengths, buckets) if SR <= n <= 30 * SR}) <= 16 * 5 + 1  # 16 per octave


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


# Lengths in several buckets, two in one (2.01 s and 2.0 s), one over a window (two windows).
INPUTS = [(2.01, 1), (9.3, 2), (0.7, 3), (2.0, 4, 0.5), (34.0, 5), (5.5, 6, 0.02)]


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_batched_logits_equal_alone_bit_for_bit(tiny_dir: Path, dtype: str) -> None:
    model = polyasr.load(str(tiny_dir), device="cpu", dtype=dtype).model
    inputs = [noise(*spec) for spec in INPUTS]
    alone = [next(run_inference(model, [x], KeepLogits, sampling_rate=SR)).value for x in inputs]
    for batch in (BatchOptions(), BatchOptions(batch_seconds=5.0, max_batch_size=2)):
        together = [r.value for r in run_inference(model, inputs, KeepLogits, batch=batch, sampling_rate=SR)]
        for one, joint in zip(alone, together):
            assert np.array_equal(one, joint)
    # and through the model directly, batch-mates of the same bucket and of others
    for x, joint in zip(inputs, model.logits(inputs)):
        assert np.array_equal(model.logits([x])[0], joint)


def test_recognizer_text_does_not_depend_on_batch_mates(tiny_dir: Path) -> None:
    rec = polyasr.load(str(tiny_dir), device="cpu", dtype="bf16")
    inputs = [noise(*spec) for spec in INPUTS]
    alone = [rec.transcribe(x, sampling_rate=SR) for x in inputs]
    together = rec.transcribe_batch(inputs, sampling_rate=SR)
    assert [t.text for t in together] == [t.text for t in alone]
    assert [t.segments for t in together] == [t.segments for t in alone]


def build_unmasked_model(folder: Path) -> Path:
    """A wav2vec2-base style model: group-norm front end, feature extractor without attention mask."""
    build_tiny_model(folder)
    config = Wav2Vec2Config.from_pretrained(folder)
    config.feat_extract_norm, config.do_stable_layer_norm = "group", False
    torch.manual_seed(1)
    Wav2Vec2ForCTC(config).eval().save_pretrained(folder)
    processor = Wav2Vec2Processor.from_pretrained(folder)
    processor.feature_extractor.return_attention_mask = False
    processor.save_pretrained(folder)
    return folder


def test_model_without_attention_mask_is_batched_only_with_equal_lengths(tmp_path: Path) -> None:
    model = polyasr.load(str(build_unmasked_model(tmp_path / "base")), device="cpu", dtype="fp32").model
    assert not model.feature_extractor.return_attention_mask
    short, long = noise(1.0, 1), noise(1.5, 2)
    assert model.padded_length(len(short)) == len(short)  # never padded
    # Why: zero padding is heard as audio by such a model, so a padded input's logits change.
    padded = np.zeros((1, len(long)), np.float32)
    padded[0, : len(short)] = model.normalize(short)
    heard = model.backend.forward(padded, None)[0, : model.frames_for_samples(len(short))]
    (alone,) = model.logits([short])
    assert np.abs(heard - alone).max() > 1e-3
    inputs = [short, long, noise(1.0, 3), noise(1.5, 4)]
    for x, joint in zip(inputs, model.logits(inputs)):
        (one,) = model.logits([x])
        assert np.array_equal(one, joint)
    together = [r.value for r in run_inference(model, inputs, KeepLogits, sampling_rate=SR)]
    for x, joint in zip(inputs, together):
        assert np.array_equal(next(run_inference(model, [x], KeepLogits, sampling_rate=SR)).value, joint)
