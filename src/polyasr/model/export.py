"""`polyasr export`: write a folder that `polyasr.load(folder)` runs with ONNX Runtime.

The folder holds model.onnx (dynamic batch and length axes, inputs `input_values` and
`attention_mask`, output `logits`), the model's config, tokenizer and feature extractor files,
lang_ids.json, and polyasr_export.json describing how it was made.

Recipe (measured on this project's CPU, see shared notes): the TorchScript exporter
(`dynamo=False`) at opset 17 with eager attention, whose graph ONNX Runtime's transformer optimizer
fuses (Attention, SkipLayerNorm, BiasGelu: less memory, faster); then, optionally, dynamic int8
quantisation of MatMul weights (quantising the convolutions too was slower). The feature encoder is
exported as transformers writes it: the faster time-major form (fast_frontend.py) uses `unfold`,
which this exporter cannot write with a dynamic length.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from .backends import EXPORT_INFO_FILE, ONNX_FILE
from ..errors import ModelLoadError, OptionsError, PolyasrError
from ..language.table import write_language_table_json
from .checkpoint import ModelFiles, load_tokenizer
from .ctc_model import default_model, load_language_table
from .network import KNOWN_FRONT_ENDS, load_network

OPSET = 17
QUANTIZATIONS = (None, "int8")  # ExportOptions.quantize


@dataclass(frozen=True)
class ExportOptions:
    """How the ONNX model is written."""

    quantize: str | None = None  # None (fp32 weights) or "int8" (dynamic quantisation of MatMul weights)
    optimize: bool = True  # fuse attention, layer norms and GELU with ONNX Runtime's transformer optimizer
    opset: int = OPSET  # ONNX opset the TorchScript exporter writes

    def __post_init__(self) -> None:
        if self.quantize not in QUANTIZATIONS:
            raise OptionsError(f"unknown quantization {self.quantize!r}: quantize must be int8 or None")
        if self.opset < 1:
            raise OptionsError(f"opset must be at least 1, not {self.opset}")


class _LogitsOnly(torch.nn.Module):
    """The CTC model with a plain (input_values, attention_mask) -> logits signature for export."""

    def __init__(self, network: Any) -> None:
        super().__init__()
        self.network = network

    def forward(self, input_values: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.network(input_values, attention_mask=attention_mask).logits


@contextlib.contextmanager
def _quiet_exporters() -> Iterator[None]:
    """Silence the exporters' generic advice on a successful export: the tracer's 'might be incorrect'
    (the graph is checked instead: tests compare the exported logits with PyTorch's), the opset's
    note on advanced indexing, and onnxruntime's 'consider pre-processing before quantization'."""

    class _Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "pre-processing before quantization" not in record.getMessage()

    root, drop = logging.getLogger(), _Drop()
    root.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Exporting aten::index operator")
            yield
    finally:
        root.removeFilter(drop)


def export_onnx(model: str | None, output: str | Path, options: ExportOptions = ExportOptions()) -> Path:
    """Export a checkpoint (Hub id or folder) to `output`; returns the folder."""
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError as error:
        raise PolyasrError("exporting to ONNX needs: pip install 'polyasr[onnx]'") from error
    from transformers import AutoConfig, AutoFeatureExtractor

    name = model or default_model()
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    files = ModelFiles(name)
    config = files.load(AutoConfig, "its configuration")
    if config.model_type in KNOWN_FRONT_ENDS:
        raise OptionsError(f"model '{name}' is a {config.model_type} model, which polyasr runs with PyTorch only: the ONNX "
                           "export covers the raw-audio wav2vec2 family (wav2vec2, HuBERT, WavLM, data2vec-audio, "
                           "UniSpeech, SEW, wav2vec2-conformer)")
    if getattr(config, "adapter_attn_dim", None) is not None:
        raise OptionsError(f"model '{name}' has per-language adapters, which the ONNX export cannot switch; run it with PyTorch")
    network = load_network(files, config, attention="eager").float().eval()
    table = load_language_table(files)
    with tempfile.TemporaryDirectory(dir=folder) as scratch, _quiet_exporters():
        raw = Path(scratch) / "raw.onnx"
        values = torch.zeros(1, 16_000)
        mask = torch.ones(1, 16_000, dtype=torch.int64)
        with torch.no_grad():
            torch.onnx.export(
                _LogitsOnly(network), (values, mask), str(raw), dynamo=False, opset_version=options.opset,
                input_names=["input_values", "attention_mask"], output_names=["logits"],
                dynamic_axes={"input_values": {0: "batch", 1: "samples"}, "attention_mask": {0: "batch", 1: "samples"},
                              "logits": {0: "batch", 1: "frames"}},
            )
        current = raw
        if options.optimize:
            fused = Path(scratch) / "fused.onnx"
            optimized = optimize_model(
                str(raw), model_type="bert", num_heads=network.config.num_attention_heads,
                hidden_size=network.config.hidden_size,
            )
            optimized.save_model_to_file(str(fused))
            current = fused
        target = folder / ONNX_FILE
        if options.quantize == "int8":
            quantize_dynamic(
                str(current), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        else:
            current.replace(target)
    network.config.save_pretrained(folder)
    load_tokenizer(files).save_pretrained(folder)
    files.load(AutoFeatureExtractor, "its feature extractor").save_pretrained(folder)
    if table is not None:
        write_language_table_json(table, folder / "lang_ids.json")
    info = {"format": "onnx", "source": name, **asdict(options)}
    (folder / EXPORT_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    if not (folder / ONNX_FILE).is_file():
        raise ModelLoadError(f"export of '{name}' wrote no {ONNX_FILE}")
    return folder
