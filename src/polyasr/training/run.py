"""One training run from start to end: data, audio cache, checks, vocabulary, model, loop."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import OptionsError, PolyasrError
from ..model.runtime import cpu_has_fast_bf16
from .audio_cache import AudioCache
from .base_model import inspect_base, frame_counter, load_network
from .checkpoints import BEST, INITIAL, list_checkpoints, read_rng, read_training_state, restore_rng
from .data import DataSource, read_source
from .dev_eval import read_history
from .events import CacheProgress, Event, PreflightDone
from .options import DataOptions, TrainOptions
from .preflight import PreflightReport, run_preflight
from .sampler import EpochPlanner
from .trainer import LOG, Progress, RunSetup, Trainer, seed_everything
from .vocabulary import save_tokenizer

CACHE_DIR = "audio-cache"
# Options that may change when a run is resumed: they do not alter what is computed.
RESUMABLE_CHANGES = ("save_every", "keep_checkpoints", "evaluate", "eval_dtype", "device")


@dataclass(frozen=True)
class TrainOutcome:
    """What a run did."""

    report: PreflightReport
    steps: int  # optimizer steps done (0 for a check)
    total_steps: int  # steps the run is planned for (0 for a check)
    skipped_steps: int  # steps not applied because their gradients were not finite
    interrupted: bool  # stopped before the last step (a checkpoint was saved)
    last_checkpoint: Path | None
    best: Path | None  # <output>/best, when a dev set chose one


def _mixed_precision(precision: str, on_cpu: bool) -> str:
    if precision == "fp32":
        return "no"
    if precision == "fp16" and on_cpu:
        raise OptionsError("fp16 training needs a CUDA GPU; use bf16 or fp32 on a CPU")
    if precision == "auto":
        if on_cpu:
            return "bf16" if cpu_has_fast_bf16() else "no"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return precision


def make_accelerator(options: TrainOptions, layerdrop: float) -> Any:
    """accelerate's Accelerator for this machine or launch (`accelerate launch`, `torchrun`: DDP)."""
    try:
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs
    except ImportError as error:
        raise PolyasrError("training needs accelerate: pip install 'polyasr[train]'") from error
    from accelerate.state import AcceleratorState

    # accelerate keeps its settings process-wide; a second run in the same process (a notebook, the
    # tests) may choose another precision. The process group, if any, is kept.
    AcceleratorState._reset_state()
    on_cpu = options.device == "cpu" or not torch.cuda.is_available()
    handlers = [
        DistributedDataParallelKwargs(find_unused_parameters=layerdrop > 0),  # skipped layers have no gradients
        # the other processes wait while the first one scores the dev set
        InitProcessGroupKwargs(timeout=timedelta(hours=3)),
    ]
    return Accelerator(cpu=options.device == "cpu", mixed_precision=_mixed_precision(options.precision, on_cpu),
                       kwargs_handlers=handlers)


def _fingerprint(report: PreflightReport) -> str:
    digest = hashlib.sha256()
    for u in report.kept:
        digest.update(f"{u.id}\t{u.language}\t{u.clip.length}\t{u.text}\n".encode("utf-8"))
    return digest.hexdigest()


def _settings(base: str, report: PreflightReport, data: DataOptions, options: TrainOptions, processes: int,
              total_steps: int) -> dict[str, Any]:
    training = {k: v for k, v in asdict(options).items() if k not in RESUMABLE_CHANGES}
    return {
        "base": base, "added": list(report.plan.added), "new_languages": list(report.plan.new_languages),
        "data": _fingerprint(report), "utterances": len(report.kept), "data_options": asdict(data),
        "train_options": training, "processes": processes, "total_steps": total_steps,
    }


def _check_same(saved: dict[str, Any], current: dict[str, Any], checkpoint: Path) -> None:
    for key in ("data", "data_options", "train_options", "processes", "total_steps"):
        if saved[key] != current[key]:
            if isinstance(saved[key], dict):
                what = next(k for k in {**saved[key], **current[key]} if saved[key].get(k) != current[key].get(k))
                detail = f"{what}: {saved[key][what]!r} then, {current[key].get(what)!r} now"
            elif key == "data":
                detail = "the kept utterances differ (data or preflight options changed)"
            else:
                detail = f"{key}: {saved[key]!r} then, {current[key]!r} now"
            raise PolyasrError(f"cannot resume {checkpoint} exactly: {detail}; use the run's options or a new --output")


def _fill_cache(accelerator: Any, cache_dir: Path, report_paths: list[str], on_event: Callable[[Event], None]) -> AudioCache:
    if accelerator.is_main_process:
        AudioCache(cache_dir).fill(report_paths, on_progress=lambda done, total: on_event(CacheProgress(done, total)))
    accelerator.wait_for_everyone()
    return AudioCache(cache_dir)


def _newest_checkpoint(output: Path, resume: bool, check_only: bool) -> Path | None:
    """The checkpoint to resume from; refuses to overwrite a run or to resume nothing."""
    checkpoints = list_checkpoints(output)
    if check_only:
        return checkpoints[-1][1] if resume and checkpoints else None
    if resume and not checkpoints:
        raise PolyasrError(f"{output} holds no checkpoint to resume; start without --resume")
    if not resume and checkpoints:
        raise PolyasrError(f"{output} already holds a run ({checkpoints[-1][1].name}); pass --resume to continue it, "
                           "or choose another --output")
    return checkpoints[-1][1] if checkpoints else None


