"""Per-language adapters (MMS): one base network, a small adapter and CTC head per language.

Such a checkpoint has a nested vocab.json (language code -> that language's vocabulary), a config
with ``adapter_attn_dim``, and one ``adapter.<code>.safetensors`` (or ``.bin``) per language. The
base weights are loaded once; choosing a language loads only its adapter, through transformers'
``Wav2Vec2ForCTC.load_adapter`` (TorchBackend.use_adapter), and decodes with its vocabulary. A
forward pass runs one adapter: `CTCModel.logits` switches it under the backend's lock.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .checkpoint import ModelFiles, fit_vocabulary, load_tokenizer
from ..decoding.ctc import Vocabulary
from ..errors import LanguageError, ModelLoadError
from ..language.codes import match_code

FALLBACK_DEFAULT = "eng"  # MMS checkpoints are saved with the English adapter in their main weights


def nested_vocabulary(path: Path) -> dict[str, dict[str, int]] | None:
    """vocab.json's per-language vocabularies when it is nested (MMS), else None."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{path}: not a readable vocab.json ({error})") from error
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        return data
    return None


class AdapterSet:
    """The language adapters of one checkpoint: their codes, vocabularies and weight files."""

    def __init__(self, files: ModelFiles, vocabularies: dict[str, dict[str, int]], default: str | None) -> None:
        self.files = files
        self.codes: tuple[str, ...] = tuple(sorted(vocabularies))  # the adapters' language codes (ISO 639-3 in MMS)
        # the language "auto" decodes: the tokenizer's target_lang, else "eng" when there is one
        self.default = default if default in vocabularies else (FALLBACK_DEFAULT if FALLBACK_DEFAULT in vocabularies else None)
        self._vocabularies: dict[str, Vocabulary] = {}

    def resolve(self, language: str) -> str:
        """The adapter code for what the user typed ("fra", "fr", "French"); LanguageError if none fits."""
        return match_code(language, self.codes)

    def weights(self, code: str) -> Path:
        """The adapter's weight file, made local (the model folder or the Hub cache)."""
        path = self.files.file([f"adapter.{code}.safetensors", f"adapter.{code}.bin"])
        if path is None:
            raise LanguageError(f"model '{self.files.model}' has a vocabulary for '{code}' but no adapter.{code}.safetensors")
        return path

    def vocabulary(self, code: str) -> Vocabulary:
        """Language `code`'s tokenizer vocabulary, fitted to its adapter's CTC head."""
        if code not in self._vocabularies:
            tokenizer = load_tokenizer(self.files, target_lang=code)
            self._vocabularies[code] = fit_vocabulary(tokenizer, _head_size(self.weights(code)), f"{self.files.model} ({code})")
        return self._vocabularies[code]


def _head_size(path: Path) -> int:
    """Rows of the adapter's CTC head (lm_head.weight), read without loading the weights."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as weights:
            return int(weights.get_slice("lm_head.weight").get_shape()[0])
    import torch

    state: Any = torch.load(path, map_location="cpu", weights_only=True)
    return int(state["lm_head.weight"].shape[0])


__all__ = ["AdapterSet", "nested_vocabulary"]
