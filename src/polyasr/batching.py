"""Grouping inputs of different lengths into batches that waste little padding."""

from __future__ import annotations

from typing import Sequence


def plan_batches(lengths: Sequence[int], max_batch_samples: int, max_batch_size: int = 64) -> list[list[int]]:
    """Indices of `lengths` grouped into batches, longest first.

    Inputs are sorted by length so that neighbours pad little. A batch is closed when adding the next
    input would make `batch_size x longest_length` exceed `max_batch_samples` (the padded size the
    model really computes) or the batch would exceed `max_batch_size` inputs. An input longer than
    `max_batch_samples` gets a batch of its own.
    """
    if max_batch_samples < 1 or max_batch_size < 1:
        raise ValueError("max_batch_samples and max_batch_size must be >= 1")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = lengths[current[0]] if current else lengths[index]
        if current and ((len(current) + 1) * longest > max_batch_samples or len(current) == max_batch_size):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
