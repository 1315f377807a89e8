"""Output writers: one small class per format, looked up by name; shared by the CLI and the server.

    get_writer("srt", WriterOptions(max_line_width=37)).format(result)  -> str
    get_writer("vtt").write(result, "out/")                              -> Path out/<stem>.vtt
    get_writers("all")                                                   -> one writer per format

SRT and VTT share one cue builder (`build_cues`): segments become cues in order, long or wordy
segments are split (at word timestamps when there are any, else in proportion to characters),
text is wrapped to at most `max_line_count` lines of `max_line_width` characters, and times are
rounded to whole milliseconds, made non-overlapping and strictly increasing within each cue.
"""

from __future__ import annotations

import json
import math
from collections import Counter
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import OptionsError
from ..language.catalogue import is_unspaced
from ..results import Segment, Transcription
from .timing import round_time


@dataclass(frozen=True)
class WriterOptions:
    """How writers lay out their output; the defaults suit subtitles on a TV or video player."""

    max_line_width: int = 42  # characters per subtitle line (a longer word is cut into line-wide pieces)
    max_line_count: int = 2  # lines per subtitle cue; more text is split into further cues
    max_cue_seconds: float = 7.0  # longest cue; a longer segment (or word) is split into several cues
    include_words: bool = True  # json: keep each segment's words (and their characters)

    def __post_init__(self) -> None:
        if self.max_line_width < 1:
            raise OptionsError(f"max_line_width must be at least 1, not {self.max_line_width}")
        if self.max_line_count < 1:
            raise OptionsError(f"max_line_count must be at least 1, not {self.max_line_count}")
        if not self.max_cue_seconds > 0:
            raise OptionsError(f"max_cue_seconds must be positive, not {self.max_cue_seconds}")


class ResultWriter:
    """Formats a Transcription as text and writes it next to other outputs as <stem>.<extension>."""

    extension: str = ""

    def __init__(self, options: WriterOptions | None = None) -> None:
        self.options = options if options is not None else WriterOptions()

    def format(self, result: Transcription) -> str:
        raise NotImplementedError

    def write(self, result: Transcription, output_dir: str | Path, stem: str | None = None) -> Path:
        """Write `result` to output_dir/<stem>.<extension> and return that path.

        `stem` defaults to the input's (`output_stem`); for several inputs, `output_stems` gives
        each a distinct one so that no output replaces another."""
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{stem or output_stem(result.source)}.{self.extension}"
        path.write_text(self.format(result), encoding="utf-8")
        return path


class WriteTXT(ResultWriter):
    """The text: one line per segment when there are segments, else the whole text."""

    extension = "txt"

    def format(self, result: Transcription) -> str:
        if result.segments:
            lines = [_one_line(segment.text) for segment in result.segments]
            lines = [line for line in lines if line]
        else:
            lines = [result.text.strip()] if result.text.strip() else []
        return "".join(line + "\n" for line in lines)


class WriteJSON(ResultWriter):
    """`Transcription.to_dict()` as UTF-8 JSON on one line, times in whole milliseconds; segment words
    dropped unless include_words."""

    extension = "json"

    def format(self, result: Transcription) -> str:
        data: dict[str, Any] = _rounded_times(result.to_dict())
        if not self.options.include_words:
            for segment in data["segments"]:
                segment.pop("words", None)
        return json.dumps(data, ensure_ascii=False) + "\n"


_TIME_KEYS = frozenset({"start", "end", "duration"})