def _planner(report: PreflightReport, frames: Callable[[np.ndarray], np.ndarray], data_options: DataOptions,
             options: TrainOptions, processes: int) -> tuple[EpochPlanner, int]:
    """The epoch plan and the number of steps; refuses data that makes no step or cannot be masked."""
    if not report.kept:
        raise PolyasrError("no utterance is left to train on (see the checks above)")
    shortest = min(u.clip.length for u in report.kept)
    if options.mask_time_prob > 0 and int(frames(np.array([shortest]))[0]) <= options.mask_time_length:
        raise OptionsError(f"the shortest clip has fewer frames than a SpecAugment time mask ({options.mask_time_length}); "
                           "raise --min-seconds or lower --mask-time-length")
    planner = EpochPlanner([u.clip.length for u in report.kept], [u.language for u in report.kept], data_options,
                           options.seed, processes * options.grad_accum)
    total_steps = options.max_steps or planner.total_steps(options.epochs)
    if total_steps < 1 or not planner.steps(0)[0]:
        raise PolyasrError(f"the data makes no full step: {processes} process(es) x {options.grad_accum} accumulation "
                           "need that many batches; use less --batch-seconds")
    return planner, total_steps


def train(
    base: str,
    data: DataSource,
    output: str | Path,
    dev: DataSource | None = None,
    data_options: DataOptions = DataOptions(),
    options: TrainOptions = TrainOptions(),
    *,
    check_only: bool = False,
    resume: bool = False,
    cache_dir: str | Path | None = None,
    on_event: Callable[[Event], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> TrainOutcome:
    """Check the data, then (unless `check_only`) fine-tune `base` on it, writing checkpoints to `output`.

    `resume` continues from the newest checkpoint in `output` exactly where it stopped. `stop()`
    is asked after every step; when it returns True a checkpoint is saved and the run returns.
    """
    emit = on_event or (lambda event: None)
    output = Path(output)
    checkpoint = _newest_checkpoint(output, resume, check_only)
    source = inspect_base(str(checkpoint) if checkpoint else base)
    layerdrop = options.layerdrop if options.layerdrop is not None else getattr(source.config, "layerdrop", 0.0)
    accelerator = make_accelerator(options, layerdrop)
    main = accelerator.is_main_process

    dataset, other_languages = read_source(data)
    dev_set = read_source(dev)[0] if dev is not None else None
    cache = _fill_cache(accelerator, Path(cache_dir) if cache_dir else output / CACHE_DIR,
                        [u.audio for u in dataset.utterances], emit)
    frames = frame_counter(source.config)
    report = run_preflight(dataset, cache, source.vocabulary, source.table, data_options, frames)
    if main:
        emit(PreflightDone(report, len(dev_set.utterances) if dev_set else 0,
                           tuple(f"{r.where}: {r.reason}" for r in (dev_set.bad_rows if dev_set else ())), other_languages))
    if check_only:
        return TrainOutcome(report, 0, 0, 0, False, None, None)

    planner, total_steps = _planner(report, frames, data_options, options, accelerator.num_processes)
    settings = _settings(base, report, data_options, options, accelerator.num_processes, total_steps)
    progress, tensors = Progress(), None
    if checkpoint is not None:
        saved, saved_progress, tensors = read_training_state(checkpoint)
        _check_same(saved, settings, checkpoint)
        settings.update(base=saved["base"], added=saved["added"], new_languages=saved["new_languages"])
        progress = Progress.from_dict(saved_progress)

    model = load_network(source, report.plan, options)
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = source.tokenizer if checkpoint else save_tokenizer(report.plan.vocabulary, Path(scratch), source.tokenizer)
    setup = RunSetup(output, report.kept, cache, source.feature_extractor, tokenizer, report.plan.table, dev_set,
                     planner, total_steps, settings, report.seconds_by_language())
    done = progress.step if checkpoint is not None else -1  # a fresh run keeps no earlier lines
    history = read_history(output, done) if main else []
    if main:
        _truncate_log(output, done)
    trainer = Trainer(accelerator, model, setup, options, emit if main else (lambda e: None), stop or (lambda: False), history)
    if checkpoint is None:
        trainer.save_initial(output / INITIAL)
        seed_everything(options.seed + accelerator.process_index)
    else:
        if all(h.step != progress.step for h in history):  # stopped between saving and scoring it
            trainer.score(checkpoint, progress.step)
        restore_rng(read_rng(checkpoint, accelerator.process_index))
    progress, interrupted = trainer.run(progress, tensors)
    last = list_checkpoints(output)
    best = output / BEST
    return TrainOutcome(report, progress.step, total_steps, progress.skipped_steps, interrupted,
                        last[-1][1] if last else None, best if best.is_dir() else None)


def _truncate_log(output: Path, step: int) -> None:
    """Keep the log lines of steps <= `step` (a resumed run writes the later ones again)."""
    path = output / LOG
    output.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
