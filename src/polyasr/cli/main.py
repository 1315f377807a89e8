"""The `polyasr` command: a thin layer over the public API. With cli_output.py and the subpackages' cli.py
modules, the only code that prints."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from .args import (
    HelpFormatter, check_output_file, check_output_folder, language_choice, non_negative_float, output_formats,
    positive_float, positive_int,
)
from .output import Progress, emit, for_each_file, launcher_hint, report_language, warn, writes_files
from .decoder import add_decoder_arguments, add_lm_arguments, decoder_options, run_lm
from ..errors import OptionsError, PolyasrError
from ..engine.inference import BatchOptions
from ..language.codes import english_name
from ..language.catalogue import language_name
from ..model.ctc_model import default_model, list_languages
from ..language.table import read_language_table, write_language_table_json
from ..language.choice import AUTO
from ..options import TranscribeOptions
from ..recognizer import Recognizer, load
from ..audio.vad import VadOptions
from ..engine.windows import WindowOptions
from ..output.base import WriterOptions
from ..output.stems import output_stems
from ..output.writers import FORMATS, get_writers


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None, help="Hub id or local folder (default: $POLYASR_MODEL or voidful/wav2vec2-xlsr-multilingual-56)")
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    parser.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"], help="model precision")
    parser.add_argument("--threads", type=positive_int, default=None, help="CPU threads for the model")


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    """--verbose on a command, or on each of its own subcommands (`lm build`)."""
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in nested:
        for subparser in action.choices.values():
            _add_verbose(subparser)
    if not nested and "--verbose" not in parser._option_string_actions:  # a command's own module may define it
        parser.add_argument("--verbose", "-v", action="store_true", help="say more about what runs (model, backend, device, dtype, files)")


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output-format", "-f", default="txt", type=output_formats, metavar="FORMAT[,FORMAT...]",
                        help=f"one of {', '.join(FORMATS)}, or several as srt,json (all: every format but rttm); "
                             "txt and json print to stdout unless --output-dir is given, the others write files")
    parser.add_argument("--output-dir", "-o", default=None, help="write <name>.<format> files here (default for subtitles: .)")
    parser.add_argument("--max-line-width", type=positive_int, default=WriterOptions.max_line_width, help="subtitle characters per line")
    parser.add_argument("--max-line-count", type=positive_int, default=WriterOptions.max_line_count, help="subtitle lines per cue")


def _add_decoding_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--window-seconds", type=positive_float, default=WindowOptions.window_seconds,
                        help="audio per forward pass for long files (more than twice --context-seconds)")
    parser.add_argument("--context-seconds", type=non_negative_float, default=WindowOptions.context_seconds,
                        help="overlap on each side of a window whose frames are discarded")
    parser.add_argument("--vad", action="store_true", help="run the model on detected speech only (pip install 'polyasr[vad]')")
    parser.add_argument("--batch-seconds", type=positive_float, default=BatchOptions.batch_seconds, help="padded audio seconds per forward pass")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polyasr", description="Multilingual speech recognition (56 languages).",
                                     formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help, formatter_class=HelpFormatter)

    transcribe = command("transcribe", "transcribe audio or video files")
    transcribe.add_argument("files", nargs="+", help="audio or video files (wav, flac, mp3, ogg, opus, m4a, webm, mp4, ...)")
    transcribe.add_argument("--language", "-l", default=AUTO, type=language_choice,
                            help="'auto' (every character; the identified language is reported), 'detect' "
                                 "(identify, then restrict to it), or a code, e.g. de")
    transcribe.add_argument("--candidates", default=None, help="with auto or detect: choose among these, e.g. de,fr,it")
    _add_output_options(transcribe)
    transcribe.add_argument("--word-timestamps", action="store_true", help="add words with start, end and score (json)")
    _add_decoding_options(transcribe)
    transcribe.add_argument("--diarize", action="store_true", help="label who speaks when: SPEAKER_00, ... (pip install 'polyasr[diarize]')")
    transcribe.add_argument("--min-speakers", type=positive_int, default=None, help="with --diarize: at least this many speakers")
    transcribe.add_argument("--max-speakers", type=positive_int, default=None, help="with --diarize: at most this many speakers")
    add_decoder_arguments(transcribe)
    _add_model_options(transcribe)

    detect = command("detect-language", "identify the spoken language")
    detect.add_argument("files", nargs="+", help="audio or video files")
    detect.add_argument("--top", type=positive_int, default=5, help="how many languages to list per file")
    detect.add_argument("--candidates", default=None, help="choose among these languages only, e.g. de,fr,it")
    detect.add_argument("--output-format", "-f", default="txt", choices=["txt", "json"], help="txt: a table; json: one object per file")
    _add_decoding_options(detect)
    _add_model_options(detect)

    align = command("align", "times of every word of a known transcript (forced alignment)")
    align.add_argument("audio", help="audio or video file")
    align.add_argument("transcript", help="what is said: .srt, .vtt, whisper/faster-whisper/whisperX/verbose_json .json, "
                                          "or UTF-8 text (one segment per line)")
    align.add_argument("--language", "-l", default=None, type=language_choice,
                       help="match the text to this language's characters, e.g. es; 'detect' (per segment) or 'auto' "
                            "(every character); default: the transcript's own language, else auto")
    _add_output_options(align)
    _add_decoding_options(align)
    _add_model_options(align)

    evaluate = command("evaluate", "WER/CER per language on Common Voice-style data or a manifest")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help="a Common Voice release folder (<lang>/<split>.tsv, <lang>/clips/)")
    source.add_argument("--manifest", help="JSONL or CSV with audio, text and optional language, id columns")
    evaluate.add_argument("--split", default="test", help="Common Voice split (test, dev, ...)")
    evaluate.add_argument("--languages", default=None, help="Common Voice languages, e.g. de,fr,ja (default: all)")
    evaluate.add_argument("--max-per-language", type=positive_int, default=None, help="first N good rows of each language")
    evaluate.add_argument("--language", default=None, help="manifest rows without a language column are in this one")
    evaluate.add_argument("--decode", default="language", choices=["language", "auto", "detect"],
                          help="restrict decoding to each utterance's language, or not, or detect it")
    evaluate.add_argument("--output-dir", "-o", default="results", help="results.md/csv/json and hypotheses.jsonl (resumable)")
    evaluate.add_argument("--restart", action="store_true", help="discard the hypotheses of an earlier run in --output-dir")
    evaluate.add_argument("--compare-card", action="store_true", help="add the model card's WER/CER and the difference")
    evaluate.add_argument("--plot", action="store_true", help="also write cer.png, a CER bar chart (pip install 'polyasr[plot]')")
    evaluate.add_argument("--batch-seconds", type=positive_float, default=BatchOptions.batch_seconds, help="padded audio seconds per forward pass")
    add_decoder_arguments(evaluate)
    _add_model_options(evaluate)

    export = command("export", "export a model for ONNX Runtime (polyasr.load(DIR) runs it)")
    export.add_argument("model", nargs="?", default=None, help="Hub id or folder (default: $POLYASR_MODEL or the 56-language model)")
    export.add_argument("--format", default="onnx", choices=["onnx"], help="export format")
    export.add_argument("--quantize", default="none", choices=["none", "int8"], help="int8: dynamic quantisation of MatMul weights")
    export.add_argument("--no-optimize", action="store_true", help="skip ONNX Runtime's transformer fusion")
    export.add_argument("--output", "-o", required=True, help="folder to write")

    serve = command("serve", "serve an OpenAI-compatible HTTP API, live streaming and a web page")
    _add_optional(serve, "polyasr.cli.serve", "add_serve_arguments", "server")

    listen = command("listen", "transcribe the microphone live (pip install 'polyasr[listen]')")
    _add_optional(listen, "polyasr.cli.listen", "add_listen_arguments", "listen")

    batch = command("batch", "transcribe many files on Ray, resumably (pip install 'polyasr[ray]')")
    _add_optional(batch, "polyasr.cli.batch", "add_arguments", "ray")

    lm = command("lm", "n-gram language models for beam search (pip install 'polyasr[lm]')")
    add_lm_arguments(lm)

    train = command("train", "fine-tune a model or add languages (pip install 'polyasr[train]')")
    _add_optional(train, "polyasr.cli.train", "add_arguments", "train")

    languages = command("languages", "list the model's languages")
    languages.add_argument("--model", default=None, help="Hub id or local folder (default: the 56-language model)")

    convert = command("convert-lang-ids", "convert a lang_ids.pk to lang_ids.json (safely)")
    convert.add_argument("source", help="lang_ids.pk (read with a restricted unpickler)")
    convert.add_argument("target", help="lang_ids.json to write")

    for subparser in commands.choices.values():
        _add_verbose(subparser)
    return parser


def _error(message: str) -> None:
    print(f"polyasr: error: {launcher_hint(message)}", file=sys.stderr)


def _install_hint(extra: str) -> str:
    return f"pip install 'polyasr[{extra}]'"


# ---------------------------------------------------------------------------------------------
# Commands


def _options(args: argparse.Namespace) -> TranscribeOptions:
    """Decoding options from the command line, checked before the model loads."""
    windows = WindowOptions(window_seconds=args.window_seconds, context_seconds=args.context_seconds)
    windows.sizes(1)  # OptionsError now for a window not longer than its two contexts
    candidates = _split(getattr(args, "candidates", None))
    options = TranscribeOptions(windows=windows, vad=VadOptions() if args.vad else None, language_candidates=candidates)
    if hasattr(args, "decoder"):
        options = replace(options, decoder=decoder_options(args))
    return options


def _load(args: argparse.Namespace, batch: BatchOptions = BatchOptions()) -> Recognizer:
    recognizer = load(args.model, device=args.device, dtype=args.dtype, threads=args.threads, batch=batch)
    if args.verbose:
        print(f"polyasr: model {recognizer.model.name}: {recognizer.model.describe()}", file=sys.stderr)
    return recognizer


def _check_outputs(args: argparse.Namespace) -> None:
    if writes_files(args):
        check_output_folder(args.output_dir or ".", "--output-dir")


def _transcribe(args: argparse.Namespace) -> int:
    if any(writer.extension == "rttm" for writer in get_writers(args.output_format)) and not args.diarize:
        raise OptionsError("--output-format rttm lists speakers: add --diarize")
    if not args.diarize and (args.min_speakers is not None or args.max_speakers is not None):
        raise OptionsError("--min-speakers and --max-speakers need --diarize")
    options = _options(args)  # bad decoder options fail before the model loads
    if args.diarize:
        from ..diarization import DiarizationOptions

        options = replace(options, diarization=DiarizationOptions(min_speakers=args.min_speakers, max_speakers=args.max_speakers))
    _check_outputs(args)
    stems = dict(zip(args.files, output_stems(list(args.files))))
    recognizer = _load(args, BatchOptions(batch_seconds=args.batch_seconds))
    progress = Progress(len(args.files))
    options = replace(options, language=args.language, word_timestamps=args.word_timestamps)
    outcomes = recognizer.transcribe_iter(args.files, options, on_progress=progress.audio)

    def handle(outcome: Any) -> None:
        warn(progress, outcome.result.warnings)
        if not args.language.is_language:
            report_language(progress, outcome.result)
        emit(args, outcome.result, stems[outcome.source], progress)

    return for_each_file(outcomes, progress, handle)


def _detect(args: argparse.Namespace) -> int:
    import json

    options = _options(args)
    recognizer = _load(args, BatchOptions(batch_seconds=args.batch_seconds))
    progress = Progress(len(args.files))

    def show(item: Any) -> None:
        warn(progress, item.warnings)
        ranked = item.value.probabilities()[: args.top]
        if args.output_format == "json":
            languages = [{"language": c, "name": language_name(c), "probability": p} for c, p in ranked]
            progress.write(json.dumps({"source": item.source, "languages": languages}, ensure_ascii=False), file=sys.stdout)
            return
        if progress.several:
            progress.write(f"{item.source}:", file=sys.stdout)
        if not ranked:
            progress.write("no speech found", file=sys.stdout)
        for code, probability in ranked:
            progress.write(f"{code}\t{language_name(code)}\t{probability:.4f}", file=sys.stdout)

    items = recognizer.detect_language_iter(args.files, options, on_progress=progress.audio)
    return for_each_file(items, progress, show)


def _align(args: argparse.Namespace) -> int:
    from ..align.transcripts import read_transcript

    segments = read_transcript(args.transcript)  # a malformed file fails before the model loads
    options = _options(args)
    _check_outputs(args)
    recognizer = _load(args, BatchOptions(batch_seconds=args.batch_seconds))
    progress = Progress(1)
    try:
        result = recognizer.align_segments(args.audio, segments, replace(options, language=args.language))
    finally:
        progress.close()
    warn(progress, result.warnings)
    emit(args, result, None, progress)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    try:
        from ..evaluation.run import EvalOptions, evaluate
    except ImportError as error:
        raise PolyasrError(f"evaluate needs jiwer ({error}); {_install_hint('eval')}") from None
    from ..evaluation.data import read_common_voice, read_manifest
    from ..evaluation.report import markdown_table, plot_cer, write_reports

    check_output_folder(args.output_dir, "--output-dir")
    decoder = decoder_options(args)
    if args.dataset:
        dataset = read_common_voice(args.dataset, args.split, _split(args.languages), args.max_per_language)
    else:
        dataset = read_manifest(args.manifest, args.language)
    for bad in dataset.bad_rows[:20]:
        print(f"polyasr: warning: {bad.where}: {bad.reason}", file=sys.stderr)
    if len(dataset.bad_rows) > 20:
        print(f"polyasr: warning: ... {len(dataset.bad_rows) - 20} more bad rows", file=sys.stderr)
    recognizer = _load(args, BatchOptions(batch_seconds=args.batch_seconds))
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
    write_reports(result, args.output_dir, args.compare_card)
    if args.plot:
        plot_cer(result, Path(args.output_dir) / "cer.png", args.compare_card)
    print(markdown_table(result, args.compare_card), end="")
    bad_rows = len(dataset.bad_rows) + len(result.bad_rows)
    print(f"polyasr: {len(dataset.utterances)} utterances ({result.resumed} from an earlier run), "
          f"{len(result.failed)} undecodable, {bad_rows} bad rows; results in {args.output_dir}/", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    check_output_folder(args.output, "--output")
    try:
        from ..model.export import ExportOptions, export_onnx
    except ImportError as error:
        raise PolyasrError(f"export needs onnx and onnxruntime ({error}); {_install_hint('onnx')}") from None

    quantize = None if args.quantize == "none" else args.quantize
    if args.verbose:
        print(f"polyasr: exporting {args.model or default_model()} to {args.output} "
              f"(quantize={args.quantize}, optimize={not args.no_optimize})", file=sys.stderr)
    folder = export_onnx(args.model, args.output, ExportOptions(quantize=quantize, optimize=not args.no_optimize))
    print(f"polyasr: wrote {folder}; run it with --model {folder}", file=sys.stderr)
    return 0


def _languages(args: argparse.Namespace) -> int:
    name = args.model or default_model()
    source, listing = list_languages(name)
    if args.verbose:
        print(f"polyasr: {len(listing)} languages of {name}, from its {source}", file=sys.stderr)
    for code, detail in listing:
        print(f"{code}\t{english_name(code)}\t{detail}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    target = check_output_file(args.target, "target")
    table = read_language_table(args.source)
    try:
        write_language_table_json(table, target)
    except OSError as error:
        raise OptionsError(f"target {args.target}: cannot be written ({error.strerror or error})") from None
    if args.verbose:
        for code in sorted(table.ids):
            print(f"polyasr: {code}: {len(table.ids[code])} token ids", file=sys.stderr)
    print(f"wrote {len(table.ids)} languages to {args.target}", file=sys.stderr)
    return 0


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


def _add_optional(parser: argparse.ArgumentParser, module: str, function: str, extra: str) -> None:
    """Arguments of a command whose module needs an extra; without it, the command says which."""
    import importlib

    try:
        getattr(importlib.import_module(module), function)(parser)
    except ImportError as error:
        hint = "" if "pip install" in str(error) else f"; {_install_hint(extra)}"
        parser.set_defaults(missing_extra=f"{error}{hint}")


def _split(codes: str | None) -> tuple[str, ...] | None:
    return tuple(c.strip() for c in codes.split(",") if c.strip()) if codes else None


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
        _error(f"'{args.command}' needs an optional part that is not installed ({args.missing_extra})")
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
