"""The base model of a training run: what it is, its vocabulary, and its network set up for training.

A base is either a CTC model (wav2vec2, HuBERT, WavLM, ... with a head and a vocab.json), whose
vocabulary is extended, or a pretrained speech encoder without a head
(facebook/wav2vec2-xls-r-300m), which gets a fresh vocabulary. Anything else is refused with a
message naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..audio.decode import SAMPLE_RATE
from ..model.checkpoint import ModelFiles, fit_vocabulary, load_tokenizer
from ..model.network import KNOWN_FRONT_ENDS
from ..decoding.ctc import Vocabulary
from ..errors import ModelLoadError
from ..language.table import LanguageTable
from ..model.ctc_model import load_language_table
from .options import TrainOptions
from .vocabulary import FRESH, VocabularyPlan, extend_ctc_head


@dataclass(frozen=True)
class BaseModel:
    """A base model's configuration and text side, read without its weights."""

    files: ModelFiles  # where its files come from (folder, Hub cache, Hub)
    config: Any  # transformers config
    tokenizer: Any | None  # Wav2Vec2CTCTokenizer; None for an encoder without a CTC head
    feature_extractor: Any  # Wav2Vec2FeatureExtractor (a default one when the encoder ships none)
    vocabulary: Vocabulary  # one token per class of the head, or a fresh vocabulary's special tokens
    table: LanguageTable | None  # lang_ids.json / lang_ids.pk, if the base has one

    @property
    def has_head(self) -> bool:
        return self.tokenizer is not None


def inspect_base(name: str) -> BaseModel:
    """Read a base model's config, tokenizer, feature extractor and language table (polyasr's loaders)."""
    from transformers import AutoConfig, AutoFeatureExtractor
    from transformers.models.auto.modeling_auto import MODEL_FOR_CTC_MAPPING_NAMES

    files = ModelFiles(name)
    config = files.load(AutoConfig, "its configuration")
    if config.model_type not in MODEL_FOR_CTC_MAPPING_NAMES:
        raise ModelLoadError(
            f"base model '{name}' is a {config.model_type!r} model, not a speech encoder a CTC head fits "
            f"(one of: {', '.join(sorted(MODEL_FOR_CTC_MAPPING_NAMES))})"
        )
    if config.model_type in KNOWN_FRONT_ENDS:
        raise ModelLoadError(
            f"base model '{name}' is a {config.model_type} model; polyasr trains the raw-audio wav2vec2 family with a "
            "character vocabulary, not yet models with log-mel inputs or subword tokenizers"
        )
    has_head = any(str(a).endswith("ForCTC") for a in (getattr(config, "architectures", None) or []))
    if not has_head:
        return BaseModel(files, config, None, _default_extractor(files, config), FRESH, None)
    tokenizer = load_tokenizer(files)
    extractor = files.load(AutoFeatureExtractor, "its feature extractor")
    if getattr(extractor, "sampling_rate", SAMPLE_RATE) != SAMPLE_RATE:
        raise ModelLoadError(f"base model '{name}' expects {extractor.sampling_rate} Hz audio; polyasr trains 16000 Hz models")
    vocabulary = fit_vocabulary(tokenizer, int(config.vocab_size), name)
    return BaseModel(files, config, tokenizer, extractor, vocabulary, load_language_table(files))


def _default_extractor(files: ModelFiles, config: Any) -> Any:
    """A pretrained encoder's feature extractor, or the wav2vec2 default when it ships none."""
    from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

    if files.file(["preprocessor_config.json", "processor_config.json"]) is not None:
        return files.load(AutoFeatureExtractor, "its feature extractor")
    return Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, do_normalize=True,
        return_attention_mask=getattr(config, "feat_extract_norm", "layer") == "layer",
    )


def frame_counter(config: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Frames the model emits for arrays of sample counts (the model's own formula, no weights loaded)."""
    from transformers import AutoModelForCTC

    with torch.device("meta"):
        shell = AutoModelForCTC.from_config(config)

    def frames(samples: np.ndarray) -> np.ndarray:
        lengths = torch.as_tensor(np.asarray(samples, dtype=np.int64))
        return shell._get_feat_extract_output_lengths(lengths).numpy()

    return frames


def training_overrides(options: TrainOptions) -> dict[str, Any]:
    """Config values the options set: SpecAugment, layer drop, dropout."""
    overrides: dict[str, Any] = dict(
        mask_time_prob=options.mask_time_prob, mask_time_length=options.mask_time_length,
        mask_feature_prob=options.mask_feature_prob, mask_feature_length=options.mask_feature_length,
    )
    if options.layerdrop is not None:
        overrides["layerdrop"] = options.layerdrop
    if options.dropout is not None:
        overrides.update(hidden_dropout=options.dropout, attention_dropout=options.dropout,
                         activation_dropout=options.dropout, feat_proj_dropout=options.dropout,
                         final_dropout=options.dropout)
    return overrides


def load_network(base: BaseModel, plan: VocabularyPlan, options: TrainOptions) -> Any:
    """The base's network with a head for `plan`'s vocabulary, configured for training (fp32)."""
    from transformers import AutoModelForCTC

    overrides = training_overrides(options)
    if base.has_head:
        model = base.files.load(AutoModelForCTC, "its weights", dtype=torch.float32, **overrides)
        extend_ctc_head(model, len(plan.vocabulary))
    else:
        torch.manual_seed(options.seed)  # the fresh head's initial weights
        model = base.files.load(AutoModelForCTC, "its weights", dtype=torch.float32, vocab_size=len(plan.vocabulary),
                                pad_token_id=plan.vocabulary.blank_id, **overrides)
    if options.freeze_feature_encoder:
        model.freeze_feature_encoder()
    return model
