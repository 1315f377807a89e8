"""The writer registry: format names to writers, shared by the CLI and the server.

    get_writer("srt", WriterOptions(max_line_width=37)).format(result)  -> str
    get_writer("vtt").write(result, "out/")                              -> Path out/<stem>.vtt
    get_writers("all")                                                   -> one writer per format

WriterOptions and the ResultWriter base are in base.py; the formats in text_formats.py (txt, json,
tsv), subtitles.py (srt, vtt, over the cue builder in cues.py) and rttm.py; file names in stems.py.
"""

from __future__ import annotations

from .base import ResultWriter, WriterOptions
from .rttm import WriteRTTM
from .subtitles import WriteSRT, WriteVTT
from .text_formats import WriteJSON, WriteTSV, WriteTXT

__all__ = ["ALL", "FORMATS", "WRITERS", "get_writer", "get_writers"]


WRITERS: dict[str, type[ResultWriter]] = {
    "txt": WriteTXT,
    "json": WriteJSON,
    "srt": WriteSRT,
    "vtt": WriteVTT,
    "tsv": WriteTSV,
    "rttm": WriteRTTM,
}
ALL: tuple[str, ...] = ("txt", "json", "srt", "vtt", "tsv")  # what "all" writes (rttm needs speakers: ask for it)
FORMATS: tuple[str, ...] = (*WRITERS, "all")  # the CLI's choices; several may be given as "srt,json"


def _unknown_format(name: str) -> ValueError:
    return ValueError(f"unknown output format {name!r}; choose one of: {', '.join(FORMATS)}")


def get_writer(output_format: str, options: WriterOptions | None = None) -> ResultWriter:
    """The writer for one format name; ValueError listing the formats for an unknown one (or "all")."""
    name = output_format.strip().lower()
    if name == "all":
        raise ValueError("'all' names several writers; use get_writers('all') to get one per format")
    try:
        cls = WRITERS[name]
    except KeyError:
        raise _unknown_format(output_format) from None
    return cls(options)


def get_writers(output_format: str, options: WriterOptions | None = None) -> list[ResultWriter]:
    """The writers of one format, of "all" (txt, json, srt, vtt, tsv), or of a comma-separated list ("srt,json").

    ValueError listing the formats for an unknown name.
    """
    names = [name.strip().lower() for name in output_format.split(",") if name.strip()] or [output_format]
    expanded = [each for name in names for each in (ALL if name == "all" else (name,))]
    return [get_writer(name, options) for name in dict.fromkeys(expanded)]
