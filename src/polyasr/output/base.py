"""What every output writer shares: :class:`WriterOptions` (line width, lines per cue, cue length,
words in JSON), the :class:`ResultWriter` base class (format a Transcription, write it as
<stem>.<extension>), and :func:`timed_texts` (a result's timed pieces of text)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import OptionsError
from ..results import Transcription
from .stems import output_stem

__all__ = ["ResultWriter", "WriterOptions", "timed_texts"]


@dataclass(frozen=True)
class WriterOptions:
    """How writers lay out their output; the defaults suit subtitles on a TV or video player."""

    max_line_width: int = 42  # characters per subtitle line (a longer word is cut into line-wide pieces)
    max_line_count: int = 2  # lines per subtitle cue; more text is split into further cues
    max_cue_seconds: float = 7.0  # longest cue; a longer segment (or word) is split into several cues
    include_words: bool = True  # json: keep each segment's words (and their characters)
    highlight_below: float | None = None  # srt, vtt: words scoring below this are underlined (<u>), for review

    def __post_init__(self) -> None:
        if self.max_line_width < 1:
            raise OptionsError(f"max_line_width must be at least 1, not {self.max_line_width}")
        if self.max_line_count < 1:
            raise OptionsError(f"max_line_count must be at least 1, not {self.max_line_count}")
        if not self.max_cue_seconds > 0:
            raise OptionsError(f"max_cue_seconds must be positive, not {self.max_cue_seconds}")
        if self.highlight_below is not None and not 0 <= self.highlight_below <= 1:
            raise OptionsError(f"highlight_below must lie between 0 and 1, not {self.highlight_below}")


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


def timed_texts(result: Transcription) -> list[tuple[float, float, str]]:
    """(start, end, text) per segment, or one 0..duration entry for a result with text but no segments."""
    if result.segments:
        return [(segment.start, segment.end, segment.text) for segment in result.segments]
    if result.text.strip():
        return [(0.0, result.duration, result.text)]
    return []
