"""The options that several commands share, each declared here once with the `type=` that checks it.

Each group has one function that adds its options to a command and one that turns the parsed
arguments into the options the library takes:

- model and runtime: --model, --device, --dtype, --threads, --batch-seconds
  (`add_runtime_arguments`; `runtime_options` -> RuntimeOptions, `batch_options` -> BatchOptions)
- long audio: --window-seconds, --context-seconds, --vad (`add_window_arguments`; `window_options`,
  `vad_options`); a window not longer than its two contexts is refused by the parser
- language: --language, --candidates (`add_language_arguments`; `--language` is parsed into a
  LanguageChoice and `--candidates` into a tuple of codes by their types)
- data source of evaluate and train: --dataset or --manifest (exactly one), --split, --languages
  (parsed into a tuple of codes), --max-per-language (at least 1), --language for manifest rows
  without a language column (`add_data_source_arguments`; each command passes its own help and split)
- Ray: --ray [ADDRESS] (`add_ray_argument`; serve: use Ray Serve at all, batch: which Ray), with
  --ray-address ADDRESS kept as a hidden, deprecated spelling that warns

The decoder's options are a group of their own, in decoder.py. A command whose option means
something else under the same name (train's --device, --batch-seconds) adds it with the single-option
function and its own help, so the option is still declared once.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from .args import add_check, language_choice, language_codes, non_negative_float, positive_float, positive_int
from ..audio.vad import VadOptions
from ..engine.inference import BatchOptions
from ..engine.windows import WindowOptions
from ..errors import OptionsError
from ..language.choice import AUTO, LanguageChoice
from ..model.runtime import DTYPE_CHOICES, RuntimeOptions

Container = argparse._ActionsContainer  # a parser or one of its argument groups

MODEL_HELP = "Hub id or local folder (default: $POLYASR_MODEL or voidful/wav2vec2-xlsr-multilingual-56)"
DEVICE_HELP = "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps"
THREADS_HELP = "CPU threads for the model"
BATCH_SECONDS_HELP = "padded audio seconds per forward pass"


# ---------------------------------------------------------------------------------------------
# model and runtime


def add_model_argument(parser: Container, help: str = MODEL_HELP, dest: str = "model") -> None:
    """--model: a Hub id or a folder; None: $POLYASR_MODEL or the 56-language model."""
    parser.add_argument("--model", default=None, help=help, dest=dest)


def add_device_argument(parser: Container, help: str = DEVICE_HELP, default: str = "auto",
                        choices: tuple[str, ...] | None = None) -> None:
    """--device: where the model runs."""
    parser.add_argument("--device", default=default, choices=choices, help=help)


def add_threads_argument(parser: Container, help: str = THREADS_HELP) -> None:
    """--threads: CPU threads (at least 1; None keeps torch's default)."""
    parser.add_argument("--threads", type=positive_int, default=None, help=help)


def add_batch_seconds_argument(parser: Container, help: str = BATCH_SECONDS_HELP,
                               default: float = BatchOptions.batch_seconds) -> None:
    """--batch-seconds: padded audio seconds per forward pass (greater than 0)."""
    parser.add_argument("--batch-seconds", type=positive_float, default=default, help=help)


def add_runtime_arguments(parser: argparse.ArgumentParser, *, model_help: str = MODEL_HELP,
                          device_help: str = DEVICE_HELP, threads_help: str = THREADS_HELP,
                          batch_seconds: bool = True) -> None:
    """--model, --device, --dtype, --threads and (unless `batch_seconds` is False) --batch-seconds."""
    group = parser.add_argument_group("model and runtime")
    add_model_argument(group, model_help)
    add_device_argument(group, device_help)
    group.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES,
                       help="model precision (int8: the transformer's matrix products in int8, CPU only)")
    add_threads_argument(group, threads_help)
    if batch_seconds:
        add_batch_seconds_argument(group)


def runtime_options(args: argparse.Namespace) -> RuntimeOptions:
    """RuntimeOptions from the arguments of `add_runtime_arguments` (the model is `args.model`)."""
    return RuntimeOptions(device=args.device, dtype=args.dtype, threads=args.threads)


def batch_options(args: argparse.Namespace) -> BatchOptions:
    """BatchOptions from --batch-seconds."""
    return BatchOptions(batch_seconds=args.batch_seconds)


# ---------------------------------------------------------------------------------------------
# long audio: windows and VAD


def add_window_arguments(parser: argparse.ArgumentParser) -> None:
    """--window-seconds, --context-seconds and --vad; the parser refuses a window not longer than its two contexts."""
    group = parser.add_argument_group("long audio")
    group.add_argument("--window-seconds", type=positive_float, default=WindowOptions.window_seconds,
                       help="audio per forward pass for long files (more than twice --context-seconds)")
    group.add_argument("--context-seconds", type=non_negative_float, default=WindowOptions.context_seconds,
                       help="overlap on each side of a window whose frames are discarded")
    group.add_argument("--vad", action="store_true", help="run the model on detected speech only (pip install 'polyasr[vad]')")
    add_check(parser, _window_problem)


