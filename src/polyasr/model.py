"""Loading a wav2vec2 CTC checkpoint (Hub id or local folder) and turning audio into logits.

Owns the steps features -> model -> logits. Knows nothing about text: see decoding.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .audio import SAMPLE_RATE
from .backends import Backend, OnnxBackend, TorchBackend, is_onnx_export
from .decoding import Vocabulary
from .errors import LanguageTableError, ModelLoadError
from .lang_ids import LanguageTable, read_language_table
from .runtime import Runtime, RuntimeOptions, resolve_runtime

DEFAULT_MODEL = "voidful/wav2vec2-xlsr-multilingual-56"
MODEL_ENV = "POLYASR_MODEL"  # environment variable naming the model (Hub id or folder)
LANG_TABLE_FILES = ("lang_ids.json", "lang_ids.pk")


def default_model() -> str:
    """The model used when none is named: $POLYASR_MODEL, else the 56-language checkpoint."""
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL


@dataclass
class CTCModel:
    """A loaded acoustic model: 16 kHz samples in, CTC logits (frames x vocabulary) out."""

    name: str  # the Hub id or folder it was loaded from
    config: Any  # transformers Wav2Vec2Config: conv geometry, vocabulary size
    backend: Backend  # runs the network: PyTorch or ONNX Runtime
    feature_extractor: Any  # transformers Wav2Vec2FeatureExtractor
    vocabulary: Vocabulary
    language_table: LanguageTable | None  # None when the checkpoint ships no lang_ids file
    runtime: Runtime

    def describe(self) -> str:
        """The speed path in use: backend, device, precision, threads."""
        return self.backend.describe()

    @property
    def samples_per_frame(self) -> int:
        """Total stride of the convolutional front end (320 samples for wav2vec2)."""
        return int(np.prod(self.config.conv_stride))

    @property
    def frame_seconds(self) -> float:
        """Seconds between CTC frames (0.02 s for wav2vec2 at 16 kHz)."""
        return self.samples_per_frame / SAMPLE_RATE

    @property
    def min_samples(self) -> int:
        """Shortest input that yields one frame (the front end's receptive field, 400 samples)."""
        needed = 1
        for kernel, stride in reversed(list(zip(self.config.conv_kernel, self.config.conv_stride))):
            needed = (needed - 1) * stride + kernel
        return needed

    def frames_for_samples(self, num_samples: int) -> int:
        """Number of logit frames the model emits for `num_samples` input samples."""
        length = max(num_samples, self.min_samples)
        for kernel, stride in zip(self.config.conv_kernel, self.config.conv_stride):
            length = (length - kernel) // stride + 1
        return length

    def normalize(self, samples: np.ndarray, stats: tuple[float, float] | None = None) -> np.ndarray:
        """The feature extractor's zero-mean unit-variance normalisation, if it does one.

        `stats` = (mean, variance) of the whole input a window was cut from, so that every window of a
        long file is scaled as a single pass over the file would be; None uses the samples' own.
        Same formula as transformers' Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm.
        """
        if not self.feature_extractor.do_normalize:
            return samples
        mean, variance = stats if stats is not None else (float(samples.mean()), float(samples.var()))
        return ((samples - mean) / np.sqrt(variance + 1e-7)).astype(np.float32)

    def logits(self, batch: Sequence[np.ndarray], stats: Sequence[tuple[float, float] | None] | None = None) -> list[np.ndarray]:
        """One forward pass over a batch of 16 kHz mono arrays; float32 logits per input, unpadded.

        Does what the model's feature extractor does, from its settings: each input is normalised
        (with `stats[i]` when given, see `normalize`), inputs are zero-padded to the longest, and the
        attention mask is passed when the extractor asks for one, so each input gets the logits it
        would get alone.
        """
        if not batch:
            return []
        levels = list(stats) if stats is not None else [None] * len(batch)
        normalized = [self.normalize(x, level) for x, level in zip(batch, levels)]
        lengths = [max(len(x), self.min_samples) for x in normalized]
        values = np.full((len(batch), max(lengths)), self.feature_extractor.padding_value, dtype=np.float32)
        attention = np.zeros(values.shape, dtype=np.int64)
        for row, x in enumerate(normalized):
            values[row, : len(x)] = x
            attention[row, : lengths[row]] = 1
        mask = attention if self.feature_extractor.return_attention_mask else None
        logits = self.backend.forward(values, mask)
        return [logits[row, : self.frames_for_samples(n)] for row, n in enumerate(lengths)]


def _is_local(model: str) -> bool:
    return Path(model).expanduser().exists()


def _offline_message(model: str, reason: str) -> str:
    return (
        f"could not load model '{model}': {reason}. If this machine cannot reach the Hugging Face Hub, "
        f"download the model where it can (hf download {model} --local-dir DIR) and pass "
        f"--model DIR, or set {MODEL_ENV}=DIR"
    )


def load_pretrained(loader: Any, model: str, **kwargs: Any) -> Any:
    """Load from a local folder, else from the Hub cache, else from the Hub; one clear error on failure."""
    if _is_local(model):
        try:
            return loader.from_pretrained(str(Path(model).expanduser()), **kwargs)
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"could not load model folder '{model}': {str(error).splitlines()[0]}") from error
    try:
        return loader.from_pretrained(model, local_files_only=True, **kwargs)
    except (OSError, ValueError):
        pass
    try:
        return loader.from_pretrained(model, **kwargs)
    except (OSError, ValueError) as error:
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "connect" in first_line or "offline" in first_line.lower() or "cached files" in first_line:
            reason = "the Hugging Face Hub cannot be reached and the model is not in the local cache"
        else:
            reason = f"it is neither a local folder nor a loadable Hub model ({first_line})"
        raise ModelLoadError(_offline_message(model, reason)) from error


