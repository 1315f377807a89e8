"""`polyasr export`, `polyasr languages` and `polyasr convert-lang-ids`: the commands about model files."""

from __future__ import annotations

import argparse
import sys

from .args import check_output_file, check_output_folder
from .groups import add_model_argument
from .extras import install_hint
from ..errors import OptionsError, PolyasrError
from ..language.codes import english_name
from ..language.table import read_language_table, write_language_table_json
from ..model.ctc_model import default_model, list_languages


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `polyasr export`."""
    parser.add_argument("model", nargs="?", default=None, help="Hub id or folder (default: $POLYASR_MODEL or the 56-language model)")
    add_model_argument(parser, help="the same, as every other command names it", dest="model_option")
    parser.add_argument("--format", default="onnx", choices=["onnx"], help="export format")
    parser.add_argument("--quantize", default="none", choices=["none", "int8"], help="int8: dynamic quantisation of MatMul weights")
    parser.add_argument("--no-optimize", action="store_true", help="skip ONNX Runtime's transformer fusion")
    parser.add_argument("--output", "-o", required=True, help="folder to write")


def run_export(args: argparse.Namespace) -> int:
    """Write the ONNX folder and say how to run it."""
    if args.model and args.model_option and args.model != args.model_option:
        raise OptionsError(f"two models given: {args.model} and --model {args.model_option}; name one")
    args.model = args.model or args.model_option
    check_output_folder(args.output, "--output")
    try:
        from ..model.export import ExportOptions, export_onnx
    except ImportError as error:
        raise PolyasrError(f"export needs onnx and onnxruntime ({error}); {install_hint('onnx')}") from None

    quantize = None if args.quantize == "none" else args.quantize
    if args.verbose:
        print(f"polyasr: exporting {args.model or default_model()} to {args.output} "
              f"(quantize={args.quantize}, optimize={not args.no_optimize})", file=sys.stderr)
    folder = export_onnx(args.model, args.output, ExportOptions(quantize=quantize, optimize=not args.no_optimize))
    print(f"polyasr: wrote {folder}; run it with --model {folder}", file=sys.stderr)
    return 0


def add_languages_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `polyasr languages`."""
    add_model_argument(parser, help="Hub id or local folder (default: the 56-language model)")


def run_languages(args: argparse.Namespace) -> int:
    """Print the model's languages: code, English name and where they come from."""
    name = args.model or default_model()
    source, listing = list_languages(name)
    if args.verbose:
        print(f"polyasr: {len(listing)} languages of {name}, from its {source}", file=sys.stderr)
    for code, detail in listing:
        print(f"{code}\t{english_name(code)}\t{detail}")
    return 0


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `polyasr convert-lang-ids`."""
    parser.add_argument("source", help="lang_ids.pk (read with a restricted unpickler)")
    parser.add_argument("target", help="lang_ids.json to write")


def run_convert(args: argparse.Namespace) -> int:
    """Convert a pickled language table to JSON."""
    target = check_output_file(args.target, "target")
    table = read_language_table(args.source)
    try:
        write_language_table_json(table, target)
    except OSError as error:
        raise OptionsError(f"target {args.target}: cannot be written ({error.strerror or error})") from None
    if args.verbose:
        for code in sorted(table.ids):
            print(f"polyasr: {code}: {len(table.ids[code])} token ids", file=sys.stderr)
    spoken = sum(1 for ids in table.ids.values() if len(ids))
    print(f"wrote {len(table.ids)} language codes to {args.target}: {spoken} with characters"
          + (f", {len(table.ids) - spoken} empty" if spoken < len(table.ids) else ""), file=sys.stderr)
    return 0
