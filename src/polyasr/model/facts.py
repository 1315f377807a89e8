"""What a loaded model supports, in one place: `CTCModel.describe()`, `--verbose`, /health, GET /v1/models.

Also reads the languages a checkpoint declares in its model card (README.md front matter
``language:``) or config, which is all a single-language fine-tune says about its language.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .checkpoint import ModelFiles
from ..errors import HubUnreachableError

NOT_LANGUAGES = frozenset({"multilingual", "code", "other"})  # card values that name no language


@dataclass(frozen=True)
class ModelFacts:
    """The facts of a loaded model that decide what it can do and how it runs."""

    name: str  # the Hub id or folder it was loaded from
    architecture: str  # transformers class, e.g. "Wav2Vec2ForCTC", "HubertForCTC"
    model_type: str  # config.model_type, e.g. "wav2vec2", "hubert", "wavlm", "data2vec-audio", "sew"
    languages: tuple[str, ...]  # codes `language=` accepts: the table's, the adapters', or the card's
    language_source: str | None  # where they come from: "language table", "adapters", "model card", "config"; None: unknown
    can_restrict: bool  # decoding can be restricted to one language's characters (a language table, or CLDR's letters via ICU)
    can_detect: bool  # the spoken language can be identified (needs a language table)
    adapters: bool  # per-language adapters (MMS): a language switches adapter weights and vocabulary
    default_language: str | None  # what "auto" decodes as: the default adapter, or a single-language model's language
    language_note: str | None  # why there is no language table, when there is none
    language_model_folder: bool  # the checkpoint ships language_model/ (an n-gram LM for beam search)
    vocabulary_size: int  # CTC classes of the head (of the default adapter for adapter models)
    frame_seconds: float  # time between CTC frames (0.02 s for a 320-sample stride at 16 kHz)
    sample_rate: int  # audio rate the model takes (polyasr resamples everything to it)
    attention_mask: bool  # the feature extractor passes an attention mask; False: zero padding is seen as audio
    front_end: str  # "raw audio" (samples through convolutions) or "log-mel" (the model's feature extractor per window)
    vocabulary_kind: str  # "characters" (a "|" delimiter between words) or "subwords" (SentencePiece "▁" word starts)
    fast_frontend: bool  # the time-major feature encoder of fast_frontend.py is in use
    backend: str  # "torch" or "onnx"
    device: str  # "cpu", "cuda", "cuda:1", "mps"
    precision: str  # "fp32", "bf16", "fp16", or "int8" (quantised ONNX weights)
    threads: int  # CPU threads of the network
    speed: str  # the backend's own one-line summary, e.g. "backend=torch device=cpu dtype=bf16 threads=2"

    def __str__(self) -> str:
        """One line: the speed path (as --verbose and the server log print it), then the model."""
        languages = f"{len(self.languages)} languages ({self.language_source})" if self.languages else "no language list"
        return (f"{self.speed} architecture={self.architecture} front_end={self.front_end.replace(' ', '-')} "
                f"frame={self.frame_seconds * 1000:g}ms vocabulary={self.vocabulary_kind} {languages}")

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return asdict(self)


def declared_languages(files: ModelFiles, config: Any) -> tuple[tuple[str, ...], str | None]:
    """The languages the model card's front matter (else the config) declares, and which of them said so.

    An unreachable Hub or an unreadable card yields nothing: the card only informs.
    """
    try:
        card = files.file(["README.md"])
    except HubUnreachableError:
        card = None
    if card is not None:
        codes = _card_languages(card)
        if codes:
            return codes, "model card"
    value = getattr(config, "language", None)
    codes = _codes(value)
    return (codes, "config") if codes else ((), None)


def _card_languages(path: Any) -> tuple[str, ...]:
    try:
        from huggingface_hub.repocard import metadata_load

        metadata = metadata_load(path) or {}
    except Exception:  # a card without front matter, or with invalid YAML, declares nothing
        return ()
    return _codes(metadata.get("language"))


def _codes(value: Any) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return tuple(dict.fromkeys(v.strip() for v in values if isinstance(v, str) and v.strip().casefold() not in NOT_LANGUAGES and v.strip()))


__all__ = ["ModelFacts", "declared_languages"]