def load_language_table(model: str) -> LanguageTable | None:
    """The checkpoint's lang_ids.json / lang_ids.pk, or None when it ships neither."""
    if _is_local(model):
        folder = Path(model).expanduser()
        if not any((folder / name).is_file() for name in LANG_TABLE_FILES):
            return None
        return read_language_table(folder)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError

    for local_only in (True, False):  # the cache first: no network when the model is cached
        for filename in LANG_TABLE_FILES:
            try:
                return read_language_table(hf_hub_download(model, filename, local_files_only=local_only))
            except RemoteEntryNotFoundError:
                continue  # the repository has no such file: try the next
            except LocalEntryNotFoundError:
                if local_only:
                    continue  # not cached: try the next, then the Hub
                return None  # the Hub cannot be reached: do not wait for it once more
            except LanguageTableError:
                raise
            except Exception:  # the Hub refuses (no such repository, no access): no table
                return None
    return None


def load_ctc_model(model: str | None = None, options: RuntimeOptions = RuntimeOptions()) -> CTCModel:
    """Load a wav2vec2 CTC checkpoint with its processor and language table.

    `model` is a Hub id or a local folder (a transformers checkpoint, or an ONNX export written by
    `polyasr export`); None means `default_model()`.
    """
    from transformers import AutoFeatureExtractor, Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2ForCTC

    name = model or default_model()
    try:
        runtime = resolve_runtime(options)
    except ValueError as error:
        raise ModelLoadError(str(error)) from error
    backend: Backend
    if is_onnx_export(name):
        config = load_pretrained(Wav2Vec2Config, name)
        backend = OnnxBackend(Path(name).expanduser(), options.device, options.threads)
    else:
        network = load_pretrained(Wav2Vec2ForCTC, name, attn_implementation="sdpa")
        config, backend = network.config, TorchBackend(network, runtime)
    tokenizer = load_pretrained(Wav2Vec2CTCTokenizer, name)
    feature_extractor = load_pretrained(AutoFeatureExtractor, name)
    if getattr(feature_extractor, "sampling_rate", SAMPLE_RATE) != SAMPLE_RATE:
        raise ModelLoadError(
            f"model '{name}' expects {feature_extractor.sampling_rate} Hz audio; polyasr supports 16000 Hz models"
        )
    vocabulary = Vocabulary.from_tokenizer(tokenizer)
    if len(vocabulary) > config.vocab_size:
        raise ModelLoadError(
            f"model '{name}': the tokenizer has {len(vocabulary)} tokens but the model outputs only "
            f"{config.vocab_size} classes"
        )
    return CTCModel(
        name=name,
        config=config,
        backend=backend,
        feature_extractor=feature_extractor,
        vocabulary=vocabulary.padded_to(config.vocab_size),
        language_table=load_language_table(name),
        runtime=runtime,
    )
