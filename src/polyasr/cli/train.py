"""`polyasr train`: arguments, progress bars and reports. The only module of training that prints.

    polyasr train --base voidful/wav2vec2-xlsr-multilingual-56 --dataset /data/cv-corpus --languages rw,kab \\
                  --output runs/xlsr-58 --epochs 5
    polyasr train --base ./my-xlsr --manifest train.jsonl --dev dev.jsonl --output runs/domain --check-only
    polyasr train ... --resume                 # after a crash or Ctrl-C: continues exactly
    accelerate launch -m polyasr train ...     # or torchrun --nproc-per-node N -m polyasr train ...
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from pathlib import Path
from typing import Any

from .args import check_output_folder, split_codes
from .groups import add_batch_seconds_argument, add_data_source_arguments, add_device_argument, \
    add_threads_argument
from ..training.options import LOSSES, PRECISIONS, VOCABULARY_MODES, DataOptions, TrainOptions

SHOWN = 20  # report lines printed per section; the whole report is in <output>/preflight.txt
_DATA = DataOptions()
_TRAIN = TrainOptions()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `polyasr train`."""
    parser.add_argument("--base", default=None, help="model to start from: a CTC checkpoint (its vocabulary is extended) "
                        "or a pretrained encoder without head, e.g. facebook/wav2vec2-xls-r-300m (default: the 56-language model)")
    parser.add_argument("--output", "-o", required=True, help="run folder: checkpoints, best/, logs, audio cache")
    parser.add_argument("--dev", default=None, help="dev manifest (default with --dataset: its dev split, see --dev-languages)")
    parser.add_argument("--dev-split", default="dev", help="Common Voice split scored during training")
    parser.add_argument("--dev-languages", default=None, help="Common Voice dev languages (default: the training languages "
                        "plus the base's languages found in the dataset, so forgetting shows)")
    parser.add_argument("--dev-max-per-language", type=int, default=100, help="dev utterances per language (Common Voice)")
    parser.add_argument("--no-dev", action="store_true", help="no dev evaluation")
    parser.add_argument("--check-only", action="store_true", help="run the checks, print the report, train nothing")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output from its newest checkpoint")
    parser.add_argument("--cache-dir", default=None, help="decoded audio (default: <output>/audio-cache)")
    add_data_source_arguments(parser, split="train", split_help="Common Voice split to train on",
                              manifest_help="JSONL, CSV or TSV with audio, text and optional language, id columns",
                              languages_help="train on these languages only, e.g. rw,kab (default: all)",
                              max_per_language_help="first N good rows of each language (Common Voice)")

    group = parser.add_argument_group("data")
    group.add_argument("--min-seconds", type=float, default=_DATA.min_seconds, help="drop shorter clips")
    group.add_argument("--max-seconds", type=float, default=_DATA.max_seconds, help="drop longer clips (never cut)")
    add_batch_seconds_argument(group, help="padded audio seconds per micro-batch", default=_DATA.batch_seconds)
    group.add_argument("--max-batch-size", type=int, default=_DATA.max_batch_size, help="utterances per micro-batch at most")
    group.add_argument("--balance-languages", type=float, default=None, metavar="ALPHA",
                       help="draw language L with probability ~ n_L^ALPHA each epoch (0: uniform, 1: natural)")
    group.add_argument("--vocabulary", default=_DATA.vocabulary, choices=VOCABULARY_MODES,
                       help="extend: new characters become tokens; keep: utterances with them are dropped")

    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=float, default=_TRAIN.epochs, help="passes over the data")
    group.add_argument("--max-steps", type=int, default=None, help="optimizer steps in all (instead of --epochs)")
    group.add_argument("--learning-rate", "--lr", type=float, default=_TRAIN.learning_rate, help="peak learning rate (AdamW)")
    group.add_argument("--warmup-steps", type=int, default=_TRAIN.warmup_steps, help="linear warm-up steps")
    group.add_argument("--weight-decay", type=float, default=_TRAIN.weight_decay, help="AdamW weight decay")
    group.add_argument("--grad-accum", type=int, default=_TRAIN.grad_accum, help="micro-batches per optimizer step")
    group.add_argument("--max-grad-norm", type=float, default=_TRAIN.max_grad_norm, help="gradient clipping norm")
    group.add_argument("--precision", default=_TRAIN.precision, choices=PRECISIONS, help="auto: bf16 where the hardware has it")
    group.add_argument("--loss", default=_TRAIN.loss, choices=LOSSES, help="focal: per-utterance focal CTC")
    group.add_argument("--focal-gamma", type=float, default=_TRAIN.focal_gamma, help="focal loss exponent")
    group.add_argument("--train-feature-encoder", action="store_true", help="also train the convolutional front end")
    group.add_argument("--mask-time-prob", type=float, default=_TRAIN.mask_time_prob, help="SpecAugment time masking (0: off)")
    group.add_argument("--mask-time-length", type=int, default=_TRAIN.mask_time_length, help="frames per time mask")
    group.add_argument("--mask-feature-prob", type=float, default=_TRAIN.mask_feature_prob, help="SpecAugment channel masking")
    group.add_argument("--mask-feature-length", type=int, default=_TRAIN.mask_feature_length, help="channels per feature mask")
    group.add_argument("--layerdrop", type=float, default=None, help="transformer layer drop (default: the base's)")
    group.add_argument("--dropout", type=float, default=None, help="hidden/attention/activation dropout (default: the base's)")
    group.add_argument("--save-every", type=int, default=_TRAIN.save_every, help="steps between checkpoints and dev scores")
    group.add_argument("--keep-checkpoints", type=int, default=_TRAIN.keep_checkpoints, help="newest checkpoints kept")
    group.add_argument("--eval-dtype", default=_TRAIN.eval_dtype, choices=PRECISIONS, help="dev scoring precision")
    group.add_argument("--seed", type=int, default=_TRAIN.seed, help="random seed")
    add_device_argument(group, help="auto: a GPU when there is one", default=_TRAIN.device, choices=("auto", "cpu"))
    add_threads_argument(group, help="CPU threads per process")
    if importlib.util.find_spec("accelerate") is None or importlib.util.find_spec("jiwer") is None:
        parser.set_defaults(missing_extra="accelerate and jiwer are needed")


