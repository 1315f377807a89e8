"""`polyasr transcribe`, `polyasr detect-language` and `polyasr align`: the commands that run the
recognizer on files, and the loading of the model they (and `evaluate`) share."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from typing import Any

from .args import check_output_folder, positive_int
from .decoder import add_decoder_arguments, decoder_options
from .groups import add_language_arguments, add_runtime_arguments, add_window_arguments, batch_options, \
    runtime_options, vad_options, window_options
from .output import Progress, add_output_arguments, check_inputs_kept, emit, for_each_file, report_language, warn, writes_files
from ..errors import OptionsError
from ..language.catalogue import language_name
from ..options import TranscribeOptions
from ..audio.sources import source_name
from ..output.stems import output_stem, output_stems
from ..output.writers import get_writers
from ..recognizer import Recognizer, load


def load_recognizer(args: argparse.Namespace) -> Recognizer:
    """The model of the model and runtime options; with --verbose, say what runs."""
    runtime = runtime_options(args)
    recognizer = load(args.model, device=runtime.device, dtype=runtime.dtype, threads=runtime.threads,
                      batch=batch_options(args))
    if args.verbose:
        print(f"polyasr: model {recognizer.model.name}: {recognizer.model.describe()}", file=sys.stderr)
    return recognizer


def transcribe_options(args: argparse.Namespace) -> TranscribeOptions:
    """Windows, VAD, candidates and decoder from the command line, checked before the model loads."""
    options = TranscribeOptions(windows=window_options(args), vad=vad_options(args),
                                language_candidates=getattr(args, "candidates", None))
    if hasattr(args, "decoder"):
        options = replace(options, decoder=decoder_options(args))
    return options


def _check_outputs(args: argparse.Namespace) -> None:
    if writes_files(args):
        check_output_folder(args.output_dir or ".", "--output-dir")


# ---------------------------------------------------------------------------------------------
# transcribe


def add_transcribe_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `polyasr transcribe`."""
    parser.add_argument("files", nargs="+", help="audio or video files (wav, flac, mp3, ogg, opus, m4a, webm, mp4, ...)")
    add_language_arguments(parser, language_help="'auto' (every character; the identified language is reported), "
                                                 "'detect' (identify, then restrict to it), 'multi' (mixed-language speech: "
                                                 "a language per segment), or a code, e.g. de",
                           candidates_help="with auto, detect or multi: choose among these, e.g. de,fr,it")
    add_output_arguments(parser)
    parser.add_argument("--word-timestamps", action="store_true", help="add words with start, end and score (json)")
    add_window_arguments(parser)
    parser.add_argument("--diarize", action="store_true", help="label who speaks when: SPEAKER_00, ... (pip install 'polyasr[diarize]')")
    parser.add_argument("--min-speakers", type=positive_int, default=None, help="with --diarize: at least this many speakers")
    parser.add_argument("--max-speakers", type=positive_int, default=None, help="with --diarize: at most this many speakers")
    add_decoder_arguments(parser)
    add_runtime_arguments(parser)


def run_transcribe(args: argparse.Namespace) -> int:
    """Transcribe every file; print or write each result. 1 when a file failed."""
    if any(writer.extension == "rttm" for writer in get_writers(args.output_format)) and not args.diarize:
        raise OptionsError("--output-format rttm lists speakers: add --diarize")
    if not args.diarize and (args.min_speakers is not None or args.max_speakers is not None):
        raise OptionsError("--min-speakers and --max-speakers need --diarize")
    options = transcribe_options(args)  # bad decoder options fail before the model loads
    if args.diarize:
        from ..diarization import DiarizationOptions

        options = replace(options, diarization=DiarizationOptions(min_speakers=args.min_speakers, max_speakers=args.max_speakers))
    _check_outputs(args)
    stems = dict(zip(args.files, output_stems(list(args.files))))
    check_inputs_kept(args, stems.values(), args.files)
    recognizer = load_recognizer(args)
    progress = Progress(len(args.files))
    options = replace(options, language=args.language, word_timestamps=args.word_timestamps or args.highlight_below is not None)
    outcomes = recognizer.transcribe_iter(args.files, options, on_progress=progress.audio)

    def handle(outcome: Any) -> None:
        warn(progress, outcome.result.warnings)
        if not args.language.is_language:
            report_language(progress, outcome.result)
        emit(args, outcome.result, stems[outcome.source], progress)

    return for_each_file(outcomes, progress, handle)


# ---------------------------------------------------------------------------------------------
# detect-language


def add_detect_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `polyasr detect-language`."""
    parser.add_argument("files", nargs="+", help="audio or video files")
    parser.add_argument("--top", type=positive_int, default=5, help="how many languages to list per file")
    add_language_arguments(parser, candidates_help="choose among these languages only, e.g. de,fr,it")
    parser.add_argument("--output-format", "-f", default="txt", choices=["txt", "json"], help="txt: a table; json: one object per file")
    add_window_arguments(parser)
    add_runtime_arguments(parser)


def run_detect(args: argparse.Namespace) -> int:
    """List the most probable languages of every file. 1 when a file failed."""
    options = transcribe_options(args)
    recognizer = load_recognizer(args)
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


# ---------------------------------------------------------------------------------------------
# align


def add_align_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `polyasr align`."""
    parser.add_argument("audio", help="audio or video file")
    parser.add_argument("transcript", help="what is said: .srt, .vtt, whisper/faster-whisper/whisperX/verbose_json .json, "
                                           "or UTF-8 text (one segment per line)")
    add_language_arguments(parser, default=None,
                           language_help="match the text to this language's characters, e.g. es; 'detect' (per segment) "
                                         "or 'auto' (every character); default: the transcript's own language, else auto")
    add_output_arguments(parser)
    add_window_arguments(parser)
    add_runtime_arguments(parser)


def run_align(args: argparse.Namespace) -> int:
    """Align the transcript to the audio; print or write the timed result."""
    from ..align.transcripts import read_transcript

    segments = read_transcript(args.transcript)  # a malformed file fails before the model loads
    options = transcribe_options(args)
    _check_outputs(args)
    check_inputs_kept(args, [output_stem(source_name(args.audio))], [args.audio, args.transcript])
    recognizer = load_recognizer(args)
    progress = Progress(1)
    try:
        result = recognizer.align_segments(args.audio, segments, replace(options, language=args.language))
    finally:
        progress.close()
    warn(progress, result.warnings)
    emit(args, result, None, progress)
    return 0
