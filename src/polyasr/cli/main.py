"""The `polyasr` command: a thin layer over the public API. The modules of this package are the only
code that prints; each command's options and handler live in a module of its own (recognize.py:
transcribe, detect-language, align; evaluate.py; models.py: export, languages, convert-lang-ids;
decoder.py: lm; serve.py, listen.py, batch.py, train.py), and the options several commands share are
declared once in groups.py."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .args import HelpFormatter, Parser
from .decoder import add_lm_arguments, run_lm
from .evaluate import add_evaluate_arguments, run_evaluate
from .models import add_convert_arguments, add_export_arguments, add_languages_arguments, run_convert, run_export, \
    run_languages
from .extras import install_hint, missing_for_command, with_install_hints
from .recognize import add_align_arguments, add_detect_arguments, add_transcribe_arguments, run_align, run_detect, \
    run_transcribe
from ..errors import PolyasrError
from ..version import VERSION

Handler = Callable[[argparse.Namespace], int]


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """--verbose on a command, or on each of its own subcommands (`lm build`)."""
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in nested:
        for subparser in action.choices.values():
            _add_verbose(subparser)
    if not nested and "--verbose" not in parser._option_string_actions:  # a command's own module may define it
        parser.add_argument("--verbose", "-v", action="store_true", help="say more about what runs (model, backend, device, dtype, files)")


def _add_optional(parser: argparse.ArgumentParser, module: str, function: str, extra: str) -> None:
    """Arguments of a command whose module needs an extra; without it, the command says which."""
    import importlib

    try:
        getattr(importlib.import_module(module), function)(parser)
    except ImportError as error:
        hint = "" if "pip install" in str(error) else f"; {install_hint(extra)}"
        parser.set_defaults(missing_extra=f"{error}{hint}")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; values and checks across options are refused here (exit status 2)."""
    parser = Parser(prog="polyasr", description="Multilingual speech recognition (56 languages).", formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"polyasr {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help, formatter_class=HelpFormatter)

    add_transcribe_arguments(command("transcribe", "transcribe audio or video files"))
    add_detect_arguments(command("detect-language", "identify the spoken language"))
    add_align_arguments(command("align", "times of every word of a known transcript (forced alignment)"))
    add_evaluate_arguments(command("evaluate", "WER/CER per language on Common Voice-style data or a manifest"))
    add_export_arguments(command("export", "export a model for ONNX Runtime (polyasr.load(DIR) runs it)"))
    serve = command("serve", "serve an OpenAI-compatible HTTP API, live streaming and a web page")
    _add_optional(serve, "polyasr.cli.serve", "add_serve_arguments", "server")
    listen = command("listen", "transcribe the microphone live (pip install 'polyasr[listen]')")
    _add_optional(listen, "polyasr.cli.listen", "add_listen_arguments", "listen")
    batch = command("batch", "transcribe many files on Ray, resumably (pip install 'polyasr[ray]')")
    _add_optional(batch, "polyasr.cli.batch", "add_arguments", "ray")
    add_lm_arguments(command("lm", "n-gram language models for beam search (pip install 'polyasr[lm]')"))
    train = command("train", "fine-tune a model or add languages (pip install 'polyasr[train]')")
    _add_optional(train, "polyasr.cli.train", "add_arguments", "train")
    add_languages_arguments(command("languages", "list the model's languages"))
    add_convert_arguments(command("convert-lang-ids", "convert a lang_ids.pk to lang_ids.json (safely)"))

    for subparser in commands.choices.values():
        _add_verbose(subparser)
    return parser


def _error(message: str) -> None:
    print(f"polyasr: error: {with_install_hints(message)}", file=sys.stderr)


def _serve(args: argparse.Namespace) -> int:
    from .serve import run_serve

    return run_serve(args)


def _listen(args: argparse.Namespace) -> int:
    from .listen import run_listen

    return run_listen(args)


def _batch(args: argparse.Namespace) -> int:
    from .batch import run

    return run(args)


def _train(args: argparse.Namespace) -> int:
    from .train import run

    return run(args)


HANDLERS: dict[str, Handler] = {
    "transcribe": run_transcribe, "detect-language": run_detect, "align": run_align, "evaluate": run_evaluate,
    "export": run_export, "serve": _serve, "listen": _listen, "batch": _batch, "train": _train,
    "languages": run_languages, "convert-lang-ids": run_convert, "lm": run_lm,
}


def _quiet_libraries() -> None:
    """No weight-loading bars, info logs or retry warnings from transformers and the Hub client.

    Hub download progress bars stay; when the Hub cannot be reached, our own one-line error says so.
    """
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    hub_logging.set_verbosity_error()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status (0, 1 on an error, 2 for bad options, 130 on Ctrl-C)."""
    words = list(sys.argv[1:] if argv is None else argv)
    absent = missing_for_command(words)  # before parsing: without its extra a command has no options to parse
    if absent is not None:
        command, extra, packages = absent
        _error(f"'{command}' needs the {extra} extra, which is not installed (missing: {', '.join(packages)}); "
               f"{install_hint(extra)}")
        return 1
    args = build_parser().parse_args(words)
    _quiet_libraries()
    if getattr(args, "missing_extra", None):
        _error(f"'{args.command}' needs an optional part that is not installed ({args.missing_extra})")
        return 1
    try:
        return HANDLERS[args.command](args)
    except PolyasrError as error:
        _error(str(error))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
