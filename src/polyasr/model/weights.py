"""A checkpoint's weights read straight into the compute dtype, never held in fp32 beside it.

transformers maps a safetensors file and converts each tensor from it: the bf16 copies are
allocated while every page of the fp32 file that was read stays mapped into the process, so
loading the XLSR-53 architecture in bf16 peaked at 2.2 GB (0.63 GB of bf16 weights, 1.24 GB of
mapped fp32 file). `read_safetensors` reads each tensor with plain reads through one small
reusable buffer (16 MiB) straight into its destination dtype, so loading peaks at the converted
weights plus that buffer; the state dict goes to transformers as is, with no further copy.

Kept in fp32 (`keeps_fp32`): the positional convolution and the CTC head (see backends.py), so the
network loaded in bf16 computes them from the checkpoint's own fp32 values.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import ModelLoadError

SAFETENSORS_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
CHUNK_BYTES = 16 * 2**20  # read buffer: the most a conversion holds besides its destination
HEADS = ("lm_head", "ctc_head")  # the CTC head's parameters: lm_head (wav2vec2 family, w2v-BERT), ctc_head (omniASR, Parakeet, LASR)
FP32_MODULES = ("pos_conv_embed", *HEADS)  # module names kept in fp32 in a reduced-precision network
SINGLE_FILE, INDEX_FILE = "model.safetensors", "model.safetensors.index.json"
TORCH_FILE, TORCH_INDEX_FILE = "pytorch_model.bin", "pytorch_model.bin.index.json"  # torch's zip format (older checkpoints)


def keeps_fp32(name: str) -> bool:
    """True for a parameter (or module) name inside one of the FP32_MODULES."""
    return any(part in FP32_MODULES for part in name.split("."))


def read_safetensors(path: Path, dtype: torch.dtype, keep: Callable[[str], bool] = keeps_fp32) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors, floating ones in `dtype` (those `keep` names as stored).

    Plain reads through one CHUNK_BYTES buffer, not a memory map: pages of the file are never
    mapped into the process, so its resident memory grows by the converted tensors only.
    """
    tensors: dict[str, torch.Tensor] = {}
    buffer = torch.empty(CHUNK_BYTES, dtype=torch.uint8)
    try:
        with open(path, "rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(size))
            base = 8 + size
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                stored = SAFETENSORS_DTYPES[info["dtype"]]
                target = dtype if stored.is_floating_point and not keep(name) else stored
                tensors[name] = _read_tensor(handle, base + info["data_offsets"][0], stored, target, info["shape"], buffer)
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        raise ModelLoadError(f"could not read the weights in '{path}': {error}") from error
    return tensors


def _read_tensor(handle: Any, offset: int, stored: torch.dtype, target: torch.dtype, shape: list[int],
                 buffer: torch.Tensor) -> torch.Tensor:
    """One tensor of `shape` stored as `stored` at `offset`, read into a new `target` tensor chunk by chunk."""
    result = torch.empty(shape, dtype=target)
    flat = result.view(-1)
    item = torch.empty(0, dtype=stored).element_size()
    step = CHUNK_BYTES // item
    handle.seek(offset)
    for start in range(0, flat.numel(), step):
        count = min(step, flat.numel() - start)
        raw = buffer[: count * item]
        if handle.readinto(raw.numpy()) != count * item:
            raise ValueError("the file ends inside a tensor")
        flat[start : start + count].copy_(raw.view(stored))
    return result


def safetensors_files(files: Any) -> list[Path] | None:
    """The checkpoint's safetensors files (one, or the shards its index names); None when it has none."""
    return _weight_files(files, SINGLE_FILE, INDEX_FILE)


def torch_files(files: Any) -> list[Path] | None:
    """The checkpoint's pytorch_model.bin files (one, or the shards its index names); None when it has none."""
    return _weight_files(files, TORCH_FILE, TORCH_INDEX_FILE)


def _weight_files(files: Any, single_name: str, index_name: str) -> list[Path] | None:
    index = files.file([index_name])
    if index is not None:
        shards = sorted(set(json.loads(Path(index).read_text(encoding="utf-8"))["weight_map"].values()))
        found = [files.file([shard]) for shard in shards]
        return None if any(path is None for path in found) else found
    single = files.file([single_name])
    return None if single is None else [single]


def read_weights(path: Path, dtype: torch.dtype, keep: Callable[[str], bool] = keeps_fp32) -> dict[str, torch.Tensor]:
    """A weights file's tensors, floating ones in `dtype` (those `keep` names as stored): safetensors, or
    a pytorch_model.bin in torch's zip format.

    A .bin is a pickle: it is read with `weights_only=True`, which refuses anything but tensors and
    plain containers (a pickle that would run code is an error, never executed), memory-mapped (torch's
    zip format; a legacy file is read whole) and copied tensor by tensor into memory of its own, so
    the mapping is released once read.
    """
    if path.suffix == ".safetensors":
        return read_safetensors(path, dtype, keep)
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))  # legacy: no mmap
        if not isinstance(stored, dict):
            raise ValueError(f"it holds a {type(stored).__name__}, not a dictionary of tensors")
        tensors: dict[str, torch.Tensor] = {}
        for name in list(stored):
            tensor = stored.pop(name)
            target = dtype if tensor.is_floating_point() and not keep(name) else tensor.dtype
            tensors[name] = tensor.to(target, copy=True)
        return tensors
    except (OSError, RuntimeError, ValueError, pickle.UnpicklingError) as error:  # weights_only refusals: UnpicklingError
        text = str(error).strip()
        raise ModelLoadError(f"could not read the weights in '{path}': {text.splitlines()[0] if text else type(error).__name__}") from error


def keeping_fp32(network_class: Any) -> Any:
    """`network_class` that transformers loads in a reduced dtype with FP32_MODULES left in fp32."""
    kept = set(getattr(network_class, "_keep_in_fp32_modules_strict", None) or ()) | set(FP32_MODULES)
    subclass = type(network_class.__name__, (network_class,), {"_keep_in_fp32_modules_strict": sorted(kept)})
    subclass.__module__, subclass.__qualname__ = network_class.__module__, network_class.__qualname__
    return subclass


__all__ = ["CHUNK_BYTES", "FP32_MODULES", "HEADS", "keeping_fp32", "keeps_fp32", "read_safetensors", "read_weights",
           "safetensors_files", "torch_files"]
