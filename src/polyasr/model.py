"""Loading a wav2vec2 CTC checkpoint (Hub id or local folder) and turning audio into logits.

Owns the steps features -> model -> logits. Knows nothing about text: see decoding.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .audio import SAMPLE_RATE
from .backends import Backend, OnnxBackend, TorchBackend, is_onnx_export
from .checkpoint import HUB_UNREACHABLE, MODEL_ENV, ModelFiles, fit_vocabulary, load_tokenizer
from .decoding import Vocabulary
from .errors import HubUnreachableError, ModelLoadError
from .lang_ids import LanguageTable, read_language_table
from .runtime import Runtime, RuntimeOptions, resolve_runtime

DEFAULT_MODEL = "voidful/wav2vec2-xlsr-multilingual-56"
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
    language_table_note: str | None = None  # why there is no language table, for error messages

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


def load_language_table(model: str | ModelFiles) -> LanguageTable | None:
    """The checkpoint's lang_ids.json (preferred) or lang_ids.pk; None when it ships neither.

    Raises ModelLoadError when the folder does not exist, HubUnreachableError when the Hub would
    have to be asked and cannot be, LanguageTableError when the file is malformed or unsafe.
    """
    files = model if isinstance(model, ModelFiles) else ModelFiles(model)
    path = files.file(LANG_TABLE_FILES)
    return None if path is None else read_language_table(path)


def _require_model_files(files: ModelFiles) -> None:
    """In a local folder, name a missing config, tokenizer or feature extractor before transformers trips on it."""
    if files.folder is None:
        return
    if files.file(["config.json"]) is None:
        raise ModelLoadError(f"model folder '{files.model}' has no config.json, so it is not a saved model")
    if files.file(["vocab.json"]) is None:
        raise ModelLoadError(
            f"model folder '{files.model}' has no tokenizer (vocab.json); save the processor with the model "
            "(processor.save_pretrained(folder)) or copy the tokenizer files of the model it was trained as"
        )
    if files.file(["preprocessor_config.json", "processor_config.json"]) is None:
        raise ModelLoadError(
            f"model folder '{files.model}' has no feature extractor settings (preprocessor_config.json or "
            "processor_config.json); save the processor with the model (processor.save_pretrained(folder)) or copy "
            "preprocessor_config.json from the model it was fine-tuned from"
        )


def _check_table(table: LanguageTable | None, classes: int, model: str) -> LanguageTable | None:
    if table is not None:
        outside = sorted(code for code, ids in table.ids.items() if ids and ids[-1] >= classes)
        if outside:
            raise ModelLoadError(
                f"model '{model}': its language table lists token ids beyond the model's {classes} output classes "
                f"for {', '.join(outside)}"
            )
    return table


def load_ctc_model(model: str | None = None, options: RuntimeOptions = RuntimeOptions()) -> CTCModel:
    """Load a wav2vec2 CTC checkpoint with its processor and language table.

    `model` is a Hub id or a local folder (a transformers checkpoint, or an ONNX export written by
    `polyasr export`); None means `default_model()`.
    """
    from transformers import AutoFeatureExtractor, Wav2Vec2Config, Wav2Vec2ForCTC

    name = model or default_model()
    try:
        runtime = resolve_runtime(options)
    except ValueError as error:
        raise ModelLoadError(str(error)) from error
    files = ModelFiles(name)
    _require_model_files(files)
    backend: Backend
    if files.folder is not None and is_onnx_export(files.folder):
        config = files.load(Wav2Vec2Config, "its configuration")
        backend = OnnxBackend(files.folder, options.device, options.threads)
    else:
        network = files.load(Wav2Vec2ForCTC, "its weights", attn_implementation="sdpa")
        config, backend = network.config, TorchBackend(network, runtime)
    tokenizer = load_tokenizer(files)
    feature_extractor = files.load(AutoFeatureExtractor, "its feature extractor")
    if getattr(feature_extractor, "sampling_rate", SAMPLE_RATE) != SAMPLE_RATE:
        raise ModelLoadError(
            f"model '{name}' expects {feature_extractor.sampling_rate} Hz audio; polyasr supports 16000 Hz models"
        )
    try:
        table = load_language_table(files)
    except HubUnreachableError:  # the model came from the cache; whether it has a table is unknown
        table, table_note = None, f"its language table could not be looked for: {HUB_UNREACHABLE}"
    else:
        table_note = None if table is not None else "it ships no lang_ids.json or lang_ids.pk"
    return CTCModel(
        name=name,
        config=config,
        backend=backend,
        feature_extractor=feature_extractor,
        vocabulary=fit_vocabulary(tokenizer, config.vocab_size, name),
        language_table=_check_table(table, config.vocab_size, name),
        runtime=runtime,
        language_table_note=table_note,
    )
