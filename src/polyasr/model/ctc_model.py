"""Loading a CTC speech checkpoint (Hub id or local folder) and turning audio into logits.

Owns the steps features -> model -> logits. Knows nothing about text: see decoding/ctc.py. Loads
transformers' AutoModelForCTC speech models: the raw-audio wav2vec2 family (XLSR, MMS with its
language adapters, HuBERT, WavLM, data2vec-audio, UniSpeech(-SAT), SEW(-D), wav2vec2-conformer),
whose windows it normalises and pads itself, and omniASR-CTC, Parakeet-CTC, LASR-CTC and w2v-BERT
2.0, whose own feature extractor prepares each window. The input and frame geometry come from the
config (frontends.py).
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Iterator, Sequence

import numpy as np

from .adapters import AdapterSet, nested_vocabulary
from ..audio.decode import SAMPLE_RATE
from .buckets import bucket_length
from .backends import Backend, OnnxBackend, TorchBackend, is_onnx_export
from .checkpoint import HUB_UNREACHABLE, MODEL_ENV, ModelFiles, load_vocabulary
from ..decoding.ctc import Vocabulary
from ..errors import HubUnreachableError, LanguageError, ModelLoadError
from ..language.exemplars import has_exemplars
from ..language.table import LanguageTable, read_language_table
from .facts import ModelFacts, declared_languages
from .network import load_native_network, load_network, native_weights, network_class, require_model_files
from .frontends import FrontEnd, front_end_for
from .runtime import Runtime, RuntimeOptions, resolve_runtime

DEFAULT_MODEL = "voidful/wav2vec2-xlsr-multilingual-56"
LANG_TABLE_FILES = ("lang_ids.json", "lang_ids.pk")
LANGUAGE_MODEL_FOLDER = "language_model"  # where pyctcdecode-style checkpoints keep their n-gram LM
PADDING_TRANSPARENT_MODEL_TYPES = frozenset({"wav2vec2", "hubert"})  # see CTCModel.pads_transparently
# Padded samples in one forward pass on a CPU (rows of one length are split into passes of at most
# this): activations stay those of one 36 s window (~0.4 GB for XLSR-53 in bf16), and passes of
# 4 x 36 s took 30 % longer per window than 4 passes of one (2 AMD EPYC cores, avx512_bf16).
CPU_PASS_SAMPLES = 40 * SAMPLE_RATE


def default_model() -> str:
    """The model used when none is named: $POLYASR_MODEL, else the 56-language checkpoint."""
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL


@dataclass
class CTCModel:
    """A loaded acoustic model: 16 kHz samples in, CTC logits (frames x vocabulary) out."""

    name: str  # the Hub id or folder it was loaded from
    config: Any  # transformers config (Wav2Vec2Config, HubertConfig, ...): conv geometry, model type
    backend: Backend  # runs the network: PyTorch or ONNX Runtime
    feature_extractor: Any  # the model's own (Wav2Vec2FeatureExtractor, ParakeetFeatureExtractor, ...)
    vocabulary: Vocabulary  # the CTC alphabet (of `adapter`'s language for adapter models)
    language_table: LanguageTable | None  # None when the checkpoint ships no lang_ids file
    runtime: Runtime
    front_end: FrontEnd  # raw audio or log-mel, and the frame geometry (frontends.py)
    language_table_note: str | None = None  # why there is no language table, for error messages
    adapters: AdapterSet | None = None  # per-language adapters (MMS); None for other models
    adapter: str | None = None  # the adapter this model runs with (see with_adapter); None: the weights as saved
    declared_languages: tuple[str, ...] = ()  # languages the model card (or config) declares
    declared_by: str | None = None  # "model card" or "config"
    architecture: str = "Wav2Vec2ForCTC"  # transformers class of the network
    language_model_folder: bool = False  # the checkpoint ships language_model/ (an n-gram LM)

    def language_codes(self) -> tuple[tuple[str, ...], str | None]:
        """The codes `language=` accepts and where they come from (None: the model names none)."""
        if self.adapters is not None:
            return self.adapters.codes, "adapters"
        if self.language_table is not None:
            return tuple(self.language_table.codes()), "language table"
        return self.declared_languages, self.declared_by

    @property
    def single_language(self) -> str | None:
        """The one language of a model without a table or adapters whose card names exactly one."""
        if self.adapters is None and self.language_table is None and len(self.declared_languages) == 1:
            return self.declared_languages[0]
        return None

    def with_adapter(self, code: str) -> "CTCModel":
        """This model decoding language `code` with its adapter and vocabulary; the network is shared."""
        if self.adapters is None:
            raise LanguageError(f"model '{self.name}' has no language adapters")
        return replace(self, adapter=code, vocabulary=self.adapters.vocabulary(code))

    def describe(self) -> ModelFacts:
        """What this model supports and how it runs; str() of it is one line (--verbose, the server log)."""
        codes, source = self.language_codes()
        backend = self.backend
        return ModelFacts(
            name=self.name,
            architecture=self.architecture,
            model_type=str(getattr(self.config, "model_type", "")),
            languages=tuple(codes),
            language_source=source,
            can_restrict=self.language_table is not None or (
                self.adapters is None and self.single_language is None and has_exemplars()),  # CLDR letters
            can_detect=self.language_table is not None,
            adapters=self.adapters is not None,
            default_language=self.adapters.default if self.adapters is not None else self.single_language,
            language_note=self.language_table_note if self.language_table is None else None,
            language_model_folder=self.language_model_folder,
            vocabulary_size=len(self.vocabulary),
            frame_seconds=self.frame_seconds,
            sample_rate=SAMPLE_RATE,
            attention_mask=bool(getattr(self.feature_extractor, "return_attention_mask", False)),
            front_end=self.front_end.kind,
            vocabulary_kind=self.vocabulary.kind,
            fast_frontend=bool(getattr(backend, "time_major_features", False)),
            backend="onnx" if isinstance(backend, OnnxBackend) else "torch",
            device=backend.device,
            precision=backend.precision,
            threads=backend.threads,
            speed=backend.describe(),
        )

    @property
    def samples_per_frame(self) -> int:
        """Samples between CTC frames (320 for wav2vec2, 1280 for Parakeet): see frontends.py."""
        return self.front_end.samples_per_frame

    @property
    def frame_seconds(self) -> float:
        """Seconds between CTC frames (0.02 s for wav2vec2 at 16 kHz, 0.08 s for Parakeet)."""
        return self.samples_per_frame / SAMPLE_RATE

    @property
    def min_samples(self) -> int:
        """Shortest input the network takes (400 samples for wav2vec2; SEW pools two conv frames: 720)."""
        return self.front_end.min_samples

    def frames_for_samples(self, num_samples: int) -> int:
        """Number of logit frames the model emits for `num_samples` input samples."""
        return self.front_end.frames_for_samples(num_samples)

    def normalize(self, samples: np.ndarray, stats: tuple[float, float] | None = None) -> np.ndarray:
        """The feature extractor's zero-mean unit-variance normalisation, if it does one.

        `stats` = (mean, variance) of the whole input a window was cut from, so that every window of a
        long file is scaled as a single pass over the file would be; None uses the samples' own.
        Same formula as transformers' Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm.
        """
        if self.front_end.extractor_per_window or not self.feature_extractor.do_normalize:
            return samples
        mean, variance = stats if stats is not None else (float(samples.mean()), float(samples.var()))
        return ((samples - mean) / np.sqrt(variance + 1e-7)).astype(np.float32)

    @property
    def pads_transparently(self) -> bool:
        """True when zero padding under the attention mask leaves an input's logits as they are unpadded.

        Only wav2vec2 and HuBERT with a layer-norm front end and a feature extractor that passes the
        mask (XLSR, MMS, large fine-tunes): one positional convolution, padded frames zeroed before
        it (tested: 2e-6 in fp32). Not a group-norm front end (its statistics run over time), not a
        model without a mask (it hears the zeros as audio), not data2vec-audio (its stack of
        positional convolutions carries the padded frames back into the input's frames).
        """
        return (
            not self.front_end.extractor_per_window
            and bool(self.feature_extractor.return_attention_mask)
            and getattr(self.config, "model_type", None) in PADDING_TRANSPARENT_MODEL_TYPES
            and getattr(self.config, "feat_extract_norm", None) == "layer"
        )

    def padded_length(self, num_samples: int) -> int:
        """The length an input of `num_samples` is padded to, whatever it is batched with.

        A bucket (buckets.bucket_length: at most 1/16 longer) when padding is transparent and the
        backend shares passes. Otherwise the input's own length: then it only shares a pass with
        inputs of exactly its length (or none, see `Backend.batch_invariant`).
        """
        length = max(num_samples, self.min_samples)
        if not self.pads_transparently or not self.backend.batch_invariant:
            return length
        return bucket_length(length, self.samples_per_frame)

    @property
    def pass_samples(self) -> int | None:
        """Padded samples one forward pass holds at most (`logits` splits a batch into such passes); None: no limit.

        1 (a pass per input) when the backend is not batch-invariant or the model extracts features per
        window; CPU_PASS_SAMPLES on a CPU. The engine batches no more than this, so each of its steps is
        one forward pass (the server runs stream updates between them)."""
        if self.front_end.extractor_per_window or not self.backend.batch_invariant:
            return 1
        return CPU_PASS_SAMPLES if self.backend.device == "cpu" else None

    def logits(self, batch: Sequence[np.ndarray], stats: Sequence[tuple[float, float] | None] | None = None) -> list[np.ndarray]:
        """Forward passes over 16 kHz mono arrays; float32 logits per input, unpadded.

        Does what the model's feature extractor does, from its settings: each input is normalised
        (with `stats[i]` when given, see `normalize`), zero-padded to `padded_length` and masked
        when the extractor asks for a mask. Inputs of one padded length share a pass (one pass per
        input when the backend is not batch-invariant), so each input gets exactly the logits it
        gets alone. All of them at once: `iter_logits` hands them over pass by pass.
        """
        results: list[np.ndarray] = [np.zeros(0)] * len(batch)
        for row, logits in self.iter_logits(batch, stats):
            results[row] = logits
        return results

    def iter_logits(
        self, batch: Sequence[np.ndarray], stats: Sequence[tuple[float, float] | None] | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """`logits`, as (index in `batch`, that input's logits) once each pass is done, so that a
        caller that drops them holds one pass's logits at a time, not the whole batch's (on a CPU,
        one 36 s window of a 9,910-class model is 71 MB of float32)."""
        if self.front_end.extractor_per_window:
            for row, x in enumerate(batch):
                yield row, self._extracted_logits(x)
            return
        levels = list(stats) if stats is not None else [None] * len(batch)
        by_length: dict[int, list[int]] = {}
        for row, x in enumerate(batch):
            by_length.setdefault(self.padded_length(len(x)), []).append(row)
        passes = list(by_length.items())
        if not self.backend.batch_invariant:
            passes = [(length, [row]) for length, rows in passes for row in rows]
        elif self.pass_samples is not None:  # a CPU: bounded activations; a bigger pass is no faster per second
            passes = [(length, rows[i : i + per]) for length, rows in passes
                      for per in [max(1, self.pass_samples // length)] for i in range(0, len(rows), per)]
        for length, rows in passes:
            values = np.full((len(rows), length), self.feature_extractor.padding_value, dtype=np.float32)
            attention = np.zeros(values.shape, dtype=np.int64)
            for i, row in enumerate(rows):  # normalised straight into the pass's rows: one copy at a time
                values[i, : len(batch[row])] = self.normalize(batch[row], levels[row])
                attention[i, : max(len(batch[row]), self.min_samples)] = 1
            mask = attention if self.feature_extractor.return_attention_mask else None
            logits = self._forward(values, mask)
            del values, attention, mask
            for i, row in enumerate(rows):
                yield row, logits[i, : self.frames_for_samples(len(batch[row]))]
            del logits

    def _extracted_logits(self, samples: np.ndarray) -> np.ndarray:
        """One window through the model's own feature extractor (log-mel, or omniASR's normalisation), alone in its pass."""
        inputs = self.front_end.inputs(samples, self.feature_extractor)
        return self.backend.forward_inputs(inputs)[0, : self.frames_for_samples(len(samples))]

    def _forward(self, values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """One backend pass; with an adapter, switched to and run under the backend's lock."""
        if self.adapter is None:
            return self.backend.forward(values, mask)
        with self.backend.adapter_lock:  # type: ignore[attr-defined]
            self.backend.use_adapter(self.adapter)  # type: ignore[attr-defined]
            return self.backend.forward(values, mask)


def load_language_table(model: str | ModelFiles) -> LanguageTable | None:
    """The checkpoint's lang_ids.json (preferred) or lang_ids.pk; None when it ships neither.

    Raises ModelLoadError when the folder does not exist, HubUnreachableError when the Hub would
    have to be asked and cannot be, LanguageTableError when the file is malformed or unsafe.
    """
    files = model if isinstance(model, ModelFiles) else ModelFiles(model)
    path = files.file(LANG_TABLE_FILES)
    return None if path is None else read_language_table(path)


def list_languages(model: str) -> tuple[str, list[tuple[str, str]]]:
    """What `polyasr languages` lists, read from small files only: (source, [(code, detail), ...]).

    The language table (with each language's number of characters), else the adapters (MMS), else
    the languages the model card declares. LanguageError when the model names none.
    """
    files = ModelFiles(model)
    table = load_language_table(files)
    if table is not None:
        counts = {code: len(ids) for code, ids in table.ids.items()}
        return "language table", [
            (code, f"{n} characters" if n else "empty table: cannot restrict decoding") for code, n in sorted(counts.items())
        ]
    vocab = files.file(["vocab.json"])
    nested = nested_vocabulary(vocab) if vocab is not None else None
    if nested:
        return "adapters", [(code, f"adapter, {len(nested[code])} tokens") for code in sorted(nested)]
    declared, declared_by = declared_languages(files, None)
    if declared:
        return str(declared_by), [(code, f"declared by its {declared_by}; no language table") for code in declared]
    raise LanguageError(
        f"model '{model}' has no language table (lang_ids.json / lang_ids.pk), no language adapters, "
        "and its model card names no language"
    )


def _adapters(files: ModelFiles, config: Any) -> AdapterSet | None:
    """The language adapters of an MMS-style checkpoint (nested vocab.json), else None."""
    vocab = files.file(["vocab.json"])
    nested = nested_vocabulary(vocab) if vocab is not None else None
    if nested is None:
        return None
    if getattr(config, "adapter_attn_dim", None) is None:
        raise ModelLoadError(f"model '{files.model}' has a per-language vocab.json but no adapter layers (adapter_attn_dim)")
    settings = files.file(["tokenizer_config.json"])
    target = json.loads(settings.read_text(encoding="utf-8")).get("target_lang") if settings is not None else None
    return AdapterSet(files, nested, target)


def _language_table(files: ModelFiles, classes: int) -> tuple[LanguageTable | None, str | None]:
    """The checkpoint's language table (checked against the head), or None and why there is none."""
    try:
        table = load_language_table(files)
    except HubUnreachableError:  # the model came from the cache; whether it has a table is unknown
        return None, f"its language table could not be looked for: {HUB_UNREACHABLE}"
    if table is None:
        return None, "it ships no lang_ids.json or lang_ids.pk"
    outside = sorted(code for code, ids in table.ids.items() if ids and ids[-1] >= classes)
    if outside:
        raise ModelLoadError(
            f"model '{files.model}': its language table lists token ids beyond the model's {classes} output classes "
            f"for {', '.join(outside)}"
        )
    return table, None


def load_ctc_model(model: str | None = None, options: RuntimeOptions = RuntimeOptions()) -> CTCModel:
    """Load a CTC speech checkpoint with its processor, language table or adapters, and card languages.

    `model` is a Hub id or a local folder (a transformers checkpoint, or an ONNX export written by
    `polyasr export`); None means `default_model()`.
    """
    from transformers import AutoConfig, AutoFeatureExtractor

    name = model or default_model()
    try:
        runtime = resolve_runtime(options)
    except ValueError as error:
        raise ModelLoadError(str(error)) from error
    files = ModelFiles(name)
    require_model_files(files)
    config = files.load(AutoConfig, "its configuration")
    onnx = files.folder is not None and is_onnx_export(files.folder)
    native = None if onnx else native_weights(files, config)
    with ThreadPoolExecutor(1) as pool:  # wav2vec2_inference's weights are read while the processor files load
        network = None if native is None else pool.submit(load_native_network, files, config, native, runtime.dtype)
        architecture = network_class(config, name).__name__ if onnx else ""
        feature_extractor = files.load(AutoFeatureExtractor, "its feature extractor")
        if getattr(feature_extractor, "sampling_rate", SAMPLE_RATE) != SAMPLE_RATE:
            raise ModelLoadError(
                f"model '{name}' expects {feature_extractor.sampling_rate} Hz audio; polyasr supports 16000 Hz models"
            )
        front_end = front_end_for(config, feature_extractor, name)
        if not front_end.extractor_per_window and not (
            hasattr(feature_extractor, "return_attention_mask") and hasattr(feature_extractor, "do_normalize")
        ):
            raise ModelLoadError(f"model '{name}' has a {type(feature_extractor).__name__}; polyasr needs a Wav2Vec2FeatureExtractor")
        if front_end.extractor_per_window and onnx:
            raise ModelLoadError(f"model '{name}' is a {architecture}, which polyasr runs with PyTorch only, not ONNX")
        adapters = _adapters(files, config)
        if adapters is not None and onnx:
            raise ModelLoadError(f"model '{name}' has language adapters, which polyasr runs with PyTorch only, not ONNX")
        if adapters is not None:  # runs its default adapter (or its first) until a language is chosen
            adapter = adapters.default or adapters.codes[0]
            vocabulary = adapters.vocabulary(adapter)
            table, note = None, "it has per-language adapters instead"
        else:
            adapter, vocabulary = None, load_vocabulary(files, config)
            table, note = _language_table(files, len(vocabulary))
        backend: Backend
        if onnx:
            backend = OnnxBackend(files.folder, options.device, options.threads)  # type: ignore[arg-type]
        else:  # transformers' classes load here, on this thread (imports are not for two threads at once)
            loaded = network.result() if network is not None else load_network(files, config, dtype=runtime.dtype)
            backend, architecture = TorchBackend(loaded, runtime), type(loaded).__name__
    declared, declared_by = declared_languages(files, config)
    return CTCModel(
        name=name, config=config, backend=backend, feature_extractor=feature_extractor, vocabulary=vocabulary,
        language_table=table, runtime=runtime, front_end=front_end, language_table_note=note, adapters=adapters, adapter=adapter,
        declared_languages=declared, declared_by=declared_by, architecture=architecture,
        language_model_folder=_has_language_model(files),
    )


def _has_language_model(files: ModelFiles) -> bool:
    """True when the checkpoint ships an n-gram LM folder (pyctcdecode's language_model/attrs.json)."""
    if files.folder is not None:
        return (files.folder / LANGUAGE_MODEL_FOLDER).is_dir()
    try:
        return files.file([f"{LANGUAGE_MODEL_FOLDER}/attrs.json"]) is not None
    except HubUnreachableError:
        return False
