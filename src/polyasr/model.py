"""Loading a wav2vec2 CTC checkpoint (Hub id or local folder) and turning audio into logits.

Owns the steps features -> model -> logits. Knows nothing about text: see decoding.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .audio import SAMPLE_RATE
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
    network: Any  # transformers Wav2Vec2ForCTC (or a compatible CTC model)
    feature_extractor: Any  # transformers Wav2Vec2FeatureExtractor
    vocabulary: Vocabulary
    language_table: LanguageTable | None  # None when the checkpoint ships no lang_ids file
    runtime: Runtime

    @property
    def samples_per_frame(self) -> int:
        """Total stride of the convolutional front end (320 samples for wav2vec2)."""
        return int(np.prod(self.network.config.conv_stride))

    @property
    def frame_seconds(self) -> float:
        """Seconds between CTC frames (0.02 s for wav2vec2 at 16 kHz)."""
        return self.samples_per_frame / SAMPLE_RATE

    @property
    def min_samples(self) -> int:
        """Shortest input that yields one frame (the front end's receptive field, 400 samples)."""
        needed = 1
        for kernel, stride in reversed(list(zip(self.network.config.conv_kernel, self.network.config.conv_stride))):
            needed = (needed - 1) * stride + kernel
        return needed

    def frames_for_samples(self, num_samples: int) -> int:
        """Number of logit frames the model emits for `num_samples` input samples."""
        length = max(num_samples, self.min_samples)
        for kernel, stride in zip(self.network.config.conv_kernel, self.network.config.conv_stride):
            length = (length - kernel) // stride + 1
        return length

    def logits(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One forward pass over a batch of 16 kHz mono arrays; float32 logits per input, unpadded.

        Inputs of different lengths are padded and masked with the attention mask when the feature
        extractor asks for one, so each input gets the logits it would get alone.
        """
        if not batch:
            return []
        padded = [x if len(x) >= self.min_samples else np.pad(x, (0, self.min_samples - len(x))) for x in batch]
        features = self.feature_extractor(
            padded,
            sampling_rate=SAMPLE_RATE,
            padding=True,
            return_tensors="pt",
            return_attention_mask=bool(self.feature_extractor.return_attention_mask),
        )
        inputs = features["input_values"].to(self.runtime.device, self.runtime.dtype)
        mask = features.get("attention_mask")
        with torch.inference_mode():
            out = self.network(inputs, attention_mask=None if mask is None else mask.to(self.runtime.device))
        logits = out.logits.float().cpu().numpy()
        return [logits[i, : self.frames_for_samples(len(x))] for i, x in enumerate(padded)]


def _is_local(model: str) -> bool:
    return Path(model).expanduser().exists()


def _offline_message(model: str, reason: str) -> str:
    return (
        f"could not load model '{model}': {reason}. If this machine cannot reach the Hugging Face Hub, "
        f"download the model where it can (hf download {model} --local-dir DIR) and pass "
        f"--model DIR, or set {MODEL_ENV}=DIR"
    )


def _from_pretrained(loader: Any, model: str, **kwargs: Any) -> Any:
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

    for name in LANG_TABLE_FILES:
        for local_only in (True, False):
            try:
                return read_language_table(hf_hub_download(model, name, local_files_only=local_only))
            except LanguageTableError:
                raise
            except Exception:  # not cached / not in the repo / offline: try the next option
                continue
    return None


def load_ctc_model(model: str | None = None, options: RuntimeOptions = RuntimeOptions()) -> CTCModel:
    """Load a wav2vec2 CTC checkpoint with its processor and language table.

    `model` is a Hub id or a local folder; None means `default_model()`.
    """
    from transformers import AutoFeatureExtractor, Wav2Vec2CTCTokenizer, Wav2Vec2ForCTC

    name = model or default_model()
    try:
        runtime = resolve_runtime(options)
    except ValueError as error:
        raise ModelLoadError(str(error)) from error
    network = _from_pretrained(Wav2Vec2ForCTC, name)
    tokenizer = _from_pretrained(Wav2Vec2CTCTokenizer, name)
    feature_extractor = _from_pretrained(AutoFeatureExtractor, name)
    network.to(runtime.device, runtime.dtype).eval()
    vocabulary = Vocabulary.from_tokenizer(tokenizer)
    if len(vocabulary) > network.config.vocab_size:
        raise ModelLoadError(
            f"model '{name}': the tokenizer has {len(vocabulary)} tokens but the model outputs only "
            f"{network.config.vocab_size} classes"
        )
    vocabulary = vocabulary.padded_to(network.config.vocab_size)
    return CTCModel(
        name=name,
        network=network,
        feature_extractor=feature_extractor,
        vocabulary=vocabulary,
        language_table=load_language_table(name),
        runtime=runtime,
    )
