"""The network of a checkpoint: which transformers CTC class runs it, and the files a folder must have.

polyasr runs AutoModelForCTC's speech models: raw-audio ones (wav2vec2 (XLSR, MMS), HuBERT, WavLM,
data2vec-audio, UniSpeech(-SAT), SEW(-D), wav2vec2-conformer, omniASR-CTC) and log-mel ones
(Parakeet-CTC, LASR-CTC, w2v-BERT 2.0); frontends.py knows each one's input and frame geometry.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from . import wav2vec2_inference
from .checkpoint import ModelFiles, first_line, not_a_saved_model
from .weights import HEADS, keeping_fp32, read_weights, safetensors_files, torch_files

CTC_MODELS = ("wav2vec2 (XLSR, MMS), HuBERT, WavLM, data2vec-audio, UniSpeech(-SAT), SEW(-D), wav2vec2-conformer, "
              "omniASR-CTC, Parakeet-CTC, LASR-CTC, w2v-BERT 2.0")
KNOWN_FRONT_ENDS = frozenset({"omniasr_ctc", "parakeet_ctc", "lasr_ctc", "wav2vec2-bert"})  # besides conv_stride configs


def require_model_files(files: ModelFiles) -> None:
    """In a local folder, name a missing config, tokenizer or feature extractor before transformers trips on it."""
    if files.folder is None:
        return
    if files.file(["config.json"]) is None:
        raise ModelLoadError(not_a_saved_model(files))
    if files.file(["vocab.json", "tokenizer.json"]) is None:
        raise ModelLoadError(
            f"model folder '{files.model}' has no tokenizer (vocab.json or tokenizer.json); save the processor with the model "
            "(processor.save_pretrained(folder)) or copy the tokenizer files of the model it was trained as"
        )
    if files.file(["preprocessor_config.json", "processor_config.json"]) is None:
        raise ModelLoadError(
            f"model folder '{files.model}' has no feature extractor settings (preprocessor_config.json or "
            "processor_config.json); save the processor with the model (processor.save_pretrained(folder)) or copy "
            "preprocessor_config.json from the model it was fine-tuned from"
        )


def network_class(config: Any, name: str) -> Any:
    """transformers' CTC class for this config; ModelLoadError for a model without a CTC head or whose input is unknown."""
    from transformers import MODEL_FOR_CTC_MAPPING

    kind = getattr(config, "model_type", "?")
    try:
        found = MODEL_FOR_CTC_MAPPING[type(config)]
    except KeyError:
        raise ModelLoadError(f"model '{name}' is a {kind} model, which has no CTC head; polyasr runs CTC speech models: {CTC_MODELS}") from None
    if kind not in KNOWN_FRONT_ENDS and not hasattr(config, "conv_stride"):
        raise ModelLoadError(
            f"model '{name}' is a {kind} CTC model whose input front end polyasr does not know; polyasr runs {CTC_MODELS}"
        )
    return found


def _read_all(paths: list[Path], dtype: Any) -> dict[str, Any]:
    """The tensors of all of `paths` (weights files or shards) in `dtype` (see weights.read_weights)."""
    state: dict[str, Any] = {}
    for path in paths:
        state.update(read_weights(path, dtype))
    return state


def load_network(files: ModelFiles, config: Any, attention: str | None = None, dtype: Any = None) -> Any:
    """The CTC network (AutoModelForCTC's class for the config); refuses one without a trained head.

    `attention` is transformers' attn_implementation; None: SDPA where the architecture has it.
    `dtype` (a torch dtype; None: as transformers loads it, fp32) is the dtype the weights are read
    into, except the positional convolution and the CTC head, kept in fp32 (weights.py); in a
    reduced dtype, safetensors weights are read by weights.read_safetensors, never held in fp32.
    """
    import torch

    reduced = dtype is not None and dtype != torch.float32
    paths = safetensors_files(files) if reduced else None
    with ThreadPoolExecutor(1) as pool:  # the weights are read while transformers' modeling module is imported
        reading = pool.submit(_read_all, paths, dtype) if paths is not None else None
        found = network_class(config, files.model)
        state = reading.result() if reading is not None else None
    if attention is None:
        attention = "sdpa" if getattr(found, "_supports_sdpa", False) else "eager"
    settings: dict[str, Any] = {"config": config, "attn_implementation": attention, "output_loading_info": True}
    if reduced:
        found, settings["dtype"] = keeping_fp32(found), dtype
    if state is not None:
        try:
            network, info = found.from_pretrained(None, state_dict=state, **settings)
        except Exception as error:  # transformers raises many types for weights that do not fit the config
            raise ModelLoadError(f"could not load model '{files.model}': its weights do not fit its config: "
                                 f"{first_line(error)}") from error
        del state
        # where the checkpoint is, as from_pretrained(path) records it (load_adapter reads it)
        network.config._name_or_path = network.name_or_path = str(files.folder or files.model)
    else:
        network, info = files.load(found, "its weights", **settings)
    _require_head(files, info.get("missing_keys", ()))
    return network


def native_weights(files: ModelFiles, config: Any) -> list[Path] | None:
    """The weights files (safetensors, else pytorch_model.bin) wav2vec2_inference runs this checkpoint from;
    None when transformers' class runs it."""
    if not wav2vec2_inference.applies(config):
        return None
    return safetensors_files(files) or torch_files(files)


def load_native_network(files: ModelFiles, config: Any, paths: list[Path], dtype: Any = None) -> Any:
    """wav2vec2_inference's network from the checkpoint's safetensors `paths` (see native_weights).

    It skips importing transformers' model code (~1.8 s, ~130 MiB; see wav2vec2_inference.py); the
    weights are read into `dtype` (None: fp32) as load_network reads them, fp32 modules kept in
    fp32 (weights.read_weights: safetensors, or a pytorch_model.bin read without running its
    pickle's code). Imports nothing, so it may run on a second thread while the processor files load.
    """
    import torch

    state = _read_all(paths, dtype or torch.float32)
    try:
        network, missing = wav2vec2_inference.from_state_dict(config, state)
    except (ValueError, RuntimeError) as error:
        raise ModelLoadError(f"could not load model '{files.model}': its weights do not fit its config: "
                             f"{first_line(error)}") from error
    _require_head(files, missing)
    if missing:
        raise ModelLoadError(f"could not load model '{files.model}': its weights do not fit its config: "
                             f"{', '.join(missing[:5])} missing")
    return network


def _require_head(files: ModelFiles, missing: Any) -> None:
    """ModelLoadError when the checkpoint's CTC head is among its `missing` parameters."""
    untrained = sorted(k for k in missing if k.startswith(HEADS))
    if untrained:
        raise ModelLoadError(
            f"model '{files.model}' has no trained CTC head ({', '.join(untrained)} missing): it is a pretrained "
            "encoder, not a checkpoint fine-tuned for speech recognition"
        )

__all__ = ["CTC_MODELS", "load_native_network", "load_network", "native_weights", "network_class",
           "require_model_files"]
