"""`polyasr evaluate`: WER/CER per language on Common Voice-style data or a manifest, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .args import check_output_folder
from .decoder import add_decoder_arguments, decoder_options
from .groups import add_data_source_arguments, add_runtime_arguments
from .extras import install_hint
from .recognize import load_recognizer
from ..errors import PolyasrError


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `polyasr evaluate`."""
    add_data_source_arguments(parser, split="test", split_help="Common Voice split (test, dev, ...)",
                              manifest_help="JSONL or CSV with audio, text and optional language, id columns",
                              languages_help="Common Voice languages, e.g. de,fr,ja (default: all)",
                              max_per_language_help="first N good rows of each language")
    parser.add_argument("--decode", default="language", choices=["language", "auto", "detect", "multi"],
                        help="restrict decoding to each utterance's language, or not, or detect it (multi: per segment)")
    parser.add_argument("--output-dir", "-o", default="results", help="results.md/csv/json and hypotheses.jsonl (resumable)")
    parser.add_argument("--restart", action="store_true", help="discard the hypotheses of an earlier run in --output-dir")
    parser.add_argument("--compare-card", action="store_true", help="add the model card's WER/CER and the difference")
    parser.add_argument("--plot", action="store_true", help="also write cer.png, a CER bar chart (pip install 'polyasr[plot]')")
    add_decoder_arguments(parser)
    add_runtime_arguments(parser)


def run_evaluate(args: argparse.Namespace) -> int:
    """Score the data set; write the reports and print the table."""
    from tqdm import tqdm

    try:
        from ..evaluation.run import EvalOptions, evaluate
    except ImportError as error:
        raise PolyasrError(f"evaluate needs jiwer ({error}); {install_hint('eval')}") from None
    from ..evaluation.data import numbers_in_words, read_common_voice, read_manifest
    from ..evaluation.report import markdown_table, plot_cer, write_reports

    check_output_folder(args.output_dir, "--output-dir")
    decoder = decoder_options(args)
    if args.dataset:
        dataset = read_common_voice(args.dataset, args.split, args.languages, args.max_per_language)
    else:
        dataset = read_manifest(args.manifest, args.language)
    if args.verbalize_numbers:
        dataset = numbers_in_words(dataset)
    for bad in dataset.bad_rows[:20]:
        print(f"polyasr: warning: {bad.where}: {bad.reason}", file=sys.stderr)
    if len(dataset.bad_rows) > 20:
        print(f"polyasr: warning: ... {len(dataset.bad_rows) - 20} more bad rows", file=sys.stderr)
    recognizer = load_recognizer(args)
    bars: list[Any] = []  # opened at the first report, once the cache was accepted

    def advance(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="utt", file=sys.stderr, desc="evaluate"))
        bars[0].update(done - bars[0].n)

    try:
        result = evaluate(recognizer, dataset, args.output_dir, EvalOptions(decode=args.decode, decoder=decoder, restart=args.restart), advance)
    finally:
        for bar in bars:
            bar.close()
    for warning in result.warnings:
        print(f"polyasr: warning: {warning}", file=sys.stderr)
    for failed in result.failed[:20]:  # named here too, not only in results.json
        print(f"polyasr: warning: {failed.audio}: {failed.error}", file=sys.stderr)
    for bad in result.bad_rows[:20]:
        print(f"polyasr: warning: {bad.where}: {bad.reason}", file=sys.stderr)
    hidden = max(0, len(result.failed) - 20) + max(0, len(result.bad_rows) - 20)
    if hidden:
        print(f"polyasr: warning: ... {hidden} more (results.json lists them all)", file=sys.stderr)
    write_reports(result, args.output_dir, args.compare_card)
    if args.plot:
        plot_cer(result, Path(args.output_dir) / "cer.png", args.compare_card)
    print(markdown_table(result, args.compare_card), end="")
    bad_rows = len(dataset.bad_rows) + len(result.bad_rows)
    print(f"polyasr: {_count(len(dataset.utterances), 'utterance')} ({result.resumed} from an earlier run), "
          f"{len(result.failed)} undecodable, {_count(bad_rows, 'bad row')}; results in {args.output_dir}/", file=sys.stderr)
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
