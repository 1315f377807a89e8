"""Where and how the model runs: device, precision and CPU threads, resolved from user options."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import OptionsError

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
INT8 = "int8"  # the transformer's linear layers in int8 (model/int8.py), the rest as "auto" picks; CPU only
DTYPE_CHOICES: tuple[str, ...] = ("auto", *DTYPES, INT8)  # what RuntimeOptions.dtype may be


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run the model. "auto" picks a sensible value for the machine."""

    device: str = "auto"  # "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:1", "mps"
    dtype: str = "auto"  # "auto", "fp32", "fp16", "bf16" or "int8" (CPU only; see model/int8.py)
    threads: int | None = None  # CPU threads for torch; None keeps torch's default

    def __post_init__(self) -> None:
        if not isinstance(self.device, str) or not self.device.strip():
            raise OptionsError(f"device must name a device (auto, cpu, cuda, cuda:N or mps), not {self.device!r}")
        if self.dtype not in DTYPE_CHOICES:
            raise OptionsError(f"dtype must be one of {', '.join(DTYPE_CHOICES)}, not {self.dtype!r}")
        if self.threads is not None and self.threads < 1:
            raise OptionsError(f"threads must be at least 1 (or None for torch's default), not {self.threads}")


@dataclass(frozen=True)
class Runtime:
    """The resolved PyTorch choices; users see them through `CTCModel.describe()` (and `--verbose`)."""

    device: torch.device
    dtype: torch.dtype  # of everything but what int8 covers
    threads: int
    int8: bool = False  # the transformer's linear layers run in int8 (model/int8.py)

    @property
    def precision(self) -> str:
        """"fp32", "bf16", "fp16", or "int8" (the transformer's linear layers; the rest in `dtype`)."""
        return INT8 if self.int8 else next(k for k, v in DTYPES.items() if v == self.dtype)

    def describe(self) -> str:
        name = next(k for k, v in DTYPES.items() if v == self.dtype)
        return f"device={self.device} dtype={f'int8+{name}' if self.int8 else name} threads={self.threads}"


def resolve_device(device: str) -> torch.device:
    """Turn "auto" or a device string into a torch.device that exists on this machine."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise OptionsError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise OptionsError(f"device {device!r} was asked for but torch sees no CUDA GPU")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise OptionsError(f"device {device!r} was asked for but MPS is not available")
    return resolved


SPEED_FLAGS = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512f", "avx2")  # what decides the fast path


def cpu_features(cpuinfo: str = "/proc/cpuinfo") -> tuple[str, ...]:
    """Which of SPEED_FLAGS this CPU has (from `cpuinfo`; empty where it cannot be read)."""
    try:
        with open(cpuinfo, encoding="utf-8") as handle:
            flags = set(next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), []))
    except OSError:  # not Linux
        return ()
    return tuple(flag for flag in SPEED_FLAGS if flag in flags)


def cpu_has_fast_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX), where bf16 runs ~2x fp32."""
    features = cpu_features()
    return "avx512_bf16" in features or "amx_bf16" in features


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """By default bf16 where the hardware runs it fast (CUDA GPUs with bf16, CPUs with AVX-512 BF16
    or AMX), fp16 on older CUDA GPUs, fp32 elsewhere (including MPS). "int8" (CPU only): the dtype
    "auto" picks for the layers that int8 does not cover."""
    if dtype == INT8:
        if device.type != "cpu":
            raise OptionsError(f"dtype int8 runs on a CPU only, not on {device}; use --device cpu, or bf16/fp16 on a GPU")
        return resolve_dtype("auto", device)
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "cpu" and cpu_has_fast_bf16():
            return torch.bfloat16
        return torch.float32
    if dtype not in DTYPES:
        raise OptionsError(f"unknown dtype {dtype!r}; use one of: auto, {', '.join(DTYPES)}")
    return DTYPES[dtype]


def resolve_runtime(options: RuntimeOptions) -> Runtime:
    """Resolve options (checked when they were made); sets torch's CPU thread count when `threads` is given."""
    device = resolve_device(options.device)
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    return Runtime(device=device, dtype=resolve_dtype(options.dtype, device), threads=torch.get_num_threads(),
                   int8=options.dtype == INT8)
