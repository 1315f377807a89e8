"""What a training run reports while it works (the CLI turns these into progress bars and lines)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from .dev_eval import DevScores
from .preflight import PreflightReport


@dataclass(frozen=True)
class CacheProgress:
    """Clips decoded into the audio cache so far."""

    done: int
    total: int


@dataclass(frozen=True)
class PreflightDone:
    """The checks are finished; training starts next (unless it is a check only)."""

    report: PreflightReport
    dev_utterances: int  # in the dev set (0: none)
    dev_bad_rows: tuple[str, ...]  # "where: reason" of dev rows that could not be read
    other_languages: int  # manifest rows left out because their language is not among `languages`


@dataclass(frozen=True)
class TrainingStarted:
    """The loop begins (at `step` > 0 when resumed)."""

    step: int
    total_steps: int
    processes: int
    precision: str  # accelerate's mixed precision: "no", "bf16" or "fp16"
    device: str
    batches_left_out: int  # of the first epoch: too few to fill a step, not used in that epoch
    warmup_steps: int = 0  # the learning rate's linear warm-up (TrainOptions.warmup_steps)


@dataclass(frozen=True)
class StepDone:
    """One optimizer step."""

    step: int
    total_steps: int
    epoch: int
    loss: float  # mean per-utterance loss of the step (all processes)
    learning_rate: float  # used by this step
    grad_norm: float  # before clipping
    skipped: bool  # the gradients were not finite: no update
    skipped_steps: int  # skipped so far in the run
    audio_seconds: float  # audio in the step (all processes)
    seconds: float  # wall time of the step


@dataclass(frozen=True)
class CheckpointSaved:
    """A checkpoint folder is complete (and scored, when there is a dev set)."""

    step: int
    path: Path
    scores: DevScores | None
    table: str | None  # the dev table (Markdown)
    best: bool  # it became <output>/best


Event = Union[CacheProgress, PreflightDone, TrainingStarted, StepDone, CheckpointSaved]
EventHandler = Callable[[Event], None]
