"""Grouping inputs of different lengths into batches that waste little padding."""

from __future__ import annotations

from typing import Sequence

from .errors import OptionsError


def plan_batches(
    lengths: Sequence[int], max_batch_samples: int, max_batch_size: int = 64, min_fill: float = 0.8
) -> list[list[int]]:
    """Indices of `lengths` grouped into batches, longest first.

    Inputs are sorted by length so that neighbours pad little. A batch is closed when adding the next
    input would make `batch_size x longest_length` exceed `max_batch_samples` (the padded size the
    model really computes), when the batch has `max_batch_size` inputs, or when the next input is
    shorter than `min_fill` x the batch's longest (padding is computed like audio: on a CPU a batch
    gains nothing that would pay for it). An input longer than `max_batch_samples` gets a batch of
    its own.
    """
    if max_batch_samples < 1 or max_batch_size < 1 or not 0.0 <= min_fill <= 1.0:
        raise OptionsError("max_batch_samples and max_batch_size must be >= 1 and min_fill within [0, 1]")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        full = (len(current) + 1) * longest > max_batch_samples or len(current) == max_batch_size
        if current and (full or lengths[index] < min_fill * longest):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
