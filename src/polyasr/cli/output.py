"""What the `polyasr` command shows while it runs and writes when an input is done: a progress
bar (files done for several inputs, audio seconds done for one), warnings and the identified
language around the bar, and each result printed or written to a named file; and the options that
choose the output."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .args import output_formats, positive_int, unit_float
from .extras import with_install_hints
from ..errors import OptionsError
from ..language.catalogue import language_name
from ..results import Transcription
from ..output.base import WriterOptions
from ..output.writers import FORMATS, get_writers

BAR_DELAY_SECONDS = 2.0  # a progress bar appears only when a job takes longer than this


class Progress:
    """One progress bar on stderr: files done when there are several, audio seconds done for one.

    It appears only for jobs longer than BAR_DELAY_SECONDS; messages go around it.
    """

    def __init__(self, count: int) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self.several = count > 1
        self._bar = tqdm(total=count, unit="file", file=sys.stderr, disable=not self.several)
        self._seconds: Any = None

    def audio(self, source: str, done: float, total: float) -> None:
        """on_progress callback of the library: a bar of audio seconds for a single input."""
        if self.several:
            return
        if self._seconds is None:
            self._seconds = self._tqdm(total=round(total, 1), unit="s", desc="audio", file=sys.stderr,
                                       delay=BAR_DELAY_SECONDS, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]")
        self._seconds.update(max(0.0, round(done, 1) - self._seconds.n))  # drawn only after the delay

    def write(self, message: str, file: Any) -> None:
        self._bar.write(message, file=file)

    def advance(self) -> None:
        self._bar.update(1)
        if self._seconds is not None:
            self._seconds.close()
            self._seconds = None

    def close(self) -> None:
        if self._seconds is not None:
            self._seconds.close()
        self._bar.close()


def for_each_file(items: Any, progress: Progress, handle: Callable[[Any], None]) -> int:
    """Run `handle(item)` for each item without an error; one error line per bad one; exit code."""
    failed = 0
    try:
        for item in items:
            progress.advance()
            if item.error is not None:
                failed += 1
                progress.write(f"polyasr: error: {with_install_hints(str(item.error))}", file=sys.stderr)
            else:
                handle(item)
    finally:
        progress.close()
    return 1 if failed else 0


def warn(progress: Progress, warnings: Sequence[str]) -> None:
    for warning in warnings:
        progress.write(f"polyasr: warning: {warning}", file=sys.stderr)


def report_language(progress: Progress, result: Transcription) -> None:
    """Whisper's line: 'Detected language: German (0.93)', prefixed with the file when there are several."""
    if result.language is None or result.language_probability is None:
        return
    prefix = f"{result.source}: " if progress.several else ""
    progress.write(f"{prefix}Detected language: {language_name(result.language)} ({result.language_probability:.2f})",
                   file=sys.stderr)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """--output-format, --output-dir and the subtitle shape of the commands that print or write results."""
    parser.add_argument("--output-format", "-f", default="txt", type=output_formats, metavar="FORMAT[,FORMAT...]",
                        help=f"one of {', '.join(FORMATS)}, or several as srt,json (all: every format but rttm); "
                             "txt and json print to stdout unless --output-dir is given, the others write files")
    parser.add_argument("--output-dir", "-o", default=None, help="write <name>.<format> files here (default for subtitles: .)")
    parser.add_argument("--max-line-width", type=positive_int, default=WriterOptions.max_line_width, help="subtitle characters per line")
    parser.add_argument("--max-line-count", type=positive_int, default=WriterOptions.max_line_count, help="subtitle lines per cue")
    parser.add_argument("--highlight-below", type=unit_float, default=None, metavar="SCORE",
                        help="srt, vtt: underline words whose confidence is below SCORE (e.g. 0.5), for review")


def writes_files(args: argparse.Namespace) -> bool:
    """Whether the command writes files (--output-dir, or a format that is not printed)."""
    return args.output_dir is not None or args.output_format not in ("txt", "json")


def check_inputs_kept(args: argparse.Namespace, stems: Iterable[str], inputs: Sequence[str]) -> None:
    """OptionsError, before any work, when an output file would replace one of the command's inputs
    (`polyasr align talk.wav talk.srt -f srt` in the folder of the files would write talk.srt)."""
    if not writes_files(args):
        return
    folder = Path(args.output_dir or ".")
    kept = [Path(path) for path in inputs if Path(path).exists()]
    for stem in stems:
        for writer in get_writers(args.output_format):
            planned = folder / f"{stem}.{writer.extension}"
            if planned.exists() and any(os.path.samefile(planned, path) for path in kept):
                raise OptionsError(f"the {writer.extension} output {planned} would replace the input {planned}; "
                                   "give another --output-dir")


def emit(args: argparse.Namespace, result: Transcription, stem: str | None, progress: Progress) -> None:
    """Print a result (txt, json without --output-dir) or write its files and say where."""
    options = WriterOptions(max_line_width=args.max_line_width, max_line_count=args.max_line_count,
                            include_words=bool(getattr(args, "word_timestamps", True)), highlight_below=args.highlight_below)
    writers = get_writers(args.output_format, options)
    if not writes_files(args):
        text = writers[0].format(result).rstrip("\n")
        prefix = f"{result.source}: " if progress.several and args.output_format == "txt" else ""
        progress.write(prefix + text.replace("\n", " ") if prefix else text, file=sys.stdout)
        return
    for writer in writers:
        try:
            path = writer.write(result, args.output_dir or ".", stem)
        except OSError as error:
            raise OptionsError(f"{result.source}: cannot write its {writer.extension} output ({error.strerror or error})") from None
        progress.write(f"polyasr: wrote {path}", file=sys.stderr)
