"""The training loop, on accelerate: devices, mixed precision and DDP from accelerate, the rest here.

Each optimizer step takes its micro-batches from the epoch plan (`sampler.py`); in a distributed
run every process computes the same plan and takes its own share, and each utterance's loss is
divided by the number of utterances in the whole step, so N processes train exactly the steps
one process with N times the accumulation trains. A step whose gradients are not finite is not
applied (counted in `skipped_steps`). Checkpoints are saved every `save_every` steps and when
the run is stopped; the random states are captured before a checkpoint and restored after its
evaluation, so that saving and scoring change nothing of what follows.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..audio.decode import SAMPLE_RATE
from ..evaluation.data import EvalDataset
from ..language.table import LanguageTable
from .audio_cache import AudioCache
from .checkpoints import (CARD, capture_rng, checkpoint_path, copy_as_best, prune, publish, restore_rng,
                          save_model_folder, write_rng, write_training_state)
from .dev_eval import DevScores, append_history, dev_table, evaluate_folder, model_card
from .events import CheckpointSaved, EventHandler, StepDone, TrainingStarted
from .loss import CTCBatch, CTCCollator, utterance_losses, utterance_nll
from .options import TrainOptions
from .preflight import PreparedUtterance
from .sampler import EpochPlanner, SamplerPosition, Step

LOG = "train_log.jsonl"


@dataclass(frozen=True)
class RunSetup:
    """Everything the loop needs besides the model."""

    output: Path
    utterances: tuple[PreparedUtterance, ...]
    cache: AudioCache
    feature_extractor: Any
    tokenizer: Any
    table: LanguageTable
    dev: EvalDataset | None
    planner: EpochPlanner
    total_steps: int
    settings: dict[str, Any]  # what a resumed run must share with this one (and the card's facts)
    seconds_by_language: dict[str, float]


@dataclass
class Progress:
    """Where the run stands (saved in every checkpoint)."""

    step: int = 0
    position: SamplerPosition = SamplerPosition(0, 0)
    skipped_steps: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"step": self.step, "epoch": self.position.epoch, "epoch_step": self.position.step,
                "skipped_steps": self.skipped_steps}

    @classmethod
    def from_dict(cls, row: dict[str, int]) -> "Progress":
        return cls(row["step"], SamplerPosition(row["epoch"], row["epoch_step"]), row["skipped_steps"])


class Trainer:
    def __init__(self, accelerator: Any, model: Any, setup: RunSetup, options: TrainOptions,
                 on_event: EventHandler, stop: Callable[[], bool], history: list[DevScores]) -> None:
        self.accelerator = accelerator
        self.model = model
        self.setup = setup
        self.options = options
        self.on_event = on_event
        self.stop = stop
        self.history = history  # dev results so far (step 0 first)
        self.collator = CTCCollator(setup.feature_extractor)
        self.blank = int(setup.tokenizer.pad_token_id)
        self.trainable = [p for p in model.parameters() if p.requires_grad]

    # ------------------------------------------------------------------ the loop

    def run(self, progress: Progress, resume_tensors: dict[str, Any] | None) -> tuple[Progress, bool]:
        """Train from `progress` to the last step; (progress, whether it was stopped early)."""
        from transformers import get_linear_schedule_with_warmup

        acc, options = self.accelerator, self.options
        optimizer = torch.optim.AdamW(self.trainable, lr=options.learning_rate, weight_decay=options.weight_decay)
        scheduler = get_linear_schedule_with_warmup(optimizer, options.warmup_steps, self.setup.total_steps)
        model, optimizer = acc.prepare(self.model, optimizer)
        if resume_tensors is not None:
            optimizer.load_state_dict(resume_tensors["optimizer"])
            scheduler.load_state_dict(resume_tensors["scheduler"])
            if acc.scaler is not None and resume_tensors.get("scaler"):
                acc.scaler.load_state_dict(resume_tensors["scaler"])
        model.train()
        left_out = self.setup.planner.steps(0)[1]
        self.on_event(TrainingStarted(progress.step, self.setup.total_steps, acc.num_processes,
                                      str(acc.mixed_precision), str(acc.device), left_out, options.warmup_steps))
        while progress.step < self.setup.total_steps:
            steps, _ = self.setup.planner.steps(progress.position.epoch)
            for index in range(progress.position.step, len(steps)):
                if progress.step >= self.setup.total_steps:
                    break
                event = self._step(model, optimizer, scheduler, steps[index], progress)
                progress.position = SamplerPosition(progress.position.epoch, index + 1)
                self._log(event)
                self.on_event(event)
                stopping = self._stopping()
                if stopping or progress.step % options.save_every == 0 or progress.step == self.setup.total_steps:
                    self.checkpoint(model, optimizer, scheduler, progress)
                if stopping:
                    return progress, True
            progress.position = SamplerPosition(progress.position.epoch + 1, 0)
        return progress, False

    def _stopping(self) -> bool:
        """The stop request, agreed by every process (one Ctrl-C reaches them at different moments)."""
        flag = torch.tensor(1.0 if self.stop() else 0.0, device=self.accelerator.device)
        if self.accelerator.num_processes > 1:
            flag = self.accelerator.reduce(flag, "sum")
        return bool(flag.item() > 0)

    def _batch(self, indices: list[int]) -> CTCBatch:
        items = [self.setup.utterances[i] for i in indices]
        return self.collator([self.setup.cache.samples(u.clip) for u in items], [u.labels for u in items])

    def _step(self, model: Any, optimizer: Any, scheduler: Any, step: Step, progress: Progress) -> StepDone:
        acc, options = self.accelerator, self.options
        started = time.monotonic()
        accum = options.grad_accum
        mine = step[acc.process_index * accum : (acc.process_index + 1) * accum]
        count = sum(len(batch) for batch in step)
        audio = sum(self.setup.utterances[i].clip.length for batch in step for i in batch) / SAMPLE_RATE
        network = acc.unwrap_model(model)
        total = torch.zeros((), device=acc.device)
        for k, indices in enumerate(mine):
            batch = self._batch(indices).to(acc.device)
            with acc.no_sync(model) if k < len(mine) - 1 else nullcontext():
                with acc.autocast():
                    logits = model(batch.input_values, attention_mask=batch.attention_mask).logits
                frames = network._get_feat_extract_output_lengths(batch.samples)
                losses = utterance_losses(utterance_nll(logits, frames, batch, self.blank), batch.label_lengths,
                                          options.loss, options.focal_gamma)
                acc.backward(losses.sum() * acc.num_processes / count)
            total += losses.detach().sum()
        norm = acc.clip_grad_norm_(self.trainable, options.max_grad_norm)
        learning_rate = scheduler.get_last_lr()[0]
        if acc.scaler is not None:  # fp16: the gradient scaler skips non-finite steps itself
            optimizer.step()
            skipped = bool(acc.optimizer_step_was_skipped)
        else:
            skipped = not bool(torch.isfinite(norm))
            if not skipped:
                optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss = float(acc.reduce(total, "sum")) / count if acc.num_processes > 1 else float(total) / count
        progress.step += 1
        progress.skipped_steps += int(skipped)
        return StepDone(progress.step, self.setup.total_steps, progress.position.epoch, loss, learning_rate,
                        float(norm), skipped, progress.skipped_steps, audio, time.monotonic() - started)

    def _log(self, event: StepDone) -> None:
        if self.accelerator.is_main_process:
            with open(self.setup.output / LOG, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(asdict(event)) + "\n")

    # ------------------------------------------------------------------ checkpoints

    def _card(self, folder: Path, step: int, table: str | None) -> str:
        settings = self.setup.settings
        return model_card(folder.name, settings["base"], step, self.setup.total_steps, self.setup.seconds_by_language,
                          settings["added"], settings["new_languages"], table)

    def save_initial(self, folder: Path) -> None:
        """The base with this run's vocabulary, before any step (scored: the 'before' column)."""
        if self.accelerator.is_main_process:
            temporary = folder.with_name(folder.name + ".tmp")
            shutil.rmtree(temporary, ignore_errors=True)
            save_model_folder(temporary, self.model, self.setup.tokenizer, self.setup.feature_extractor,
                              self.setup.table, self._card(folder, 0, None))
            publish(temporary, folder)
        self.score(folder, 0)

    def score(self, folder: Path, step: int) -> None:
        """Score a saved checkpoint on the dev set (the first process; the others wait)."""
        if self.accelerator.is_main_process:
            self._evaluate(folder, step)
        self.accelerator.wait_for_everyone()

    def checkpoint(self, model: Any, optimizer: Any, scheduler: Any, progress: Progress) -> None:
        acc = self.accelerator
        final = checkpoint_path(self.setup.output, progress.step)
        temporary = final.with_name(final.name + ".tmp")
        rng = capture_rng()
        if acc.is_main_process:
            shutil.rmtree(temporary, ignore_errors=True)
            save_model_folder(temporary, acc.unwrap_model(model), self.setup.tokenizer, self.setup.feature_extractor,
                              self.setup.table, self._card(final, progress.step, None))
            tensors = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                       "scaler": acc.scaler.state_dict() if acc.scaler is not None else {}}
            write_training_state(temporary, self.setup.settings, progress.to_dict(), tensors)
        acc.wait_for_everyone()
        write_rng(temporary, acc.process_index, rng)
        acc.wait_for_everyone()
        if acc.is_main_process:
            publish(temporary, final)
            prune(self.setup.output, self.options.keep_checkpoints)
            scores, table, best = self._evaluate(final, progress.step)
            self.on_event(CheckpointSaved(progress.step, final, scores, table, best))
        acc.wait_for_everyone()
        restore_rng(rng)

    def _evaluate(self, folder: Path, step: int) -> tuple[DevScores | None, str | None, bool]:
        """Score a saved folder on the dev set and put the table in its card; keep it as best/ when its
        CER is the lowest of the run's checkpoints so far. Returns (scores, table, became best)."""
        if self.setup.dev is None or not self.options.evaluate or not self.setup.dev.utterances:
            return None, None, False
        scores = evaluate_folder(folder, self.setup.dev, step, str(self.accelerator.device), self.options.eval_dtype)
        earlier = [s.cer for s in self.history if s.step > 0 and not math.isnan(s.cer)]
        before = self.history[0] if self.history and self.history[0].step == 0 else None
        self.history.append(scores)
        append_history(self.setup.output, scores)
        table = dev_table(scores, before, self.setup.settings["new_languages"])
        (folder / CARD).write_text(self._card(folder, step, table), encoding="utf-8")
        best = step > 0 and not math.isnan(scores.cer) and (not earlier or scores.cer < min(earlier))
        if best:
            copy_as_best(folder, self.setup.output)
        return scores, table, best


def seed_everything(seed: int) -> None:
    """Seed torch, numpy's global generator (transformers' SpecAugment draws from it) and Python's."""
    import random

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