def _dev_source(args: argparse.Namespace, base: str) -> Any:
    from ..model.ctc_model import load_language_table
    from ..training.data import DataSource

    if args.no_dev:
        return None
    if args.dev:
        return DataSource(manifest=args.dev, language=args.language, numbers_in_words=args.verbalize_numbers)
    if not args.dataset:
        return None
    root = Path(args.dataset)
    available = sorted(p.name for p in root.iterdir() if (p / f"{args.dev_split}.tsv").is_file()) if root.is_dir() else []
    languages = split_codes(args.dev_languages)
    if languages is None:
        trained = args.languages or tuple(available)
        table = load_language_table(base)
        old = [code for code in (table.codes() if table is not None else []) if code in available]
        languages = tuple(dict.fromkeys([c for c in trained if c in available] + old))
    if not languages:
        return None
    return DataSource(dataset=args.dataset, split=args.dev_split, languages=languages, max_per_language=args.dev_max_per_language,
                      numbers_in_words=args.verbalize_numbers)


def _options(args: argparse.Namespace) -> tuple[DataOptions, TrainOptions]:
    data = DataOptions(min_seconds=args.min_seconds, max_seconds=args.max_seconds, batch_seconds=args.batch_seconds,
                       max_batch_size=args.max_batch_size, balance_alpha=args.balance_languages, vocabulary=args.vocabulary)
    train = TrainOptions(
        epochs=args.epochs, max_steps=args.max_steps, learning_rate=args.learning_rate, warmup_steps=args.warmup_steps,
        weight_decay=args.weight_decay, grad_accum=args.grad_accum, max_grad_norm=args.max_grad_norm,
        precision=args.precision, loss=args.loss, focal_gamma=args.focal_gamma,
        freeze_feature_encoder=not args.train_feature_encoder, mask_time_prob=args.mask_time_prob,
        mask_time_length=args.mask_time_length, mask_feature_prob=args.mask_feature_prob,
        mask_feature_length=args.mask_feature_length, layerdrop=args.layerdrop, dropout=args.dropout,
        save_every=args.save_every, keep_checkpoints=args.keep_checkpoints, evaluate=True,
        eval_dtype=args.eval_dtype, seed=args.seed, device=args.device,
    )
    return data, train


