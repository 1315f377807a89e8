"""Weights load straight into the compute dtype; activations per pass stay bounded (model/weights.py, fast_frontend.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import polyasr
from polyasr.model import ctc_model, fast_frontend
from polyasr.model.checkpoint import ModelFiles
from polyasr.model.network import load_network
from polyasr.model.weights import CHUNK_BYTES, keeps_fp32, read_safetensors
from tiny_model import build_tiny_model

SR = 16_000


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


def test_read_safetensors_converts_each_tensor_and_keeps_the_fp32_modules(tiny_dir: Path, monkeypatch) -> None:
    stored = load_file(tiny_dir / "model.safetensors")
    monkeypatch.setattr("polyasr.model.weights.CHUNK_BYTES", 64)  # many chunks per tensor: the chunked copy is exact
    read = read_safetensors(tiny_dir / "model.safetensors", torch.bfloat16)
    assert read.keys() == stored.keys()
    for name, tensor in stored.items():
        kept = keeps_fp32(name)
        assert read[name].dtype == (torch.float32 if kept or not tensor.is_floating_point() else torch.bfloat16), name
        assert torch.equal(read[name], tensor if kept else tensor.to(read[name].dtype)), name
        assert read[name].untyped_storage().nbytes() == tensor.numel() * read[name].element_size()  # no fp32 storage behind
    assert CHUNK_BYTES == 16 * 2**20


def test_the_loader_gives_bf16_weights_and_the_checkpoints_own_fp32_head(tiny_dir: Path) -> None:
    """No fp32 copy of the bf16 weights is made; the fp32 modules keep the checkpoint's values, not bf16-rounded ones."""
    stored = load_file(tiny_dir / "model.safetensors")
    files = ModelFiles(str(tiny_dir))
    config = polyasr.load(str(tiny_dir), device="cpu", dtype="fp32").model.config
    network = load_network(files, config, dtype=torch.bfloat16)  # as loaded, before the backend touches it
    dtypes = {name: p.dtype for name, p in network.named_parameters()}
    assert {d for n, d in dtypes.items() if not keeps_fp32(n)} == {torch.bfloat16}
    assert {d for n, d in dtypes.items() if keeps_fp32(n)} == {torch.float32}
    recognizer = polyasr.load(str(tiny_dir), device="cpu", dtype="bf16")
    head = recognizer.model.backend.network.lm_head
    assert head.weight.dtype == torch.float32
    assert torch.equal(head.weight, stored["lm_head.weight"])  # before: bf16-rounded, then cast back to fp32
    position = recognizer.model.backend.network.base_model.encoder.pos_conv_embed.conv
    assert {p.dtype for p in position.parameters()} == {torch.float32}
    assert torch.equal(position.bias, stored["wav2vec2.encoder.pos_conv_embed.conv.bias"])


def test_chunked_time_major_front_end_equals_transformers(monkeypatch, tiny_dir: Path) -> None:
    network = polyasr.load(str(tiny_dir), device="cpu", dtype="fp32").model.backend.network
    encoder = network.wav2vec2.feature_extractor
    samples = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 12_345)).astype(np.float32))
    monkeypatch.setattr(fast_frontend, "FRAMES_PER_CHUNK", 7)  # every layer in several chunks, a short last one
    with torch.inference_mode():
        ours = fast_frontend.time_major_features(encoder.conv_layers, samples)
        theirs = type(encoder).forward(encoder, samples)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_a_cpu_pass_holds_at_most_cpu_pass_samples_and_gives_the_same_logits(tiny_dir: Path, monkeypatch) -> None:
    recognizer = polyasr.load(str(tiny_dir), device="cpu", dtype="fp32")
    model = recognizer.model
    clips = [(0.1 * np.random.default_rng(i).standard_normal(3 * SR)).astype(np.float32) for i in range(5)]
    together = model.logits(clips)
    shapes: list[tuple[int, ...]] = []
    forward = model.backend.forward
    monkeypatch.setattr(model.backend, "forward", lambda values, mask: shapes.append(values.shape) or forward(values, mask))
    monkeypatch.setattr(ctc_model, "CPU_PASS_SAMPLES", 2 * model.padded_length(3 * SR))
    split = model.logits(clips)
    assert [s[0] for s in shapes] == [2, 2, 1]  # before: one pass of 5
    assert all(np.array_equal(a, b) for a, b in zip(together, split))


