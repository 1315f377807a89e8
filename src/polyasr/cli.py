"""The `polyasr` command: a thin layer over the public API. The only module that prints."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from .errors import PolyasrError
from .languages import language_name
from .model import default_model, load_language_table
from .lang_ids import read_language_table, write_language_table_json
from .transcriber import AUTO, load
from .writers import WRITERS, get_writer


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="Hub id or local folder (default: $POLYASR_MODEL or voidful/wav2vec2-xlsr-multilingual-56)")
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    parser.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"], help="model precision")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the model")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polyasr", description="Multilingual speech recognition (56 languages).")
    commands = parser.add_subparsers(dest="command", required=True)

    transcribe = commands.add_parser("transcribe", help="transcribe audio or video files")
    transcribe.add_argument("files", nargs="+", help="audio or video files (wav, flac, mp3, ogg, opus, m4a, webm, mp4, ...)")
    transcribe.add_argument("--language", "-l", default=AUTO, help="'auto' (every character of the model) or a language code, e.g. de")
    transcribe.add_argument("--output-format", "-f", default="txt", choices=sorted(WRITERS), help="output format")
    transcribe.add_argument("--output-dir", "-o", default=None, help="write <name>.<format> files here instead of printing")
    transcribe.add_argument("--verbose", "-v", action="store_true", help="say which model, device and dtype are used")
    _add_model_options(transcribe)

    languages = commands.add_parser("languages", help="list the model's languages")
    languages.add_argument("--model", default=None, help="Hub id or local folder (default: the 56-language model)")

    convert = commands.add_parser("convert-lang-ids", help="convert a lang_ids.pk to lang_ids.json (safely)")
    convert.add_argument("source", help="lang_ids.pk (read with a restricted unpickler)")
    convert.add_argument("target", help="lang_ids.json to write")
    return parser


def _error(message: str) -> None:
    print(f"polyasr: error: {message}", file=sys.stderr)


def _transcribe(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    writer = get_writer(args.output_format)
    recognizer = load(args.model, device=args.device, dtype=args.dtype, threads=args.threads)
    if args.verbose:
        print(f"polyasr: model {recognizer.model.name}: {recognizer.runtime.describe()}", file=sys.stderr)
    outcomes = recognizer.transcribe_iter(args.files, language=args.language)
    failed = 0
    progress = tqdm(outcomes, total=len(args.files), unit="file", disable=len(args.files) == 1, file=sys.stderr)
    for outcome in progress:
        if outcome.error is not None:
            failed += 1
            progress.write(f"polyasr: error: {outcome.error}", file=sys.stderr)
            continue
        assert outcome.result is not None
        if args.output_dir:
            writer.write(outcome.result, args.output_dir)
        else:
            text = writer.format(outcome.result).rstrip("\n")
            prefix = f"{outcome.source}: " if len(args.files) > 1 and args.output_format == "txt" else ""
            progress.write(prefix + text, file=sys.stdout)
    return 1 if failed else 0


def _languages(args: argparse.Namespace) -> int:
    name = args.model or default_model()
    table = load_language_table(name)
    if table is None:
        _error(f"model '{name}' has no language table (lang_ids.json / lang_ids.pk), or it could not be fetched")
        return 1
    for code in sorted(table.ids):
        count = len(table.ids[code])
        note = f"{count} characters" if count else "empty table: cannot restrict decoding"
        print(f"{code}\t{language_name(code)}\t{note}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    table = read_language_table(args.source)
    write_language_table_json(table, args.target)
    print(f"wrote {len(table.ids)} languages to {args.target}", file=sys.stderr)
    return 0


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
    args = build_parser().parse_args(argv)
    _quiet_libraries()
    handlers = {"transcribe": _transcribe, "languages": _languages, "convert-lang-ids": _convert}
    try:
        return handlers[args.command](args)
    except PolyasrError as error:
        _error(str(error))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