class _Display:
    """Progress bars and report lines on stderr, the dev tables on stdout."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.bar: Any = None
        self.training = False  # the loop has started: Ctrl-C then asks for a checkpoint

    def __call__(self, event: Any) -> None:
        from tqdm import tqdm

        from ..training.events import CacheProgress, CheckpointSaved, PreflightDone, StepDone, TrainingStarted

        if isinstance(event, CacheProgress):
            if event.total == 0:
                return
            if self.bar is None:
                self.bar = tqdm(total=event.total, unit="clip", desc="decode audio", file=sys.stderr)
            self.bar.update(event.done - self.bar.n)
            if event.done == event.total:
                self.close()
        elif isinstance(event, PreflightDone):
            self._report(event)
        elif isinstance(event, TrainingStarted):
            self.training = True
            if event.step >= event.total_steps:
                print(f"polyasr: all {event.total_steps} steps of this run are done already; raise --max-steps or "
                      "--epochs to train on", file=sys.stderr)
                return
            if event.warmup_steps >= event.total_steps:
                print(f"polyasr: warning: --warmup-steps {event.warmup_steps} is not shorter than the run's "
                      f"{event.total_steps} steps, so the learning rate never reaches --learning-rate and the model "
                      f"learns little; use about {max(1, event.total_steps // 10)} (10 % of the steps)", file=sys.stderr)
            print(f"polyasr: training steps {event.step + 1}-{event.total_steps} on {event.device} x {event.processes} "
                  f"process(es), {'fp32' if event.precision == 'no' else event.precision + ' mixed precision'}", file=sys.stderr)
            if event.batches_left_out:
                print(f"polyasr: {event.batches_left_out} batch(es) per epoch do not fill a step "
                      "(processes x --grad-accum batches) and sit that epoch out", file=sys.stderr)
            self.bar = tqdm(total=event.total_steps, initial=event.step, unit="step", desc="train", file=sys.stderr)
        elif isinstance(event, StepDone):
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{event.loss:.3f}", lr=f"{event.learning_rate:.2e}",
                                 audio_s_per_s=f"{event.audio_seconds / max(event.seconds, 1e-9):.1f}",
                                 skipped=event.skipped_steps, refresh=False)
        elif isinstance(event, CheckpointSaved):
            write = self.bar.write if self.bar is not None else print
            write(f"polyasr: saved {event.path}" + (" (best dev CER so far: copied to best/)" if event.best else ""), file=sys.stderr)
            if event.table:
                write(event.table, file=sys.stdout)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _report(self, event: Any) -> None:
        lines = event.report.summary()
        if event.other_languages:
            lines.insert(1, f"left out {event.other_languages} manifest rows of languages not in --languages")
        if event.dev_utterances:
            lines.append(f"dev set: {event.dev_utterances} utterances" + (f", {len(event.dev_bad_rows)} unreadable rows" if event.dev_bad_rows else ""))
            lines += [f"  {row}" for row in event.dev_bad_rows]
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / "preflight.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        shown, hidden, streak = [], 0, 0
        for line in lines:
            streak = streak + 1 if line.startswith("  ") else 0
            if streak > SHOWN:
                hidden += 1
                continue
            shown.append(line)
        for line in shown:
            print(f"polyasr: {line}", file=sys.stderr)
        if hidden:
            print(f"polyasr: ({hidden} more lines in {self.output / 'preflight.txt'})", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run `polyasr train`; returns the exit code."""
    import torch

    from ..model.ctc_model import default_model
    from ..training.data import DataSource
    from ..training.run import train

    check_output_folder(args.output, "--output")  # before the audio is decoded and the model loaded
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    base = args.base or default_model()
    data_options, options = _options(args)
    source = DataSource(dataset=args.dataset, manifest=args.manifest, split=args.split, languages=args.languages,
                        language=args.language, max_per_language=args.max_per_language,
                        numbers_in_words=args.verbalize_numbers)
    stop_requested = []

    def on_interrupt(signum: int, frame: Any) -> None:
        if stop_requested or not display.training:  # decoding and checks just stop (the cache keeps its clips)
            raise KeyboardInterrupt
        stop_requested.append(True)
        print("\npolyasr: stopping after this step and saving a checkpoint (Ctrl-C again: quit at once)", file=sys.stderr)

    display = _Display(Path(args.output))
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        outcome = train(base, source, args.output, _dev_source(args, base), data_options, options,
                        check_only=args.check_only, resume=args.resume, cache_dir=args.cache_dir,
                        on_event=display, stop=lambda: bool(stop_requested))
    finally:
        signal.signal(signal.SIGINT, previous)
        display.close()
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    report = outcome.report
    if args.check_only:
        problems = len(report.dropped) + len(report.bad_rows)
        print(f"polyasr: check done: {len(report.kept)} utterances kept, {problems} dropped or unreadable", file=sys.stderr)
        return 1 if problems else 0
    print(f"polyasr: {outcome.steps} of {outcome.total_steps} steps done ({outcome.skipped_steps} skipped: gradients not finite); "
          f"last checkpoint {outcome.last_checkpoint}" + (f"; best {outcome.best}" if outcome.best else ""), file=sys.stderr)
    if outcome.interrupted:
        print("polyasr: stopped; continue with the same command and --resume", file=sys.stderr)
        return 130
    return 0
