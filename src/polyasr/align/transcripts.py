"""Reading other tools' transcripts and subtitles into timed text segments, for alignment.

    read_transcript("interview.srt")        -> [TranscriptSegment(text, start, end, ...), ...]

Formats (chosen by the file's extension, else by its first characters):
- SRT, parsed with the `srt` package (tolerant of numbering gaps, CRLF, a byte-order mark);
- WebVTT, parsed here line by line: webvtt-py drops a cue with a malformed timing line without a
  word and gives no line numbers, and the format is small (a header, blocks between blank lines,
  NOTE/STYLE/REGION blocks, an optional cue id, `start --> end settings`, the cue text);
- JSON of openai-whisper (`--output_format json`), faster-whisper (its segments dumped as a list of
  objects, or under "segments"), whisperX (with "words" and "speaker") and OpenAI's verbose_json
  (whose "language" is an English name): segments with "start", "end" and "text";
- plain text: one segment per non-blank line, without times.

Markup is removed from cue text (`<i>`, `<font ...>`, `{\\an8}`, `<v Name>`, `&amp;`); a WebVTT
voice (`<v Name>`) or whisperX "speaker" is kept as the segment's speaker. A malformed file raises
TranscriptError naming the file and the line (JSON: the segment) and what was expected.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TranscriptError

FORMATS = ("srt", "vtt", "json", "txt")  # what read_transcript understands


@dataclass(frozen=True)
class TranscriptSegment:
    """One cue or segment of someone else's transcript."""

    text: str  # as written, markup removed, lines joined by spaces
    start: float | None = None  # seconds; None when the transcript has no times (plain text)
    end: float | None = None  # seconds; None with start
    language: str | None = None  # as the file names it (a code or an English name); None: not given
    speaker: str | None = None  # the file's speaker label (WebVTT voice, whisperX speaker), if any