def _rounded_times(value: Any) -> Any:
    """A copy of to_dict() output with every start, end and duration rounded to milliseconds."""
    if isinstance(value, dict):
        return {k: round_time(v) if k in _TIME_KEYS and isinstance(v, float) else _rounded_times(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded_times(item) for item in value]
    return value


class WriteTSV(ResultWriter):
    """Tab-separated `start end text` rows in integer milliseconds, one per segment, as openai/whisper writes them."""

    extension = "tsv"

    def format(self, result: Transcription) -> str:
        rows = ["start\tend\ttext"]
        for start, end, text in _timed_texts(result):
            text = _one_line(text).replace("\t", " ")
            if text:
                rows.append(f"{_to_ms(start)}\t{_to_ms(end)}\t{text}")
        return "\n".join(rows) + "\n"


@dataclass(frozen=True)
class Cue:
    """One subtitle: times in whole milliseconds (end > start), text already wrapped into lines."""

    start_ms: int
    end_ms: int
    text: str


class SubtitlesWriter(ResultWriter):
    """Base of the SRT and VTT writers: the same cues, different headers and timestamp marks."""

    decimal_marker = "."

    def cues(self, result: Transcription) -> list[Cue]:
        return build_cues(result, self.options)

    def timestamp(self, milliseconds: int) -> str:
        return format_timestamp(milliseconds, self.decimal_marker)

    def cue_times(self, cue: Cue) -> str:
        return f"{self.timestamp(cue.start_ms)} --> {self.timestamp(cue.end_ms)}"


class WriteSRT(SubtitlesWriter):
    """SubRip: numbered cues from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a blank line after each."""

    extension = "srt"
    decimal_marker = ","

    def format(self, result: Transcription) -> str:
        return "".join(
            f"{index}\n{self.cue_times(cue)}\n{cue.text}\n\n" for index, cue in enumerate(self.cues(result), start=1)
        )


class WriteVTT(SubtitlesWriter):
    """WebVTT: a `WEBVTT` header and blank line, then `HH:MM:SS.mmm --> HH:MM:SS.mmm` cues."""

    extension = "vtt"
    decimal_marker = "."

    def format(self, result: Transcription) -> str:
        return "WEBVTT\n\n" + "".join(f"{self.cue_times(cue)}\n{_vtt_escape(cue.text)}\n\n" for cue in self.cues(result))


def _vtt_escape(text: str) -> str:
    """Cue text as WebVTT needs it: "&", "<" and ">" would start entities and tags (<b>, <c.x>)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class WriteRTTM(ResultWriter):
    """NIST RTTM speaker turns: `SPEAKER <file> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>` per segment.

    Needs a diarized result (segments with a speaker); OptionsError otherwise.
    """

    extension = "rttm"

    def format(self, result: Transcription) -> str:
        turns = [segment for segment in result.segments if segment.speaker is not None]
        if not turns and result.segments:
            raise OptionsError("the rttm format lists speakers, and this result has none: diarize it (--diarize)")
        name = "_".join(output_stem(result.source).split()) or "audio"
        return "".join(
            f"SPEAKER {name} 1 {s.start:.3f} {max(s.end - s.start, 0.0):.3f} <NA> <NA> {'_'.join(str(s.speaker).split())} <NA> <NA>\n"
            for s in turns
        )


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


def output_stem(source: str) -> str:
    """File name stem for an input: 'talk' for 'dir/talk.mp3', 'audio' for '<bytes>' and the like."""
    if source.startswith("<"):
        return "audio"
    return Path(source).stem or "audio"


def _stem_candidates(source: str) -> list[str]:
    """Ever longer names for an input: 'a', 'a.wav', 'd1_a', 'x_d1_a' (for 'x/d1/a.wav')."""
    if source.startswith("<"):
        return ["audio"]
    path = Path(source)
    folders = [part for part in path.parent.parts if part not in (path.anchor, ".", "..")]
    names = [output_stem(source), path.name or "audio"]
    names += ["_".join([*folders[-k:], output_stem(source)]) for k in range(1, len(folders) + 1)]
    return list(dict.fromkeys(names))


def output_stems(sources: list[str]) -> list[str]:
    """A distinct file stem for each input, so that one run never writes two outputs to one name.

    Each input gets its stem ('talk' for 'dir/talk.mp3'); inputs sharing one get their file names
    ('en.wav', 'en.mp3'), then their folders too ('d1_a', 'd2_a' for d1/a.wav and d2/a.wav); an
    input given twice gets '-2', '-3', ...
    """
    candidates = [_stem_candidates(source) for source in sources]
    level = [0] * len(sources)
    while True:
        chosen = [names[k] for names, k in zip(candidates, level)]
        counts = Counter(chosen)
        movable = [i for i, name in enumerate(chosen) if counts[name] > 1 and level[i] + 1 < len(candidates[i])]
        if not movable:
            break
        for i in movable:
            level[i] += 1
    seen: Counter[str] = Counter()
    stems = []
    for name in chosen:
        seen[name] += 1
        stems.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return stems


# ---------------------------------------------------------------------------------------------
# Times


def _to_ms(seconds: float) -> int:
    """Seconds to whole milliseconds, rounding half up; negative or non-finite times become 0."""
    if not math.isfinite(seconds) or seconds <= 0:
        return 0
    return int(math.floor(seconds * 1000.0 + 0.5))


def format_timestamp(milliseconds: int, decimal_marker: str = ".") -> str:
    """`HH:MM:SS.mmm` (hours at least two digits) for whole milliseconds, e.g. 3661500 -> 01:01:01.500."""
    milliseconds = max(0, int(milliseconds))
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{decimal_marker}{millis:03d}"


# ---------------------------------------------------------------------------------------------
# Text: atoms and wrapping

def _is_punctuation(text: str) -> bool:
    return bool(text) and all(unicodedata.category(char).startswith("P") for char in text)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _atoms(text: str) -> list[tuple[str, bool]]:
    """Unbreakable pieces of `text` with whether a space goes before each.

    Whitespace-separated words are atoms; inside a word, each letter of a script without spaces is
    its own atom (so such text can break anywhere), and punctuation stays with what precedes it.
    """
    atoms: list[tuple[str, bool]] = []
    for word in text.split():
        pieces: list[str] = []
        run = ""
        for char in word:
            if is_unspaced(char) and not _is_punctuation(char):
                if run:
                    pieces.append(run)
                    run = ""
                pieces.append(char)
            elif _is_punctuation(char) and pieces and not run and is_unspaced(pieces[-1][-1]):
                pieces[-1] += char  # "好。" and "好," stay together
            else:
                run += char
        if run:
            pieces.append(run)
        for position, piece in enumerate(pieces):
            atoms.append((piece, position == 0 and bool(atoms)))
    return atoms


def _wrap(atoms: list[tuple[str, bool]], width: int) -> list[str]:
    """Greedy wrap (fewest lines): each line at most `width` characters unless one atom is longer."""
    lines: list[str] = []
    line = ""
    for piece, space_before in atoms:
        candidate = line + (" " if space_before and line else "") + piece
        if line and len(candidate) > width:
            lines.append(line)
            line = piece
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


# ---------------------------------------------------------------------------------------------
# Cues


@dataclass
class _Token:
    atoms: list[tuple[str, bool]]
    start: float  # seconds
    end: float  # seconds


def _timed_texts(result: Transcription) -> list[tuple[float, float, str]]:
    """(start, end, text) per segment, or one 0..duration entry for a result with text but no segments."""
    if result.segments:
        return [(segment.start, segment.end, segment.text) for segment in result.segments]
    if result.text.strip():
        return [(0.0, result.duration, result.text)]
    return []


def _word_tokens(segment: Segment) -> list[_Token]:
    """The segment's words as tokens; the segment's own spelling when it has one token per word."""
    words = [word for word in segment.words if word.word.strip()]
    spelled = segment.text.split()
    if len(spelled) != len(words):
        spelled = [_one_line(word.word) for word in words]
    tokens: list[_Token] = []
    previous = ""
    for text, word in zip(spelled, words):
        if tokens and _is_punctuation(text):  # a lone "," or "。" stays with the word before it
            piece, space_before = tokens[-1].atoms[-1]
            tokens[-1].atoms[-1] = (piece + text, space_before)
            tokens[-1].end = max(tokens[-1].end, word.end)
            previous = text
            continue
        atoms = _atoms(text)
        # a space before the word unless either side is a script without spaces
        space = bool(previous) and not (is_unspaced(previous[-1]) or is_unspaced(text[0]))
        atoms[0] = (atoms[0][0], space)
        tokens.append(_Token(atoms, word.start, word.end))
        previous = text
    return tokens


def _spread(atoms: list[tuple[str, bool]], start: float, end: float) -> list[_Token]:
    """One token per atom, timed in proportion to character offsets between start and end, end to end."""
    offsets = []
    position = 0
    for index, (piece, space_before) in enumerate(atoms):
        if space_before and index:
            position += 1
        offsets.append(position)
        position += len(piece)
    total = max(position, 1)
    span = max(end - start, 0.0)
    starts = [start + span * offset / total for offset in offsets]
    ends = starts[1:] + [max(end, start)]
    return [_Token([atom], token_start, token_end) for atom, token_start, token_end in zip(atoms, starts, ends)]


def _proportional_tokens(text: str, start: float, end: float) -> list[_Token]:
    """Atoms of `text` timed in proportion to character offsets between start and end, end to end."""
    return _spread(_atoms(text), start, end)


def _cut(piece: str, space_before: bool, parts: int) -> list[tuple[str, bool]]:
    """`piece` cut into `parts` atoms of nearly equal length; only the first keeps the space before it."""
    bounds = [round(len(piece) * k / parts) for k in range(parts + 1)]
    return [(piece[a:b], space_before and a == 0) for a, b in zip(bounds, bounds[1:]) if b > a]


Atoms = list[tuple[str, bool]]  # (piece of text, preceded by a space)


def _prefixed(prefix: Atoms, atoms: Atoms) -> Atoms:
    """A cue's atoms after its prefix ("[SPEAKER_00]:"), one space between them."""
    if not prefix or not atoms:
        return prefix + atoms
    return [*prefix, (atoms[0][0], True), *atoms[1:]]


def _fit(tokens: list[_Token], options: WriterOptions, prefix: Atoms) -> list[_Token]:
    """Tokens that each fit in one cue after `prefix`, even where one "word" does not.

    A token too wide for the cue's lines or lasting longer than a cue is cut into its atoms; an atom
    wider than a line into line-wide pieces (narrower by the prefix when a cue has one line); a
    piece lasting longer than a cue into shorter pieces (down to single characters). All pieces are
    timed in proportion to their characters.
    """
    width, longest = options.max_line_width, options.max_cue_seconds
    if prefix and options.max_line_count == 1:
        width = max(1, width - len(_wrap(prefix, width)[0]) - 1)
    fitted: list[_Token] = []
    for token in tokens:
        if _fits(_prefixed(prefix, token.atoms), options) and token.end - token.start <= longest:
            fitted.append(token)
            continue
        narrow = [atom for piece, space in token.atoms for atom in _cut(piece, space, math.ceil(len(piece) / width))]
        for part in _spread(narrow, token.start, token.end):
            ((piece, space),) = part.atoms
            parts = min(len(piece), math.ceil((part.end - part.start) / longest))
            fitted += _spread(_cut(piece, space, parts), part.start, part.end) if parts > 1 else [part]
    return fitted


def _fits(atoms: list[tuple[str, bool]], options: WriterOptions) -> bool:
    lines = _wrap(atoms, options.max_line_width)
    return len(lines) <= options.max_line_count and all(len(line) <= options.max_line_width for line in lines)


def _pack(tokens: list[_Token], options: WriterOptions, prefix: Atoms) -> list[tuple[float, float, Atoms]]:
    """Greedily group tokens into cues that fit the lines after `prefix` and last at most max_cue_seconds."""
    chunks: list[tuple[float, float, list[tuple[str, bool]]]] = []
    atoms: list[tuple[str, bool]] = []
    start = end = 0.0
    for token in tokens:
        if atoms:
            candidate = atoms + token.atoms
            if token.end - start <= options.max_cue_seconds and _fits(_prefixed(prefix, candidate), options):
                atoms, end = candidate, max(end, token.end)
                continue
            chunks.append((start, end, atoms))
        atoms, start, end = list(token.atoms), token.start, token.end
    if atoms:
        chunks.append((start, end, atoms))
    return chunks


def _segment_chunks(start: float, end: float, text: str, segment: Segment | None, options: WriterOptions):
    """(start, end, atoms) for one segment: the whole segment, or its pieces when too long or too wordy.

    A diarized segment's cues start with its speaker ("[SPEAKER_00]: "), counted in the limits.
    """
    prefix: Atoms = [(f"[{segment.speaker}]:", False)] if segment is not None and segment.speaker is not None else []
    has_words = segment is not None and any(word.word.strip() for word in segment.words)
    atoms = _atoms(text)
    if not atoms and has_words:
        assert segment is not None
        atoms = [atom for token in _word_tokens(segment) for atom in token.atoms]
    if not atoms:
        return []
    if end - start <= options.max_cue_seconds and _fits(_prefixed(prefix, atoms), options):
        chunks = [(start, end, atoms)]
    elif has_words:
        assert segment is not None
        chunks = _pack(_fit(_word_tokens(segment), options, prefix), options, prefix)
    else:
        chunks = _pack(_fit(_proportional_tokens(text, start, end), options, prefix), options, prefix)
    return [(chunk_start, chunk_end, _prefixed(prefix, atoms)) for chunk_start, chunk_end, atoms in chunks]


def build_cues(result: Transcription, options: WriterOptions | None = None) -> list[Cue]:
    """The subtitle cues of `result`, shared by the SRT and VTT writers.

    Cues follow the segments in order (a result with text but no segments gets one 0..duration cue).
    A segment longer than max_cue_seconds, or whose text needs more than max_line_count lines, is
    split: at words (by their timestamps) when it has them, else in proportion to characters; a
    single word too wide for a line or too long for a cue is split too (see `_fit`). Times are whole
    milliseconds; a cue starting before the previous one ended starts at that end, each cue ends at
    least 1 ms after it starts and lasts at most max_cue_seconds (a one-character word held longer
    is cut short). Cues without text are left out.
    """
    options = options if options is not None else WriterOptions()
    if result.segments:
        pieces = [(segment.start, segment.end, segment.text, segment) for segment in result.segments]
    else:
        pieces = [(start, end, text, None) for start, end, text in _timed_texts(result)]
    cues: list[Cue] = []
    previous_end = 0
    longest_ms = max(1, int(options.max_cue_seconds * 1000))
    for start, end, text, segment in pieces:
        for chunk_start, chunk_end, atoms in _segment_chunks(start, end, text, segment, options):
            lines = _wrap(atoms, options.max_line_width)
            body = "\n".join(line.replace("-->", "->") for line in lines)
            if not body.strip():
                continue
            start_ms = max(_to_ms(chunk_start), previous_end)
            end_ms = min(max(_to_ms(chunk_end), start_ms + 1), start_ms + longest_ms)
            cues.append(Cue(start_ms, end_ms, body))
            previous_end = end_ms
    return cues
