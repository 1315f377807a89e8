"""Runtimes that turn prepared inputs into CTC logits: PyTorch (transformers) and ONNX Runtime.

Both take the same inputs from `CTCModel.logits` (normalised, zero-padded float32 samples and an
attention mask) and return float32 logits (batch x frames x vocabulary), so everything above them
(windows, decoding, timing, the server) is shared.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch

from ..errors import ModelLoadError
from .fast_frontend import install_time_major_features
from .int8 import quantise_linears
from .runtime import Runtime

ONNX_FILE = "model.onnx"
EXPORT_INFO_FILE = "polyasr_export.json"  # written by `polyasr export`: format, quantization, source


class Backend(Protocol):
    """Runs the network on a padded batch."""

    def forward(self, values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """values: (batch, samples) float32; mask: (batch, samples) int64 or None -> float32 logits."""

    def describe(self) -> str:
        """Backend, device, precision, threads: what a user needs to know about the speed path."""

    @property
    def device(self) -> str:
        """Where the network runs: "cpu", "cuda", "cuda:1", "mps"."""

    @property
    def precision(self) -> str:
        """The network's arithmetic: "fp32", "bf16", "fp16", or "int8" (quantised weights)."""

    @property
    def threads(self) -> int:
        """CPU threads the network uses."""

    @property
    def batch_invariant(self) -> bool:
        """True when each row of a pass (rows of one padded length) gets the logits it gets alone."""


def _run_in_fp32(module: torch.nn.Module, output_dtype: torch.dtype) -> None:
    """Keep one submodule in fp32 inside a reduced-precision network (inputs and output cast)."""
    module.float()
    module.register_forward_pre_hook(lambda _, args: tuple(a.float() for a in args))
    module.register_forward_hook(lambda _, __, out: out.to(output_dtype))


def _head(network: Any) -> Any:
    """The network's CTC head module (lm_head or ctc_head), or None."""
    return getattr(network, "lm_head", None) or getattr(network, "ctc_head", None)


def _to_compute_dtype(network: Any, runtime: Runtime, kept: list[torch.nn.Module]) -> None:
    """Move the network to its device and dtype, except the `kept` modules' tensors, left as they are.

    A network loaded by network.load_network in a reduced dtype already has the modules that run
    in fp32 in fp32, with the checkpoint's values; casting them down and back would round them.
    """
    network.to(runtime.device).eval()
    skipped = {id(t) for module in kept for t in [*module.parameters(), *module.buffers()]}
    for tensor in [*network.parameters(), *network.buffers()]:
        if tensor.is_floating_point() and tensor.dtype != runtime.dtype and id(tensor) not in skipped:
            tensor.data = tensor.data.to(runtime.dtype)


