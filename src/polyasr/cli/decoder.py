"""Command-line parts of decoding: the decoder options shared by transcribe and evaluate, and `polyasr lm`."""

from __future__ import annotations

import argparse
import sys

from .args import check_output_file, hotword_list, hotword_weight
from ..decoding.lm_build import LmBuildOptions, build_arpa
from ..decoding.options import BEAM, GREEDY, STRATEGIES, BeamOptions, DecoderOptions, parse_hotwords


def add_decoder_arguments(parser: argparse.ArgumentParser) -> None:
    """--decoder and the beam search's options."""
    group = parser.add_argument_group("decoding")
    group.add_argument("--decoder", default=None, choices=STRATEGIES,
                       help="greedy: each frame's best character (the model card's); beam: beam search with an "
                            "optional n-gram LM and hotwords (pip install 'polyasr[lm]') (default: greedy, or beam "
                            "when --lm, --hotwords, --lm-weight or --word-score is given)")
    group.add_argument("--lm", default=None,
                       help="KenLM model (.arpa, .arpa.gz, binary) or a language_model/ folder (implies --decoder beam); "
                            "with --decoder beam and no --lm: the checkpoint's language_model/ folder if it has one")
    group.add_argument("--no-checkpoint-lm", action="store_true", help="ignore the checkpoint's language_model/ folder")
    group.add_argument("--beam-size", type=int, default=BeamOptions.beam_size, help="hypotheses kept per frame (default: %(default)s)")
    group.add_argument("--lm-weight", type=float, default=None,
                       help="alpha, weight of the LM (default: the folder's attrs.json, else 0.5)")
    group.add_argument("--word-score", type=float, default=None,
                       help="beta, bonus per word (default: the folder's attrs.json, else 1.0)")
    group.add_argument("--hotwords", type=hotword_list, default=None,
                       help="words to favour, comma-separated, each with an optional :weight, e.g. \"Müller,Zwickau:8\"")
    group.add_argument("--hotword-weight", type=hotword_weight, default=BeamOptions.hotword_weight,
                       help="weight of hotwords given without one (default: %(default)s)")


def decoder_options(args: argparse.Namespace) -> DecoderOptions:
    """DecoderOptions from the arguments of `add_decoder_arguments` (OptionsError for bad values)."""
    beam_only = {"--lm": args.lm, "--hotwords": args.hotwords, "--lm-weight": args.lm_weight, "--word-score": args.word_score}
    given = [name for name, value in beam_only.items() if value is not None]
    if args.decoder == GREEDY and given:
        from ..errors import OptionsError

        raise OptionsError(f"{', '.join(given)} need --decoder beam, not greedy")
    if args.decoder != BEAM and not given:
        return DecoderOptions(GREEDY)
    return DecoderOptions(BEAM, BeamOptions(
        beam_size=args.beam_size, lm=args.lm, checkpoint_lm=not args.no_checkpoint_lm, lm_weight=args.lm_weight,
        word_score=args.word_score, hotwords=parse_hotwords(args.hotwords), hotword_weight=args.hotword_weight,
    ))


def add_lm_arguments(parser: argparse.ArgumentParser) -> None:
    """`polyasr lm build CORPUS --order 4 --language de --output de.arpa`."""
    actions = parser.add_subparsers(dest="lm_action", required=True)
    build = actions.add_parser("build", help="estimate a Kneser-Ney n-gram model (ARPA) from UTF-8 text, one sentence per line")
    build.add_argument("corpus", help="UTF-8 text file; each line is normalised with the language's rules")
    build.add_argument("--output", "-o", required=True, help="ARPA file to write")
    build.add_argument("--order", type=int, default=LmBuildOptions.order, help="longest n-gram, 1-5 (default: %(default)s)")
    build.add_argument("--language", "-l", default=None, help="normalise the text with this language's rules, e.g. de")
    build.add_argument("--min-count", type=int, default=0, help="drop n-grams (order 2 and up) seen fewer times")


def run_lm(args: argparse.Namespace) -> int:
    """Build the model; progress and a summary go to stderr."""
    check_output_file(args.output, "--output")  # before the corpus is counted
    options = LmBuildOptions(order=args.order, language=args.language, min_count=args.min_count)

    def progress(lines: int) -> None:
        print(f"\rpolyasr: {lines:,} lines counted", end="", file=sys.stderr, flush=True)

    report = build_arpa(args.corpus, args.output, options, progress)
    counts = ", ".join(f"{n + 1}-grams {c:,}" for n, c in enumerate(report.ngrams))
    print(f"\rpolyasr: wrote {report.path}: {report.sentences:,} sentences, {report.words:,} words, "
          f"{report.vocabulary:,} distinct; {counts}", file=sys.stderr)
    return 0