def read_transcript(path: str | Path, format: str | None = None) -> list[TranscriptSegment]:
    """The segments of a subtitle or transcript file; `format` is one of FORMATS or None to guess."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise TranscriptError(f"{name}: cannot read the transcript ({error.strerror or error})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise TranscriptError(f"{name}:{line}: the transcript is not UTF-8 text") from None
    kind = (format or _guess_format(name, text)).lower()
    readers = {"srt": _read_srt, "vtt": _read_vtt, "json": _read_json, "txt": _read_txt}
    if kind not in readers:
        raise TranscriptError(f"{name}: unknown transcript format {kind!r}; choose one of: {', '.join(FORMATS)}")
    segments = readers[kind](text, name)
    if not any(segment.text for segment in segments):
        raise TranscriptError(f"{name}: the transcript holds no text to align")
    return segments


def _guess_format(name: str, text: str) -> str:
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix in ("srt", "vtt", "json"):
        return suffix
    head = text.lstrip()
    if head.startswith("WEBVTT"):
        return "vtt"
    if head[:1] in ("{", "["):
        return "json"
    if re.match(r"\d+\s*\n\s*\d+:\d\d:\d\d[,.]\d+\s*-->", head):
        return "srt"
    return "txt"


# --- markup -------------------------------------------------------------------------------------

_TAG = re.compile(r"<[^<>]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^{}]*\}")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")


def _plain(lines: list[str]) -> str:
    """Cue text without markup, its lines joined by single spaces."""
    text = " ".join(line.strip() for line in lines)
    text = _TAG.sub("", _ASS_OVERRIDE.sub("", text))
    return " ".join(html.unescape(text).split())


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _check_times(name: str, where: str, start: float, end: float) -> None:
    if end < start:
        raise TranscriptError(f"{name}:{where}: the cue ends ({end:.3f} s) before it starts ({start:.3f} s)")


# --- SRT ----------------------------------------------------------------------------------------


def _read_srt(text: str, name: str) -> list[TranscriptSegment]:
    import srt

    text = text.replace("\r\n", "\n")
    try:
        cues = list(srt.parse(text))
    except srt.SRTParseError as error:
        gap = text[error.expected_start : error.actual_start]
        line = _line_of(text, error.expected_start + len(gap) - len(gap.lstrip()))
        content = error.unmatched_content.strip().splitlines()
        shown = f": {content[0][:60]!r}" if content else ""
        raise TranscriptError(
            f"{name}:{line}: expected an SRT cue (a number, a line 'HH:MM:SS,mmm --> HH:MM:SS,mmm', "
            f"then text){shown}"
        ) from None
    # srt.parse yields one cue per match of its regular expression, in order: the same matches give lines
    lines = [_line_of(text, match.start(2)) for match in srt.SRT_REGEX.finditer(text)]
    segments = []
    for number, cue in enumerate(cues):
        where = str(lines[number]) if len(lines) == len(cues) else f" cue {cue.index}"
        start, end = cue.start.total_seconds(), cue.end.total_seconds()
        _check_times(name, where, start, end)
        segments.append(TranscriptSegment(_plain(cue.content.splitlines()), start, end))
    if not segments:
        raise TranscriptError(f"{name}:1: expected SRT cues, found none")
    return segments


# --- WebVTT -------------------------------------------------------------------------------------

_VTT_TIME = re.compile(r"^(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})$")
_VTT_TIMING = re.compile(r"^(\S+)[ \t]+-->[ \t]+(\S+)(?:[ \t].*)?$")


def _vtt_seconds(stamp: str) -> float | None:
    match = _VTT_TIME.match(stamp)
    if match is None:
        return None
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def _read_vtt(text: str, name: str) -> list[TranscriptSegment]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not re.match(r"WEBVTT(?:[ \t]|$)", lines[0]):
        raise TranscriptError(f"{name}:1: expected the WebVTT header 'WEBVTT', got {lines[0][:40]!r}")
    segments: list[TranscriptSegment] = []
    number = 1
    while number < len(lines):  # skip the rest of the header block
        if not lines[number].strip():
            break
        number += 1
    while number < len(lines):
        if not lines[number].strip():
            number += 1
            continue
        first = number
        block = []
        while number < len(lines) and lines[number].strip():
            block.append(lines[number])
            number += 1
        if re.match(r"(NOTE|STYLE|REGION)(?:[ \t]|$)", block[0]):
            continue
        timing = 0 if "-->" in block[0] else 1  # an optional cue identifier comes first
        if timing >= len(block) or "-->" not in block[timing]:
            raise TranscriptError(
                f"{name}:{first + timing + 1}: expected a cue timing line 'HH:MM:SS.mmm --> HH:MM:SS.mmm', "
                f"got {block[min(timing, len(block) - 1)][:60]!r}"
            )
        match = _VTT_TIMING.match(block[timing].strip())
        start = _vtt_seconds(match.group(1)) if match else None
        end = _vtt_seconds(match.group(2)) if match else None
        if start is None or end is None:
            raise TranscriptError(
                f"{name}:{first + timing + 1}: expected a cue timing line '[HH:]MM:SS.mmm --> [HH:]MM:SS.mmm', "
                f"got {block[timing][:60]!r}"
            )
        _check_times(name, str(first + timing + 1), start, end)
        payload = block[timing + 1 :]
        voice = next((m.group(1).strip() for m in map(_VOICE.search, payload) if m), None)
        segments.append(TranscriptSegment(_plain(payload), start, end, speaker=voice))
    if not segments:
        raise TranscriptError(f"{name}:1: expected WebVTT cues after the header, found none")
    return segments


# --- JSON ---------------------------------------------------------------------------------------


def _read_json(text: str, name: str) -> list[TranscriptSegment]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise TranscriptError(f"{name}:{error.lineno}: not valid JSON ({error.msg} at column {error.colno})") from None
    language = None
    if isinstance(data, dict):
        language = _optional_str(data.get("language"), name, "language")
        items = data.get("segments")
        if not isinstance(items, list):
            raise TranscriptError(
                f"{name}: expected a 'segments' list (whisper, faster-whisper, whisperX or verbose_json output)"
            )
    elif isinstance(data, list):
        items = data
    else:
        raise TranscriptError(f"{name}: expected a JSON object with 'segments' or a list of segments")
    segments = []
    for index, item in enumerate(items):
        where = f"segments[{index}]"
        if not isinstance(item, dict):
            raise TranscriptError(f"{name}: {where} must be an object with start, end and text")
        start, end = _seconds(item.get("start"), name, f"{where}.start"), _seconds(item.get("end"), name, f"{where}.end")
        if end < start:
            raise TranscriptError(f"{name}: {where} ends ({end:.3f} s) before it starts ({start:.3f} s)")
        text_value = item.get("text")
        if not isinstance(text_value, str):
            raise TranscriptError(f"{name}: {where}.text must be a string, got {type(text_value).__name__}")
        own = _optional_str(item.get("language"), name, f"{where}.language")
        speaker = _optional_str(item.get("speaker"), name, f"{where}.speaker")
        segments.append(TranscriptSegment(" ".join(text_value.split()), start, end, own or language, speaker))
    return segments


def _seconds(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise TranscriptError(f"{name}: {where} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def _optional_str(value: Any, name: str, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TranscriptError(f"{name}: {where} must be a string, got {value!r}")
    return value


# --- plain text ---------------------------------------------------------------------------------


def _read_txt(text: str, name: str) -> list[TranscriptSegment]:
    return [TranscriptSegment(" ".join(line.split())) for line in text.splitlines() if line.strip()]