class TorchBackend:
    """A transformers CTC speech model (AutoModelForCTC: wav2vec2, HuBERT, WavLM, ...) in PyTorch,
    with SDPA attention where the architecture has it, and inference mode.

    Where it applies (fast_frontend.py), the convolutional feature encoder runs time-major (same
    result, 1.8x faster in fp32, 4.4x in bf16). In bf16 or fp16, two small parts stay in fp32: the positional convolution (weight-normalised,
    kernel 128; in bf16 it put a 28 % error into the hidden states of the test model, where the
    whole bf16 network flipped 13 % of frame argmaxes against 0-1 % with it in fp32) and the CTC
    head (logits near 100 have a bf16 resolution of 0.5). Together about 2 % of the computation.
    Both are found through the model's base model, whatever the architecture calls it.

    Checkpoints with per-language adapters (MMS) switch them with `use_adapter`, under
    `adapter_lock` together with the forward pass that needs them.

    `between_layers`: a callable run after each transformer layer of a pass (not of a pass it runs
    itself, and not while an adapter is held), so that a scheduler can run short passes (live
    streams' updates) inside a long one; the long pass's tensors are untouched, so its logits are
    the same. None (the default): nothing runs.
    """

    def __init__(self, network: Any, runtime: Runtime) -> None:
        self.network = network
        self.runtime = runtime
        position = getattr(getattr(network.base_model, "encoder", None), "pos_conv_embed", None)
        kept = [m for m in (position, _head(network)) if m is not None] if runtime.dtype != torch.float32 else []
        _to_compute_dtype(network, runtime, kept)
        if runtime.int8:
            quantise_linears(network)
        self.time_major_features = install_time_major_features(network)
        self.adapter: str | None = None  # the language adapter loaded (None: the weights as saved)
        self.adapter_lock = threading.Lock()
        self._fp32_head: Any = None
        # Measured on CPU in fp32 and bf16: with the time-major front end, rows of one padded length
        # are bit-identical alone or batched. transformers' channels-first convolutions are not
        # (oneDNN picks its algorithm by batch size), so other front ends run one input per pass.
        self.batch_invariant = self.time_major_features
        self.between_layers: Callable[[], None] | None = None
        self._between = False  # between_layers is running (a pass it runs does not call it again)
        for layer in getattr(getattr(network.base_model, "encoder", None), "layers", None) or ():
            layer.register_forward_hook(self._layer_done)
        if runtime.dtype != torch.float32:
            if position is not None:
                _run_in_fp32(position, runtime.dtype)
            self._keep_head_in_fp32()

    def _layer_done(self, *_: Any) -> None:
        """After a transformer layer: run `between_layers`, unless it runs already or an adapter is held."""
        run = self.between_layers
        if run is None or self._between or self.adapter_lock.locked():
            return
        self._between = True
        try:
            run()
        finally:
            self._between = False

    def _keep_head_in_fp32(self) -> None:
        head = _head(self.network)
        if self.runtime.dtype != torch.float32 and head is not None and head is not self._fp32_head:
            _run_in_fp32(head, torch.float32)
            self._fp32_head = head

    def use_adapter(self, code: str) -> None:
        """Load language `code`'s adapter weights (and CTC head) into the network, unless loaded already.

        The file must be local already (a model folder, or the Hub cache: see adapters.py). Hold
        `adapter_lock` from this call to the end of the forward pass that needs it.
        """
        if self.adapter == code:
            return
        try:
            self.network.load_adapter(code, local_files_only=True)
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"could not load the adapter of language '{code}': {str(error).splitlines()[0]}") from error
        self._keep_head_in_fp32()  # load_adapter replaces the head when the vocabulary size changes
        self.adapter = code

    def forward(self, values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        inputs = torch.from_numpy(values).to(self.runtime.device, self.runtime.dtype)
        attention = None if mask is None else torch.from_numpy(mask).to(self.runtime.device)
        with torch.inference_mode():
            return self.network(inputs, attention_mask=attention).logits.float().cpu().numpy()

    def forward_inputs(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """One pass over the feature extractor's own outputs (log-mel features, omniASR's values and mask)."""
        tensors = {
            name: torch.from_numpy(value).to(self.runtime.device, self.runtime.dtype if value.dtype.kind == "f" else None)
            for name, value in inputs.items()
        }
        with torch.inference_mode():
            return self.network(**tensors).logits.float().cpu().numpy()

    def describe(self) -> str:
        return f"backend=torch {self.runtime.describe()}"

    @property
    def device(self) -> str:
        return str(self.runtime.device)

    @property
    def precision(self) -> str:
        return self.runtime.precision

    @property
    def threads(self) -> int:
        return self.runtime.threads


class OnnxBackend:
    """An exported model.onnx run with ONNX Runtime (CPU, or CUDA when asked for and available)."""

    def __init__(self, folder: Path, device: str, threads: int | None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as error:
            raise ModelLoadError(f"'{folder}' is an ONNX export; running it needs: pip install 'polyasr[onnx]'") from error
        info_path = folder / EXPORT_INFO_FILE
        self.info: dict[str, Any] = json.loads(info_path.read_text(encoding="utf-8")) if info_path.is_file() else {}
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(os.cpu_count() or 1, 16)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        wants_gpu = device.startswith("cuda") or (device == "auto" and "CUDAExecutionProvider" in ort.get_available_providers())
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if wants_gpu else ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ModelLoadError(f"device {device!r} asked for, but this onnxruntime has no CUDA provider (pip install onnxruntime-gpu)")
        try:
            self.session = ort.InferenceSession(str(folder / ONNX_FILE), options, providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types
            raise ModelLoadError(f"could not load '{folder / ONNX_FILE}': {str(error).splitlines()[0]}") from error
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.threads = options.intra_op_num_threads
        self.device = "cuda" if self.session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        self.precision = self.info.get("quantize") or "fp32"
        # Dynamic int8 quantisation scales activations per tensor, i.e. per pass: batch-mates would
        # change a row's result, so such a model runs one input per pass.
        self.batch_invariant = self.precision != "int8"

    def forward(self, values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        feed = {"input_values": values}
        if "attention_mask" in self.inputs:
            feed["attention_mask"] = mask if mask is not None else np.ones(values.shape, np.int64)
        (logits,) = self.session.run(["logits"], feed)
        return logits.astype(np.float32, copy=False)

    def describe(self) -> str:
        return f"backend=onnx device={self.device} weights={self.precision} threads={self.threads}"


def is_onnx_export(folder: str | os.PathLike) -> bool:
    """True for a folder written by `polyasr export --format onnx`."""
    return (Path(folder).expanduser() / ONNX_FILE).is_file()


__all__ = ["Backend", "EXPORT_INFO_FILE", "ONNX_FILE", "OnnxBackend", "TorchBackend", "is_onnx_export"]
