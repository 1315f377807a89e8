"""The `polyasr` command: a thin layer over the public API. The only module that prints."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from .decoders.cli import add_decoder_arguments, add_lm_arguments, decoder_options, run_lm
from .errors import PolyasrError
from .inference import BatchOptions
from .language_codes import english_name
from .languages import language_name
from .model import default_model, list_languages
from .lang_ids import read_language_table, write_language_table_json
from .results import Transcription
from .transcriber import AUTO, TranscribeOptions, load
from .vad import VadOptions
from .windows import WindowOptions
from .writers import FORMATS, WriterOptions, get_writers


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="Hub id or local folder (default: $POLYASR_MODEL or voidful/wav2vec2-xlsr-multilingual-56)")
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    parser.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"], help="model precision")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the model")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output-format", "-f", default="txt", type=_output_formats, metavar="FORMAT[,FORMAT...]",
                        help=f"one of {', '.join(FORMATS)}, or several as srt,json (all: every format but rttm); "
                             "txt and json print to stdout unless --output-dir is given, the others write files")
    parser.add_argument("--output-dir", "-o", default=None, help="write <name>.<format> files here (default for subtitles: .)")
    parser.add_argument("--max-line-width", type=int, default=WriterOptions.max_line_width, help="subtitle characters per line")
    parser.add_argument("--max-line-count", type=int, default=WriterOptions.max_line_count, help="subtitle lines per cue")
    parser.add_argument("--verbose", "-v", action="store_true", help="say which model, device and dtype are used")


def _output_formats(value: str) -> str:
    """--output-format: a format or a comma-separated list of them, checked against the writers."""
    try:
        get_writers(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _emit(args: argparse.Namespace, result: Transcription, several: bool, progress: Any) -> None:
    """Print a result (txt, json without --output-dir) or write its files."""
    options = WriterOptions(max_line_width=args.max_line_width, max_line_count=args.max_line_count,
                            include_words=bool(getattr(args, "word_timestamps", True)))
    writers = get_writers(args.output_format, options)
    if args.output_dir is None and args.output_format in ("txt", "json"):
        text = writers[0].format(result).rstrip("\n")
        prefix = f"{result.source}: " if several and args.output_format == "txt" else ""
        progress.write(prefix + text.replace("\n", " ") if prefix else text, file=sys.stdout)
        return
    for writer in writers:
        path = writer.write(result, args.output_dir or ".")
        if args.verbose:
            progress.write(f"polyasr: wrote {path}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polyasr", description="Multilingual speech recognition (56 languages).")
    commands = parser.add_subparsers(dest="command", required=True)

    transcribe = commands.add_parser("transcribe", help="transcribe audio or video files")
    transcribe.add_argument("files", nargs="+", help="audio or video files (wav, flac, mp3, ogg, opus, m4a, webm, mp4, ...)")
    transcribe.add_argument("--language", "-l", default=AUTO,
                            help="'auto' (every character of the model), 'detect' (identify, then restrict), or a code, e.g. de")
    transcribe.add_argument("--candidates", default=None, help="with --language detect: choose among these, e.g. de,fr,it")
    _add_output_options(transcribe)
    transcribe.add_argument("--word-timestamps", action="store_true", help="add words with start, end and score (json)")
    transcribe.add_argument("--window-seconds", type=float, default=WindowOptions.window_seconds, help="audio per forward pass for long files")
    transcribe.add_argument("--vad", action="store_true", help="run the model on detected speech only (pip install 'polyasr[vad]')")
    transcribe.add_argument("--batch-seconds", type=float, default=BatchOptions.batch_seconds, help="padded audio seconds per forward pass")
    transcribe.add_argument("--diarize", action="store_true", help="label who speaks when: SPEAKER_00, ... (pip install 'polyasr[diarize]')")
    transcribe.add_argument("--min-speakers", type=int, default=None, help="with --diarize: at least this many speakers")
    transcribe.add_argument("--max-speakers", type=int, default=None, help="with --diarize: at most this many speakers")
    add_decoder_arguments(transcribe)
    _add_model_options(transcribe)

    detect = commands.add_parser("detect-language", help="identify the spoken language")
    detect.add_argument("files", nargs="+", help="audio or video files")
    detect.add_argument("--top", type=int, default=5, help="how many languages to list per file")
    detect.add_argument("--candidates", default=None, help="choose among these languages only, e.g. de,fr,it")
    detect.add_argument("--output-format", "-f", default="txt", choices=["txt", "json"], help="txt: a table; json: one object per file")
    _add_model_options(detect)

    align = commands.add_parser("align", help="times of every word of a known transcript (forced alignment)")
    align.add_argument("audio", help="audio or video file")
    align.add_argument("transcript", help="what is said: .srt, .vtt, whisper/faster-whisper/whisperX/verbose_json .json, "
                                          "or UTF-8 text (one segment per line)")
    align.add_argument("--language", "-l", default=None,
                       help="match the text to this language's characters, e.g. es; 'detect' (per segment) or 'auto' "
                            "(every character); default: the transcript's own language, else auto")
    _add_output_options(align)
    align.add_argument("--window-seconds", type=float, default=WindowOptions.window_seconds, help="audio per forward pass for long files")
    _add_model_options(align)

    evaluate = commands.add_parser("evaluate", help="WER/CER per language on Common Voice-style data or a manifest")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a Common Voice release folder (<lang>/<split>.tsv, <lang>/clips/)")
    source.add_argument("--manifest", help="JSONL or CSV with audio, text and optional language, id columns")
    evaluate.add_argument("--split", default="test", help="Common Voice split (test, dev, ...)")
    evaluate.add_argument("--languages", default=None, help="Common Voice languages, e.g. de,fr,ja (default: all)")
    evaluate.add_argument("--max-per-language", type=int, default=None, help="first N good rows of each language")
    evaluate.add_argument("--language", default=None, help="manifest rows without a language column are in this one")
    evaluate.add_argument("--decode", default="language", choices=["language", "auto", "detect"],
                          help="restrict decoding to each utterance's language (default), or not, or detect it")
    evaluate.add_argument("--output-dir", "-o", default="results", help="results.md/csv/json and hypotheses.jsonl (resumable)")
    evaluate.add_argument("--compare-card", action="store_true", help="add the model card's WER/CER and the difference")
    evaluate.add_argument("--plot", action="store_true", help="also write cer.png, a CER bar chart (pip install 'polyasr[plot]')")
    evaluate.add_argument("--batch-seconds", type=float, default=BatchOptions.batch_seconds, help="padded audio seconds per forward pass")
    add_decoder_arguments(evaluate)
    _add_model_options(evaluate)

    export = commands.add_parser("export", help="export a model for ONNX Runtime (polyasr.load(DIR) runs it)")
    export.add_argument("model", nargs="?", default=None, help="Hub id or folder (default: $POLYASR_MODEL or the 56-language model)")
    export.add_argument("--format", default="onnx", choices=["onnx"], help="export format")
    export.add_argument("--quantize", default="none", choices=["none", "int8"], help="int8: dynamic quantisation of MatMul weights")
    export.add_argument("--no-optimize", action="store_true", help="skip ONNX Runtime's transformer fusion")
    export.add_argument("--output", "-o", required=True, help="folder to write")

    serve = commands.add_parser("serve", help="serve an OpenAI-compatible HTTP API, live streaming and a web page")
    _add_optional(serve, "polyasr.server.cli_serve", "add_serve_arguments")

    listen = commands.add_parser("listen", help="transcribe the microphone live (pip install 'polyasr[listen]')")
    _add_optional(listen, "polyasr.listen", "add_listen_arguments")

    batch = commands.add_parser("batch", help="transcribe many files on Ray, resumably (pip install 'polyasr[ray]')")
    _add_optional(batch, "polyasr.batch.cli", "add_arguments")

    lm = commands.add_parser("lm", help="n-gram language models for beam search (pip install 'polyasr[lm]')")
    add_lm_arguments(lm)

    train = commands.add_parser("train", help="fine-tune a model or add languages (pip install 'polyasr[train]')")
    _add_optional(train, "polyasr.training.cli", "add_arguments")

    languages = commands.add_parser("languages", help="list the model's languages")
    languages.add_argument("--model", default=None, help="Hub id or local folder (default: the 56-language model)")

    convert = commands.add_parser("convert-lang-ids", help="convert a lang_ids.pk to lang_ids.json (safely)")
    convert.add_argument("source", help="lang_ids.pk (read with a restricted unpickler)")
    convert.add_argument("target", help="lang_ids.json to write")
    return parser


def _error(message: str) -> None:
    print(f"polyasr: error: {message}", file=sys.stderr)


def _transcribe(args: argparse.Namespace) -> int:
    if any(writer.extension == "rttm" for writer in get_writers(args.output_format)) and not args.diarize:
        _error("--output-format rttm lists speakers: add --diarize")
        return 1
    if not args.diarize and (args.min_speakers is not None or args.max_speakers is not None):
        _error("--min-speakers and --max-speakers need --diarize")
        return 1
    decoder = decoder_options(args)  # bad decoder options fail before the model loads
    recognizer = load(args.model, device=args.device, dtype=args.dtype, threads=args.threads,
                      batch=BatchOptions(batch_seconds=args.batch_seconds))
    if args.verbose:
        print(f"polyasr: model {recognizer.model.name}: {recognizer.model.describe()}", file=sys.stderr)
    options = TranscribeOptions(
        windows=WindowOptions(window_seconds=args.window_seconds),
        vad=VadOptions() if args.vad else None,
        language_candidates=_split(args.candidates),
        decoder=decoder,
    )
    if args.diarize:
        from .diarization import DiarizationOptions

        options = replace(options, diarization=DiarizationOptions(min_speakers=args.min_speakers, max_speakers=args.max_speakers))
    outcomes = recognizer.transcribe_iter(args.files, args.language, args.word_timestamps, options=options)
    return _for_each_file(outcomes, len(args.files), lambda item, bar: _emit(args, item.result, len(args.files) > 1, bar))


def _for_each_file(items: Any, count: int, handle: Any) -> int:
    """Run `handle(item, progress bar)` for each item without an error; one error line per bad one.

    A progress bar shows when there are several files; returns the exit code (1 if any failed).
    """
    from tqdm import tqdm

    failed = 0
    progress = tqdm(items, total=count, unit="file", disable=count == 1, file=sys.stderr)
    for item in progress:
        if item.error is not None:
            failed += 1
            progress.write(f"polyasr: error: {item.error}", file=sys.stderr)
        else:
            handle(item, progress)
    return 1 if failed else 0


def _add_optional(parser: argparse.ArgumentParser, module: str, function: str) -> None:
    """Arguments of a command whose module needs an extra; without it, the command says which."""
    import importlib

    try:
        getattr(importlib.import_module(module), function)(parser)
    except ImportError as error:
        parser.set_defaults(missing_extra=str(error))


def _serve(args: argparse.Namespace) -> int:
    from .server.cli_serve import run_serve

    return run_serve(args)


def _train(args: argparse.Namespace) -> int:
    from .training.cli import run

    return run(args)


def _listen(args: argparse.Namespace) -> int:
    from .listen import run_listen

    return run_listen(args)


def _batch(args: argparse.Namespace) -> int:
    from .batch.cli import run

    return run(args)


def _split(codes: str | None) -> tuple[str, ...] | None:
    return tuple(c.strip() for c in codes.split(",") if c.strip()) if codes else None


def _detect(args: argparse.Namespace) -> int:
    import json

    recognizer = load(args.model, device=args.device, dtype=args.dtype, threads=args.threads)

    def show(item: Any, progress: Any) -> None:
        ranked = item.value.probabilities()[: args.top]
        if args.output_format == "json":
            languages = [{"language": c, "name": language_name(c), "probability": p} for c, p in ranked]
            progress.write(json.dumps({"source": item.source, "languages": languages}, ensure_ascii=False), file=sys.stdout)
            return
        if len(args.files) > 1:
            progress.write(f"{item.source}:", file=sys.stdout)
        if not ranked:
            progress.write("no speech found", file=sys.stdout)
        for code, probability in ranked:
            progress.write(f"{code}\t{language_name(code)}\t{probability:.4f}", file=sys.stdout)

    return _for_each_file(recognizer.detect_language_iter(args.files, _split(args.candidates)), len(args.files), show)


def _align(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .transcripts import read_transcript

    segments = read_transcript(args.transcript)  # a malformed file fails before the model loads
    recognizer = load(args.model, device=args.device, dtype=args.dtype, threads=args.threads)
    if args.verbose:
        print(f"polyasr: model {recognizer.model.name}: {recognizer.model.describe()}", file=sys.stderr)
    options = TranscribeOptions(windows=WindowOptions(window_seconds=args.window_seconds))
    result = recognizer.align_segments(args.audio, segments, args.language, options=options)
    for warning in result.warnings:
        print(f"polyasr: warning: {warning}", file=sys.stderr)
    _emit(args, result, False, tqdm)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .eval_data import read_common_voice, read_manifest
    from .eval_report import markdown_table, plot_cer, write_reports
    from .evaluation import EvalOptions, evaluate

    decoder = decoder_options(args)
    if args.dataset:
        dataset = read_common_voice(args.dataset, args.split, _split(args.languages), args.max_per_language)
    else:
        dataset = read_manifest(args.manifest, args.language)
    for bad in dataset.bad_rows[:20]:
        print(f"polyasr: warning: {bad.where}: {bad.reason}", file=sys.stderr)
    if len(dataset.bad_rows) > 20:
        print(f"polyasr: warning: ... {len(dataset.bad_rows) - 20} more bad rows", file=sys.stderr)
    recognizer = load(args.model, device=args.device, dtype=args.dtype, threads=args.threads,
                      batch=BatchOptions(batch_seconds=args.batch_seconds))
    with tqdm(total=len(dataset.utterances), unit="utt", file=sys.stderr, desc="evaluate") as progress:
        def advance(done: int, total: int) -> None:
            progress.update(done - progress.n)

        result = evaluate(recognizer, dataset, args.output_dir, EvalOptions(decode=args.decode, decoder=decoder), advance)
    for warning in result.warnings:
        print(f"polyasr: warning: {warning}", file=sys.stderr)
    write_reports(result, args.output_dir, args.compare_card)
    if args.plot:
        plot_cer(result, Path(args.output_dir) / "cer.png", args.compare_card)
    print(markdown_table(result, args.compare_card), end="")
    print(f"polyasr: {len(dataset.utterances)} utterances ({result.resumed} from an earlier run), "
          f"{len(result.failed)} undecodable, {len(dataset.bad_rows)} bad rows; results in {args.output_dir}/", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import ExportOptions, export_onnx

    quantize = None if args.quantize == "none" else args.quantize
    folder = export_onnx(args.model, args.output, ExportOptions(quantize=quantize, optimize=not args.no_optimize))
    print(f"polyasr: wrote {folder}; run it with --model {folder}", file=sys.stderr)
    return 0


def _languages(args: argparse.Namespace) -> int:
    _, listing = list_languages(args.model or default_model())
    for code, detail in listing:
        print(f"{code}\t{english_name(code)}\t{detail}")
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
    if getattr(args, "missing_extra", None):
        extra = {"serve": "server", "batch": "ray"}.get(args.command, args.command)
        _error(f"'{args.command}' needs an optional part that is not installed ({args.missing_extra}); "
               f"pip install 'polyasr[{extra}]'")
        return 1
    handlers = {"transcribe": _transcribe, "detect-language": _detect, "align": _align, "evaluate": _evaluate, "export": _export, "serve": _serve, "listen": _listen, "batch": _batch, "train": _train, "languages": _languages, "convert-lang-ids": _convert, "lm": run_lm}
    try:
        return handlers[args.command](args)
    except PolyasrError as error:
        _error(str(error))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
