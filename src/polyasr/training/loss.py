"""Batches and the CTC loss: padding lives in one small collator, the loss is computed per utterance.

Targets are the utterances' labels concatenated, with their lengths: no padding value and no
blank ever enters a target (the original recipe appended the pad token, which is the CTC blank,
to every target). The loss of an utterance is its CTC negative log-likelihood divided by its
number of labels (transformers' "mean" reduction); the focal variant weights each utterance by
(1 - p)^gamma with p = exp(-NLL), the probability of its whole transcript, so confident
utterances count less. The original recipe applied that factor to the batch mean instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from ..audio.decode import SAMPLE_RATE


@dataclass(frozen=True)
class CTCBatch:
    """A padded micro-batch."""

    input_values: torch.Tensor  # (batch, samples) normalised audio, padded
    attention_mask: torch.Tensor | None  # (batch, samples), when the model takes one
    labels: torch.Tensor  # (sum of label lengths,) every utterance's labels, concatenated
    label_lengths: torch.Tensor  # (batch,)
    samples: torch.Tensor  # (batch,) real samples of each utterance

    def to(self, device: torch.device) -> "CTCBatch":
        mask = None if self.attention_mask is None else self.attention_mask.to(device)
        return CTCBatch(self.input_values.to(device), mask, self.labels.to(device), self.label_lengths.to(device),
                        self.samples.to(device))


@dataclass(frozen=True)
class CTCCollator:
    """Normalises and pads audio with the model's own feature extractor; concatenates labels."""

    feature_extractor: Any  # Wav2Vec2FeatureExtractor

    def __call__(self, audios: Sequence[np.ndarray], labels: Sequence[Sequence[int]]) -> CTCBatch:
        features = self.feature_extractor(
            list(audios), sampling_rate=SAMPLE_RATE, padding=True, return_attention_mask=True, return_tensors="pt"
        )
        mask = features["attention_mask"].long() if self.feature_extractor.return_attention_mask else None
        return CTCBatch(
            input_values=features["input_values"],
            attention_mask=mask,
            labels=torch.tensor([i for row in labels for i in row], dtype=torch.long),
            label_lengths=torch.tensor([len(row) for row in labels], dtype=torch.long),
            samples=torch.tensor([len(a) for a in audios], dtype=torch.long),
        )


def utterance_nll(logits: torch.Tensor, frames: torch.Tensor, batch: CTCBatch, blank: int) -> torch.Tensor:
    """CTC negative log-likelihood of each utterance, in fp32 (shape: batch)."""
    log_probs = logits.float().log_softmax(dim=-1).transpose(0, 1)
    return torch.nn.functional.ctc_loss(
        log_probs, batch.labels, frames, batch.label_lengths, blank=blank, reduction="none", zero_infinity=True
    )


def utterance_losses(nll: torch.Tensor, label_lengths: torch.Tensor, kind: str, gamma: float) -> torch.Tensor:
    """Each utterance's loss: NLL per label, focal-weighted for kind "focal"."""
    per_label = nll / label_lengths.clamp(min=1).to(nll.dtype)
    if kind == "focal":
        return (1 - torch.exp(-nll)) ** gamma * per_label
    return per_label
