"""Which utterances form each optimizer step: batches capped by padded audio seconds, in a seeded order.

An epoch's plan depends only on the seed and the epoch number, so a resumed run (or any process of a
distributed run) computes the same plan and finds its place from (epoch, step). Utterances are
grouped with `model.buckets.plan_batches` (length-sorted, `batch size x longest clip` capped); a random
permutation first varies which clips of equal length share a batch, and the batches are then
shuffled. A step takes `batches_per_step` consecutive batches (processes x accumulation); the
batches left at an epoch's end that do not fill a step are not used in that epoch (fewer than
`batches_per_step`; the next epoch's plan groups the clips differently).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..model.buckets import plan_batches
from .options import DataOptions

Step = list[list[int]]  # the micro-batches of one optimizer step, each a list of utterance indices


@dataclass(frozen=True)
class SamplerPosition:
    """Where a run stands: the next step is step `step` (0-based) of epoch `epoch` (0-based)."""

    epoch: int
    step: int


class EpochPlanner:
    """The steps of every epoch, from utterance lengths (samples) and languages."""

    def __init__(self, lengths: Sequence[int], languages: Sequence[str], options: DataOptions, seed: int,
                 batches_per_step: int) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.languages = list(languages)
        self.options = options
        self.seed = seed
        self.batches_per_step = batches_per_step

    def _draw(self, rng: np.random.Generator) -> np.ndarray:
        """This epoch's utterances: each once, or a language-balanced draw (see DataOptions.balance_alpha)."""
        everything = np.arange(len(self.lengths))
        if self.options.balance_alpha is None:
            return rng.permutation(everything)
        groups: dict[str, list[int]] = defaultdict(list)
        for index, language in enumerate(self.languages):
            groups[language].append(index)
        sizes = {code: len(members) for code, members in groups.items()}
        weights = {code: n ** self.options.balance_alpha for code, n in sizes.items()}
        total_weight = sum(weights.values())
        drawn = []
        for code in sorted(groups):
            members = np.array(groups[code])
            want = max(1, round(len(everything) * weights[code] / total_weight))
            whole, part = divmod(want, len(members))
            drawn += [members] * whole + [rng.choice(members, part, replace=False)]
        return rng.permutation(np.concatenate(drawn))

    def steps(self, epoch: int) -> tuple[list[Step], int]:
        """The epoch's steps, and how many batches were left over (fewer than one step's worth)."""
        rng = np.random.default_rng([self.seed, epoch])
        chosen = self._draw(rng)
        batches = plan_batches(
            self.lengths[chosen].tolist(), round(self.options.batch_seconds * SAMPLE_RATE),
            self.options.max_batch_size, min_fill=0.0,
        )
        order = rng.permutation(len(batches))
        planned = [[int(chosen[i]) for i in batches[b]] for b in order]
        count = len(planned) // self.batches_per_step
        steps = [planned[k * self.batches_per_step : (k + 1) * self.batches_per_step] for k in range(count)]
        return steps, len(planned) - count * self.batches_per_step

    def total_steps(self, epochs: float) -> int:
        """Optimizer steps in `epochs` epochs (a fractional last epoch takes its share of steps)."""
        whole = int(epochs)
        total = sum(len(self.steps(e)[0]) for e in range(whole))
        if epochs > whole:
            total += int(len(self.steps(whole)[0]) * (epochs - whole))
        return total