def test_the_front_end_runs_every_layer_per_chunk_of_output_frames(tiny_dir: Path, monkeypatch) -> None:
    """All layers run on one chunk before the next chunk starts, so no layer's output for a whole window is held
    (before: layer by layer over the whole window, the first layer's output 113 MiB for 36 s of XLSR-53 in bf16)."""
    network = polyasr.load(str(tiny_dir), device="cpu", dtype="fp32").model.backend.network
    encoder = network.wav2vec2.feature_extractor
    calls: list[tuple[int, int]] = []  # (layer, frames) of each LayerNorm call
    for index, layer in enumerate(encoder.conv_layers):
        layer.layer_norm.register_forward_pre_hook(lambda _, args, index=index: calls.append((index, args[0].shape[1])))
    monkeypatch.setattr(fast_frontend, "FRAMES_PER_CHUNK", 10)
    samples = torch.from_numpy(np.random.default_rng(2).standard_normal((1, 16_000)).astype(np.float32))
    with torch.inference_mode():
        ours = fast_frontend.time_major_features(encoder.conv_layers, samples)
        calls_ours = list(calls)
        calls.clear()
        theirs = type(encoder).forward(encoder, samples)
    assert torch.equal(ours, theirs) or torch.allclose(ours, theirs, atol=1e-5, rtol=1e-5)
    frames = ours.shape[2]
    assert frames == 49
    assert [i for i, _ in calls_ours] == list(range(7)) * 5  # 49 frames = 4 chunks of 10 and one of 9
    assert [n for i, n in calls_ours if i == 6] == [10, 10, 10, 10, 9]
    assert max(n for i, n in calls_ours if i == 0) == 655  # the first layer: one chunk's 3,280 samples, not 3,199 frames


def test_the_engine_hands_each_pass_logits_to_the_reducer_before_the_next_pass(tiny_dir: Path, monkeypatch) -> None:
    """A group of windows runs pass by pass and each pass's logits reach the reducer before the next pass runs (before:
    all passes of the group first, so the logits of every window in it were held at once: 71 MB per 36 s window of a
    9,910-class model)."""
    from polyasr.engine.inference import BatchOptions, run_inference
    from polyasr.engine.windows import WindowOptions

    model = polyasr.load(str(tiny_dir), device="cpu", dtype="fp32").model
    events: list[str] = []
    forward = model.backend.forward
    monkeypatch.setattr(model.backend, "forward", lambda values, mask: events.append("pass") or forward(values, mask))

    class Recorder:
        def __init__(self) -> None:
            self.parts: dict[int, np.ndarray] = {}

        def add(self, first_frame: int, logits: np.ndarray) -> None:
            events.append("add")
            self.parts[first_frame] = logits.copy()

        def finish(self, num_frames: int) -> np.ndarray:
            return np.concatenate([self.parts[f] for f in sorted(self.parts)])

    audio = (0.1 * np.random.default_rng(3).standard_normal(30 * SR)).astype(np.float32)
    windows = WindowOptions(window_seconds=10, context_seconds=1)
    monkeypatch.setattr(ctc_model, "CPU_PASS_SAMPLES", model.padded_length(12 * SR))  # one window per pass
    (result,) = run_inference(model, [audio], Recorder, windows, BatchOptions(), sampling_rate=SR)
    assert events.count("pass") >= 3
    assert events == ["pass", "add"] * events.count("pass")  # before: pass, pass, pass, add, add, add
    assert result.value is not None and len(result.value) == model.frames_for_samples(len(audio))
