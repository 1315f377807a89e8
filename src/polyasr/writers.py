"""Output writers: one small class per format, looked up by name; shared by the CLI and the server."""

from __future__ import annotations

import json
from pathlib import Path

from .results import Transcription


class ResultWriter:
    """Formats a Transcription as text and writes it next to other outputs as <stem>.<extension>."""

    extension: str = ""

    def format(self, result: Transcription) -> str:
        raise NotImplementedError

    def write(self, result: Transcription, output_dir: str | Path) -> Path:
        """Write `result` to output_dir/<input stem>.<extension> and return that path."""
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{output_stem(result.source)}.{self.extension}"
        path.write_text(self.format(result), encoding="utf-8")
        return path


class WriteTXT(ResultWriter):
    extension = "txt"

    def format(self, result: Transcription) -> str:
        return result.text + "\n"


class WriteJSON(ResultWriter):
    extension = "json"

    def format(self, result: Transcription) -> str:
        return json.dumps(result.to_dict(), ensure_ascii=False) + "\n"


WRITERS: dict[str, type[ResultWriter]] = {"txt": WriteTXT, "json": WriteJSON}


def get_writer(output_format: str) -> ResultWriter:
    """The writer for a format name; ValueError listing the formats for an unknown one."""
    try:
        return WRITERS[output_format]()
    except KeyError:
        raise ValueError(f"unknown output format {output_format!r}; choose one of: {', '.join(WRITERS)}") from None


def output_stem(source: str) -> str:
    """File name stem for an input: 'talk' for 'dir/talk.mp3', 'audio' for '<bytes>' and the like."""
    if source.startswith("<"):
        return "audio"
    return Path(source).stem or "audio"
