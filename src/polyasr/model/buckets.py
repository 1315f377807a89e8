"""Padded lengths that do not depend on batch-mates, and batches of windows that share one.

An input's logits depend on the length it is padded to (the attention and the convolutions see a
different shape), but, for a given padded length, not on the other rows of its batch. So every
input is padded to a length chosen from its own length alone (`bucket_length`), whether it runs
alone or batched, and a batch only holds inputs of one bucket: an input's text then does not depend
on what it is batched with.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from ..audio.decode import SAMPLE_RATE
from ..errors import OptionsError

BUCKET_ANCHOR = 30 * SAMPLE_RATE  # a bucket length, like half of it: full windows of 30 s or the default 15 s are not padded
BUCKETS_PER_OCTAVE = 16  # lengths in (A/2, A] are padded to multiples of A/32: at most 6.25 % padding


def bucket_length(num_samples: int, samples_per_frame: int, anchor: int = BUCKET_ANCHOR) -> int:
    """The padded length of an input of `num_samples`: the smallest grid point >= it.

    The grid is anchor x 2^e x m / 32 for whole e and m in 17..32 (16 lengths per octave, `anchor`
    among them), each rounded up to whole frames of `samples_per_frame`. Padding adds at most
    1 / 16 of the length (plus less than one frame).
    """
    if num_samples < 1 or samples_per_frame < 1 or anchor < 1:
        raise OptionsError(f"bucket_length needs positive sizes, got {num_samples}, {samples_per_frame}, {anchor}")
    top = Fraction(anchor)  # the octave (top / 2, top] that holds num_samples
    while num_samples > top:
        top *= 2
    while num_samples <= top / 2:
        top /= 2
    step = top / (2 * BUCKETS_PER_OCTAVE)
    length = -(-num_samples // step) * step  # ceil to the grid
    return -(-length // samples_per_frame) * samples_per_frame  # ceil to whole frames


def plan_batches(
    lengths: Sequence[int], max_batch_samples: int, max_batch_size: int = 64, min_fill: float = 0.8
) -> list[list[int]]:
    """Indices of `lengths` grouped into batches, longest first.

    Inputs are sorted by length so that neighbours pad little. A batch is closed when adding the next
    input would make `batch_size x longest_length` exceed `max_batch_samples` (the padded size the
    model really computes), when the batch has `max_batch_size` inputs, or when the next input is
    shorter than `min_fill` x the batch's longest (padding is computed like audio: on a CPU a batch
    gains nothing that would pay for it). An input longer than `max_batch_samples` gets a batch of
    its own. With `min_fill=1.0` a batch holds inputs of one length only (what inference does
    with `bucket_length`s).
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
