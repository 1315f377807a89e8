"""Every runtime path through the public API: PyTorch fp32/bf16 and ONNX Runtime fp32/int8."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import polyasr
from polyasr.cli.main import main
from polyasr.model.export import ExportOptions, export_onnx
from tiny_model import build_tiny_model

SR = 16_000


@pytest.fixture(scope="module")
def peaky_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Few tokens able to win, so top-1/top-2 margins are wide: rounding must not flip argmaxes.
    return build_tiny_model(tmp_path_factory.mktemp("peaky"), live_tokens="ab|")


@pytest.fixture(scope="module")
def exports(peaky_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exports")
    return {
        "onnx-fp32": export_onnx(str(peaky_dir), root / "fp32"),
        "onnx-int8": export_onnx(str(peaky_dir), root / "int8", ExportOptions(quantize="int8")),
    }


def speech_like(seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(3 * SR)).astype(np.float32)


# backend -> the largest |logit - fp32 logit| accepted on the test model (logits reach about 100)
TOLERANCE = {"torch-bf16": 1.0, "torch-int8": 1.0, "onnx-fp32": 1e-3, "onnx-int8": 0.5}


@pytest.mark.parametrize("backend", sorted(TOLERANCE))
def test_backend_text_matches_fp32(backend: str, peaky_dir: Path, exports: dict[str, Path]) -> None:
    reference = polyasr.load(str(peaky_dir), device="cpu", dtype="fp32")
    if backend.startswith("torch-"):
        candidate = polyasr.load(str(peaky_dir), device="cpu", dtype=backend.removeprefix("torch-"))
    else:
        candidate = polyasr.load(str(exports[backend]), device="cpu")
    x = speech_like()
    (expected,) = reference.model.logits([x])
    (got,) = candidate.model.logits([x])
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= TOLERANCE[backend]
    assert (got.argmax(-1) == expected.argmax(-1)).all()
    text = reference.transcribe(x, sampling_rate=SR).text
    assert text and candidate.transcribe(x, sampling_rate=SR).text == text
    assert candidate.transcribe(x, language="en", sampling_rate=SR).text == reference.transcribe(x, language="en", sampling_rate=SR).text


def test_export_round_trip_keeps_processor_and_language_table(peaky_dir: Path, exports: dict[str, Path]) -> None:
    original = polyasr.load(str(peaky_dir), dtype="fp32")
    exported = polyasr.load(str(exports["onnx-int8"]))
    folder = exports["onnx-int8"]
    assert {"model.onnx", "config.json", "vocab.json", "preprocessor_config.json", "lang_ids.json"} <= {p.name for p in folder.iterdir()}
    assert exported.model.vocabulary == original.model.vocabulary
    assert exported.model.language_table == original.model.language_table
    assert exported.languages() == ["de", "en", "ja", "ru"]
    assert exported.model.frame_seconds == 0.02 and exported.model.feature_extractor.return_attention_mask
    assert json.loads((folder / "polyasr_export.json").read_text())["quantize"] == "int8"
    assert str(exported.model.describe()).startswith("backend=onnx device=cpu weights=int8 threads=")
    assert (exported.model.backend.precision, exported.model.backend.device) == ("int8", "cpu")
    assert polyasr.load(str(peaky_dir), device="cpu", dtype="bf16").model.backend.precision == "bf16"


def test_int8_runs_the_transformers_linear_layers_as_int8_products(peaky_dir: Path) -> None:
    from polyasr.model.int8 import Int8Linear

    rec = polyasr.load(str(peaky_dir), device="cpu", dtype="int8")
    backend = rec.model.backend
    assert (backend.precision, rec.model.describe().precision) == ("int8", "int8")
    assert "dtype=int8+" in backend.describe()  # and the rest in the dtype "auto" picks on this CPU
    network = backend.network
    layer = network.base_model.encoder.layers[0]
    assert isinstance(layer.attention.q_proj, Int8Linear) and isinstance(layer.feed_forward.output_dense, Int8Linear)
    assert layer.attention.q_proj.weight_t.dtype == torch.int8
    assert not any(isinstance(m, Int8Linear) for m in network.base_model.feature_projection.modules())
    assert network.lm_head.weight.dtype == torch.float32  # the CTC head, as in bf16


def test_int8_is_refused_on_a_gpu_with_one_line() -> None:
    from polyasr.errors import OptionsError
    from polyasr.model.runtime import resolve_dtype

    with pytest.raises(OptionsError, match="^dtype int8 runs on a CPU only, not on cuda; use --device cpu"):
        resolve_dtype("int8", torch.device("cuda"))


@pytest.mark.parametrize("backend", ["onnx-fp32", "onnx-int8"])
def test_onnx_batches_give_exactly_the_logits_of_single_inputs(backend: str, exports: dict[str, Path]) -> None:
    rec = polyasr.load(str(exports[backend]))
    # int8 scales activations per pass, so it runs one input per pass; fp32 shares passes
    assert rec.model.backend.batch_invariant == (backend == "onnx-fp32")
    inputs = [speech_like(1)[: SR // 2], speech_like(2), 5 * speech_like(3)[: int(1.7 * SR)], speech_like(4)[: int(1.72 * SR)]]
    batched = rec.model.logits(inputs)
    for x, logits in zip(inputs, batched):
        (alone,) = rec.model.logits([x])
        assert np.array_equal(logits, alone)


def test_export_command(peaky_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "exported"
    assert main(["export", str(peaky_dir), "--format", "onnx", "--quantize", "int8", "--output", str(out)]) == 0
    assert (out / "model.onnx").is_file() and "wrote" in capsys.readouterr().err
    capsys.readouterr()
    assert main(["transcribe", str(tmp_path / "none.wav"), "--model", str(out)]) == 1
    # the export loaded: the one error is about the missing file, not the model
    assert capsys.readouterr().err.strip() == f"polyasr: error: {tmp_path / 'none.wav'}: not a file (no such path)"
    again = tmp_path / "exported-again"
    assert main(["export", "--model", str(peaky_dir), "--output", str(again), "--no-optimize"]) == 0  # --model as elsewhere
    assert (again / "model.onnx").is_file()
    assert main(["export", str(peaky_dir), "--model", str(out), "--output", str(tmp_path / "x")]) == 1
    assert "two models given" in capsys.readouterr().err


def test_a_successful_export_prints_only_its_own_line(peaky_dir: Path, tmp_path: Path) -> None:
    """The tracer's 'might be incorrect', the opset note and onnxruntime's quantisation advice are not shown."""
    import subprocess
    import sys

    out = tmp_path / "quiet"
    done = subprocess.run([sys.executable, "-m", "polyasr", "export", "--model", str(peaky_dir), "--quantize", "int8",
                           "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [f"polyasr: wrote {out}; run it with --model {out}"]
