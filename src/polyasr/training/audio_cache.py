"""Training audio decoded and resampled once, kept in one file that every epoch memory-maps.

Each clip is decoded with polyasr's audio stack (PyAV, soxr, 16 kHz mono), scaled to its own
peak and stored as int16 (96 dB below the peak: far under any recording's noise; training
normalises each clip to zero mean and unit variance, so the scale cancels). A clip is keyed by
its absolute path, size and modification time, so an edited file is decoded again. Clips that do
not decode are remembered with their error, so a check and the training after it decode each
file once. The index is appended line by line after the samples: a run killed while filling
keeps every clip finished before it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..audio.prefetch import prefetch_audio
from ..errors import PolyasrError

INDEX_NAME = "index.jsonl"
SAMPLES_NAME = "samples.i16"
_FULL_SCALE = 32767


@dataclass(frozen=True)
class CachedClip:
    """Where one decoded clip lies in the samples file."""

    offset: int  # first sample
    length: int  # samples at 16 kHz
    scale: float  # stored value x scale / 32767 = the decoded sample


def _key(path: str) -> tuple[str, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


class AudioCache:
    """Decoded clips of a training run; `fill` first, then `lookup` and `samples`."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._entries: dict[tuple[str, int, int], CachedClip | str] = {}
        self._data: np.ndarray | None = None
        self._read_index()

    def _read_index(self) -> None:
        index, samples = self.folder / INDEX_NAME, self.folder / SAMPLES_NAME
        if not index.exists():
            return
        available = samples.stat().st_size // 2 if samples.exists() else 0
        for line in index.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                key = (row["path"], int(row["size"]), int(row["mtime_ns"]))
                entry: CachedClip | str = row["error"] if "error" in row else CachedClip(
                    int(row["offset"]), int(row["length"]), float(row["scale"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a killed run
            if isinstance(entry, CachedClip) and entry.offset + entry.length > available:
                continue  # its samples were not all written
            self._entries[key] = entry

    def missing(self, paths: Sequence[str]) -> list[str]:
        """The distinct paths not cached yet (in first-seen order)."""
        return [p for p in dict.fromkeys(paths) if (_key(p) or ("", -1, -1)) not in self._entries]

    def fill(self, paths: Sequence[str], workers: int = 2, on_progress: Callable[[int, int], None] | None = None) -> None:
        """Decode every path not cached yet, `workers` at a time; `on_progress(done, total)` per clip."""
        todo = self.missing(paths)
        report = on_progress or (lambda done, total: None)
        report(0, len(todo))
        if not todo:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            samples = open(self.folder / SAMPLES_NAME, "ab")
            index = open(self.folder / INDEX_NAME, "a", encoding="utf-8")
        except OSError as error:
            raise PolyasrError(f"cannot write the audio cache in {self.folder}: {error.strerror or error}") from error
        with samples, index:
            for done, (path, decoded) in enumerate(prefetch_audio(todo, workers, ahead=4 * workers), start=1):
                key = _key(str(path))
                if key is None:
                    report(done, len(todo))
                    continue  # removed meanwhile: `lookup` says so
                row: dict[str, object] = {"path": key[0], "size": key[1], "mtime_ns": key[2]}
                if isinstance(decoded, Exception):
                    row["error"] = str(decoded)
                    self._entries[key] = str(decoded)
                else:
                    peak = float(np.max(np.abs(decoded))) if decoded.size else 0.0
                    scale = peak if np.isfinite(peak) and peak > 0 else 1.0
                    values = np.clip(np.nan_to_num(decoded / scale), -1.0, 1.0)
                    clip = CachedClip(samples.tell() // 2, int(decoded.size), scale)
                    samples.write(np.round(values * _FULL_SCALE).astype("<i2").tobytes())
                    samples.flush()
                    row.update(offset=clip.offset, length=clip.length, scale=clip.scale)
                    self._entries[key] = clip
                index.write(json.dumps(row) + "\n")
                index.flush()
                report(done, len(todo))
            os.fsync(samples.fileno())
            os.fsync(index.fileno())
        self._data = None  # the file grew: map it again

    def lookup(self, path: str) -> CachedClip | str:
        """The clip, or why it has none (the decoder's error, or that the file is gone)."""
        key = _key(path)
        if key is None:
            return f"{path}: audio file not found"
        entry = self._entries.get(key)
        if entry is None:
            return f"{path}: not in the audio cache (fill it first)"
        return entry

    def samples(self, clip: CachedClip) -> np.ndarray:
        """The clip as float32 samples at 16 kHz."""
        if self._data is None:
            self._data = np.memmap(self.folder / SAMPLES_NAME, dtype="<i2", mode="r")
        stored = self._data[clip.offset : clip.offset + clip.length]
        return stored.astype(np.float32) * np.float32(clip.scale / _FULL_SCALE)
