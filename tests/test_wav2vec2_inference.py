"""wav2vec2 checkpoints run by model/wav2vec2_inference.py give transformers' own logits, without its model code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, Wav2Vec2ForCTC as TransformersWav2Vec2ForCTC

import polyasr
from polyasr.errors import ModelLoadError
from polyasr.model import wav2vec2_inference
from polyasr.model.checkpoint import ModelFiles
from polyasr.model.network import load_native_network, native_weights
from tiny_model import build_tiny_adapter_model, build_tiny_model

SRC = Path(__file__).resolve().parents[1] / "src"


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Two 1.5 s rows, the second padded after 1 s (a mask of 0s), as a batch of windows is."""
    x = torch.randn(2, 24_000, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(2, 24_000, dtype=torch.long)
    mask[1, 16_000:] = 0
    return x, mask


def _with_config(folder: Path, **changes) -> Path:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps({**config, **changes}), encoding="utf-8")
    return folder


@pytest.mark.parametrize("stable", [True, False], ids=["stable-layer-norm", "post-layer-norm"])
@pytest.mark.parametrize("stored", ["parametrizations", "weight_g"])
def test_logits_equal_transformers_wav2vec2_for_ctc(tmp_path: Path, stable: bool, stored: str) -> None:
    folder = _with_config(build_tiny_model(tmp_path / "m"), do_stable_layer_norm=stable)
    if stored == "weight_g":  # checkpoints saved before torch's parametrizations (the card's model among them)
        state = load_file(folder / "model.safetensors")
        prefix = "wav2vec2.encoder.pos_conv_embed.conv."
        for old, new in (("parametrizations.weight.original0", "weight_g"), ("parametrizations.weight.original1", "weight_v")):
            state[prefix + new] = state.pop(prefix + old)
        save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    config = AutoConfig.from_pretrained(folder)
    files = ModelFiles(str(folder))
    ours = load_native_network(files, config, native_weights(files, config))
    reference = TransformersWav2Vec2ForCTC.from_pretrained(folder).eval()
    assert isinstance(ours, wav2vec2_inference.Wav2Vec2ForCTC)
    x, mask = _inputs()
    with torch.inference_mode():
        for attention in (None, mask):
            got, want = ours(x, attention_mask=attention).logits, reference(x, attention_mask=attention).logits
            assert got.shape == want.shape == (2, 74, 84)
            torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_polyasr_load_gives_transformers_text_and_never_imports_its_model_code(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "m", live_tokens="ab|")
    script = (
        "import sys, numpy as np, polyasr\n"
        f"rec = polyasr.load({str(folder)!r}, device='cpu', dtype='fp32')\n"
        "x = np.random.default_rng(0).standard_normal(32000).astype(np.float32)\n"
        "print(type(rec.model.backend.network).__module__)\n"
        "print(rec.transcribe(x, sampling_rate=16000).text)\n"
        "print([m for m in sys.modules if m.startswith('transformers.models.wav2vec2.modeling')])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}).stdout.splitlines()
    assert out[0] == "polyasr.model.wav2vec2_inference"
    assert out[2] == "[]"  # transformers' modeling_wav2vec2 (and what it pulls in) was never imported
    from tiny_model import transformers_reference

    x = np.random.default_rng(0).standard_normal(32000).astype(np.float32)
    assert out[1] == transformers_reference(folder, x)[1] != ""


def test_bf16_keeps_the_fp32_modules_and_the_checkpoints_own_values(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "m")
    stored = load_file(folder / "model.safetensors")
    network = polyasr.load(str(folder), device="cpu", dtype="bf16").model.backend.network
    assert isinstance(network, wav2vec2_inference.Wav2Vec2ForCTC)
    assert network.lm_head.weight.dtype == torch.float32 and torch.equal(network.lm_head.weight, stored["lm_head.weight"])
    assert network.base_model.encoder.pos_conv_embed.conv.weight.dtype == torch.float32
    q = "wav2vec2.encoder.layers.0.attention.q_proj.weight"
    assert network.base_model.encoder.layers[0].attention.q_proj.weight.dtype == torch.bfloat16
    assert torch.equal(network.base_model.encoder.layers[0].attention.q_proj.weight, stored[q].to(torch.bfloat16))


def test_other_checkpoints_keep_transformers_class(tmp_path: Path) -> None:
    group = build_tiny_model(tmp_path / "group", architecture="wav2vec2-group")
    hubert = build_tiny_model(tmp_path / "hubert", architecture="hubert")
    adapters = build_tiny_adapter_model(tmp_path / "mms")
    for folder in (group, hubert, adapters):
        network = polyasr.load(str(folder), device="cpu", dtype="fp32").model.backend.network
        assert type(network).__module__.startswith("transformers.models."), folder.name


def test_weights_that_do_not_fit_are_refused_in_one_sentence(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "m")
    state = load_file(folder / "model.safetensors")
    state["wav2vec2.encoder.layers.0.feed_forward.output_dense.weight"] = torch.zeros(3, 3)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"its weights do not fit its config: wav2vec2.encoder.layers.0.feed_forward."
                                             r"output_dense.weight has shape \(3, 3\), the config says \(32, 64\)$"):
        polyasr.load(str(folder), device="cpu", dtype="fp32")
    del state["wav2vec2.encoder.layers.0.feed_forward.output_dense.weight"]
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ModelLoadError, match=r"output_dense.weight missing$"):
        polyasr.load(str(folder), device="cpu", dtype="fp32")


def _as_torch_checkpoint(folder: Path) -> Path:
    """The checkpoint with its weights in pytorch_model.bin (torch's zip format) instead of safetensors."""
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def test_a_pytorch_model_bin_checkpoint_runs_natively_with_transformers_text(tmp_path: Path) -> None:
    folder = _as_torch_checkpoint(build_tiny_model(tmp_path / "m", live_tokens="ab|"))
    for dtype in ("fp32", "bf16"):
        network = polyasr.load(str(folder), device="cpu", dtype=dtype).model.backend.network
        assert isinstance(network, wav2vec2_inference.Wav2Vec2ForCTC)
        assert network.lm_head.weight.dtype == torch.float32
    from tiny_model import transformers_reference

    x = np.random.default_rng(1).standard_normal(32000).astype(np.float32)
    text = polyasr.load(str(folder), device="cpu", dtype="fp32").transcribe(x, sampling_rate=16000).text
    assert text == transformers_reference(folder, x)[1] != ""


def test_a_weights_pickle_that_would_run_code_is_refused_and_never_run(tmp_path: Path) -> None:
    folder = _as_torch_checkpoint(build_tiny_model(tmp_path / "m"))
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    import pickle

    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"wav2vec2.x": Payload()}))
    with pytest.raises(ModelLoadError, match=r"could not read the weights in '.*pytorch_model.bin': "):
        polyasr.load(str(folder), device="cpu", dtype="fp32")
    assert not marker.exists()
