"""What an audio input is and what to call it: the input types accepted (:data:`AudioInput`), the
name messages give an input (:func:`source_name`), and the error for an input none of which decodes,
worded from its first bytes alone (:func:`unreadable_error`)."""

from __future__ import annotations

import os
from typing import BinaryIO, Callable, Union

import numpy as np

from ..errors import AudioError, UnsupportedAudioError

__all__ = ["AudioInput", "source_name", "unreadable_error"]

AudioInput = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, np.ndarray]


def source_name(source: AudioInput) -> str:
    """Name used in messages and results: the path as given, or '<bytes>', '<file object>', '<array>'."""
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(source, np.ndarray):
        return "<array>"
    return "<file object>"


def unreadable_error(source: AudioInput, name: str, known: Callable[[str], AudioError]) -> AudioError:
    """The error for an input none of which decodes: `known(kind)` if its first bytes name a
    container kind, else "not a recognised format". The bytes alone decide (not whether they came as
    a path, whose suffix steers ffmpeg's guess, or as bytes), so the same bytes get the same error."""
    kind = _sniff(source)
    return known(kind) if kind else UnsupportedAudioError(f"{name}: not a recognised audio or video format")


_SIGNATURES = ((0, b"RIFF", "WAV"), (0, b"fLaC", "FLAC"), (0, b"ID3", "MP3"), (0, b"OggS", "Ogg"),
               (4, b"ftyp", "MP4/M4A"), (0, b"\x1aE\xdf\xa3", "WebM/Matroska"), (0, b"FORM", "AIFF"),
               (0, b"#!AMR", "AMR"), (0, b"caff", "CAF"), (0, b".snd", "AU"), (0, b"\x00\x00\x01\xba", "MPEG-PS"))


def _sniff(source: AudioInput) -> str | None:
    """Container kind named by the first bytes (used only to word errors), or None if unknown."""
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as fh:
                head = fh.read(12)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            head = bytes(source[:12])
        else:
            source.seek(0)
            head = source.read(12)
    except (OSError, AttributeError, ValueError):
        return None
    for offset, magic, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return "MP3/AAC" if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 else None