def _window_problem(args: argparse.Namespace) -> str | None:
    """The parser's error for a window not longer than its two contexts, or None."""
    try:
        WindowOptions(window_seconds=args.window_seconds, context_seconds=args.context_seconds).sizes(1)
    except (OptionsError, ValueError):
        return f"argument --window-seconds: {args.window_seconds:g} must exceed twice --context-seconds ({args.context_seconds:g})"
    return None


def window_options(args: argparse.Namespace) -> WindowOptions:
    """WindowOptions from --window-seconds and --context-seconds (OptionsError for a window the parser
    would have refused, when the arguments did not come from one that checks)."""
    problem = _window_problem(args)
    if problem:
        raise OptionsError(problem.removeprefix("argument "))
    return WindowOptions(window_seconds=args.window_seconds, context_seconds=args.context_seconds)


def vad_options(args: argparse.Namespace) -> VadOptions | None:
    """VadOptions with --vad, else None."""
    return VadOptions() if args.vad else None


# ---------------------------------------------------------------------------------------------
# language


def add_language_arguments(parser: Container, *, language_help: str | None = None,
                           default: LanguageChoice | None = AUTO, candidates_help: str | None = None) -> None:
    """--language (with `language_help`; `default` None: the command decides) and --candidates (with
    `candidates_help`); an option whose help is None is left out."""
    if language_help is not None:
        parser.add_argument("--language", "-l", default=default, type=language_choice, help=language_help)
    if candidates_help is not None:
        parser.add_argument("--candidates", default=None, type=language_codes, metavar="CODE[,CODE...]", help=candidates_help)
    if language_help is not None and candidates_help is not None and isinstance(parser, argparse.ArgumentParser):
        add_check(parser, _candidates_problem)


def _candidates_problem(args: argparse.Namespace) -> str | None:
    """--candidates choose the language that auto or detect identify; with one language named they would do nothing."""
    if args.candidates and args.language is not None and args.language.is_language:
        return f"argument --candidates: --language {args.language} names the language, so there is nothing to choose among"
    return None


# ---------------------------------------------------------------------------------------------
# data source: a Common Voice folder or a manifest (evaluate, train)

DATASET_HELP = "a Common Voice release folder (<lang>/<split>.tsv, <lang>/clips/)"
ROW_LANGUAGE_HELP = "manifest rows without a language column are in this one"


def add_data_source_arguments(parser: argparse.ArgumentParser, *, split: str, split_help: str, manifest_help: str,
                              languages_help: str, max_per_language_help: str) -> None:
    """--dataset or --manifest (exactly one is required), --split (default `split`), --languages (a tuple of
    codes; None: all), --max-per-language (at least 1; None: every row) and --language (the language of
    manifest rows without a language column; None: they have none), each with the command's own help;
    and --verbalize-numbers (the texts' numbers in words)."""
    group = parser.add_argument_group("data source")
    source = group.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help=DATASET_HELP)
    source.add_argument("--manifest", help=manifest_help)
    group.add_argument("--split", default=split, help=split_help)
    group.add_argument("--languages", type=language_codes, default=None, metavar="CODE[,CODE...]", help=languages_help)
    group.add_argument("--max-per-language", type=positive_int, default=None, metavar="N", help=max_per_language_help)
    group.add_argument("--language", default=None, help=ROW_LANGUAGE_HELP)
    group.add_argument("--verbalize-numbers", action="store_true",
                       help="write the texts' numbers out in words of their language (\"25\" -> \"twenty-five\"), "
                            "for models that write words (pip install 'polyasr[numbers]')")


# ---------------------------------------------------------------------------------------------
# Ray: which instance serve --ray and batch run on

RAY_HELP = "a new local Ray instance (no ADDRESS), or the cluster at ADDRESS ('auto', host:6379, ray://host:10001)"


class _DeprecatedRayAddress(argparse.Action):
    """--ray-address ADDRESS, batch's old spelling of --ray ADDRESS: stores the same value and warns on stderr."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: str | Sequence[Any] | None,
                 option_string: str | None = None) -> None:
        print("polyasr: warning: --ray-address is deprecated; use --ray ADDRESS", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _ray_address_value(value: str) -> str:
    """An address --ray accepts ('auto', 'local', HOST:PORT, ray://HOST:PORT); anything else (such as an input
    path that came right after a bare --ray) is refused with a line saying so."""
    if value in ("", "auto", "local") or ":" in value:  # "": a bare --ray (a new local instance)
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not a Ray address (auto, local, HOST:PORT or ray://HOST:PORT); "
                                     "a bare --ray takes the next word as its address: put --ray after the inputs")


def add_ray_argument(parser: Container, help: str = RAY_HELP) -> None:
    """--ray [ADDRESS] into `args.ray`: None when not given, "" for a new local instance, else ray.init's address;
    and --ray-address ADDRESS, the same with a deprecation warning (hidden from --help)."""
    parser.add_argument("--ray", nargs="?", const="", default=None, type=_ray_address_value, metavar="ADDRESS",
                        help=help)
    parser.add_argument("--ray-address", dest="ray", action=_DeprecatedRayAddress, type=_ray_address_value,
                        metavar="ADDRESS", help=argparse.SUPPRESS)


def ray_address(args: argparse.Namespace) -> str | None:
    """The Ray address of --ray: None for a new local instance."""
    return args.ray or None
