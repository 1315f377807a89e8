"""Options of `polyasr train`: what data is kept, how batches are formed, how the model is trained."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OptionsError

LOSSES = ("ctc", "focal")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # also the names of polyasr.load's dtype (eval_dtype)
VOCABULARY_MODES = ("extend", "keep")


@dataclass(frozen=True)
class DataOptions:
    """Which utterances are kept and how they are grouped into batches."""

    min_seconds: float = 0.5  # shorter clips are dropped (reported by id)
    max_seconds: float = 30.0  # longer clips are dropped, never cut (cutting audio without its text
    #                            is one of the original recipe's bugs)
    batch_seconds: float = 200.0  # padded audio seconds per micro-batch (batch size x longest clip)
    max_batch_size: int = 64  # utterances per micro-batch at most
    balance_alpha: float | None = None  # language-balanced sampling: each epoch draws language L with
    #                                     probability proportional to n_L ** alpha (0: uniform over
    #                                     languages, 1: as in the data); None: every utterance once
    vocabulary: str = "extend"  # "extend": characters the base lacks become new tokens;
    #                             "keep": utterances with such characters are dropped (reported)

    def __post_init__(self) -> None:
        if not 0 <= self.min_seconds < self.max_seconds:
            raise OptionsError(f"need 0 <= min_seconds < max_seconds, got {self.min_seconds} and {self.max_seconds}")
        if self.batch_seconds < self.max_seconds:
            raise OptionsError(
                f"batch_seconds ({self.batch_seconds}) must be at least max_seconds ({self.max_seconds}) "
                "so that the longest clip fits in a batch"
            )
        if self.max_batch_size < 1:
            raise OptionsError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.balance_alpha is not None and not 0 <= self.balance_alpha <= 1:
            raise OptionsError(f"balance_alpha must be within [0, 1], got {self.balance_alpha}")
        if self.vocabulary not in VOCABULARY_MODES:
            raise OptionsError(f"vocabulary must be one of {', '.join(VOCABULARY_MODES)}, got {self.vocabulary!r}")


@dataclass(frozen=True)
class TrainOptions:
    """How the model is optimised, checkpointed and evaluated."""

    epochs: float = 5.0  # passes over the data (fractions allowed); max_steps wins when given
    max_steps: int | None = None  # optimizer steps in all; None: from epochs
    learning_rate: float = 3e-5  # peak learning rate of AdamW (the original recipe: 1e-5)
    warmup_steps: int = 500  # linear warm-up, then linear decay to 0 at the last step
    weight_decay: float = 0.0  # AdamW weight decay
    grad_accum: int = 1  # micro-batches per optimizer step (per process)
    max_grad_norm: float = 1.0  # gradients are clipped to this global L2 norm
    precision: str = "auto"  # "auto" (bf16 where the hardware has it, else fp32), "fp32", "bf16", "fp16" (CUDA)
    loss: str = "ctc"  # "ctc", or "focal": per-utterance (1 - p)^gamma weighting, p = P(transcript | audio)
    focal_gamma: float = 2.0  # focal loss exponent
    freeze_feature_encoder: bool = True  # keep the convolutional front end fixed (as the original recipe)
    mask_time_prob: float = 0.05  # SpecAugment: share of frames masked in time (0: off)
    mask_time_length: int = 10  # SpecAugment: frames per time mask
    mask_feature_prob: float = 0.0  # SpecAugment: share of feature channels masked (0: off)
    mask_feature_length: int = 10  # SpecAugment: channels per feature mask
    layerdrop: float | None = None  # probability of skipping a transformer layer; None: the base's
    dropout: float | None = None  # hidden, attention and activation dropout; None: the base's
    save_every: int = 500  # optimizer steps between checkpoints (and dev evaluations)
    keep_checkpoints: int = 2  # newest checkpoints kept (best/ is kept apart)
    evaluate: bool = True  # score the dev set at every checkpoint (and before training)
    eval_dtype: str = "auto"  # precision of the dev evaluation (polyasr.load's dtype)
    seed: int = 0  # seeds the sampler, SpecAugment, dropout and the new head rows
    device: str = "auto"  # "auto" (accelerate's choice: GPU when there is one) or "cpu"

    def __post_init__(self) -> None:
        checks = [
            (self.epochs > 0, f"epochs must be > 0, got {self.epochs}"),
            (self.max_steps is None or self.max_steps >= 1, f"max_steps must be >= 1, got {self.max_steps}"),
            (self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}"),
            (self.warmup_steps >= 0, f"warmup_steps must be >= 0, got {self.warmup_steps}"),
            (self.grad_accum >= 1, f"grad_accum must be >= 1, got {self.grad_accum}"),
            (self.max_grad_norm > 0, f"max_grad_norm must be > 0, got {self.max_grad_norm}"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"),
            (self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}"),
            (self.focal_gamma >= 0, f"focal_gamma must be >= 0, got {self.focal_gamma}"),
            (0 <= self.mask_time_prob < 1, f"mask_time_prob must be within [0, 1), got {self.mask_time_prob}"),
            (0 <= self.mask_feature_prob < 1, f"mask_feature_prob must be within [0, 1), got {self.mask_feature_prob}"),
            (self.mask_time_length >= 1, f"mask_time_length must be >= 1, got {self.mask_time_length}"),
            (self.mask_feature_length >= 1, f"mask_feature_length must be >= 1, got {self.mask_feature_length}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (self.layerdrop is None or 0 <= self.layerdrop < 1, f"layerdrop must be within [0, 1), got {self.layerdrop}"),
            (self.dropout is None or 0 <= self.dropout < 1, f"dropout must be within [0, 1), got {self.dropout}"),
            (self.save_every >= 1, f"save_every must be >= 1, got {self.save_every}"),
            (self.keep_checkpoints >= 1, f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}"),
            (self.eval_dtype in PRECISIONS, f"eval_dtype must be one of {', '.join(PRECISIONS)}, got {self.eval_dtype!r}"),
            (self.device in ("auto", "cpu"), f"device must be 'auto' or 'cpu', got {self.device!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise OptionsError(message)
