"""What runs on Ray's workers: a decode step (CPU tasks) and a Transcriber (one model per actor).

Neither imports Ray: Ray Data only moves the Arrow batches and schedules these two callables.

Memory per worker is bounded whatever the length of a file:
- `decode_batch` decodes an input only up to `inline_seconds` (16 kHz float32: 64 kB per second);
  an input that turns out longer is dropped at that point and left to the actor, so a decode task
  holds at most `files_per_batch x inline_seconds` of samples.
- The `Transcriber` runs polyasr's own engine (`Recognizer.transcribe_iter` -> `run_inference`) on
  those samples, or, for a longer input, on its path: the engine streams it in 30 s blocks and
  batches a bounded number of windows, so an actor holds the same amount of audio for a 10-hour
  file as for a 10-minute one. A long input behind a URL is first copied to a local temporary file
  (disk, not memory).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from ..audio.decode import SAMPLE_RATE, stream_audio
from ..engine.inference import BatchOptions
from ..errors import OptionsError
from ..model.runtime import RuntimeOptions
from ..language.choice import LanguageChoice
from ..options import TranscribeOptions
from .inputs import filesystem, is_url
from .records import failure_row, rows_to_table, success_row

_COPY_CHUNK = 1 << 20  # bytes per read when copying a remote input to a local file


@dataclass(frozen=True)
class WorkerOptions:
    """Everything a Transcriber actor needs to load the model and transcribe like `polyasr transcribe`."""

    model: str | None = None  # Hub id or folder; every node must reach it
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)  # device "auto": cuda when the actor has a GPU
    batch: BatchOptions = field(default_factory=BatchOptions)  # windows per forward pass inside the actor
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)  # language for inputs without one, words, ...
    gpus: float = 0.0  # GPUs Ray gave each actor (0: a CPU actor)
    cpus: float = 1.0  # CPUs Ray reserved for each actor: torch's threads unless runtime.threads is set

    def __post_init__(self) -> None:
        for name in ("gpus", "cpus"):
            value = getattr(self, name)
            if not value >= 0:
                raise OptionsError(f"{name} cannot be negative, not {value}")


def decode_batch(table: pa.Table, inline_seconds: float) -> pa.Table:
    """Decode each input of up to `inline_seconds` to 16 kHz mono float32 (column `samples`).

    Longer inputs get a null `samples` (the actor streams them); inputs that cannot be decoded get
    `error` and `error_type`. Never raises for a bad input.
    """
    limit = int(inline_seconds * SAMPLE_RATE)
    samples: list[bytes | None] = []
    errors: list[str | None] = []
    kinds: list[str | None] = []
    for audio in table.column("audio").to_pylist():
        try:
            samples.append(_decode_up_to(audio, limit))
            errors.append(None)
            kinds.append(None)
        except Exception as error:  # any failure belongs to this input alone
            samples.append(None)
            errors.append(str(error) or repr(error))
            kinds.append(type(error).__name__)
    return (
        table.append_column("samples", pa.array(samples, pa.large_binary()))
        .append_column("decode_error", pa.array(errors, pa.string()))
        .append_column("decode_error_type", pa.array(kinds, pa.string()))
    )


def _decode_up_to(audio: str, limit: int) -> bytes | None:
    """The input's samples as float32 bytes, or None when it is longer than `limit` samples."""
    if not audio:
        raise FileNotFoundError("the manifest row has no audio path")
    with _opened(audio) as source:
        blocks, total = [], 0
        stream = stream_audio(source, block_seconds=min(30.0, max(1.0, limit / SAMPLE_RATE)))
        try:
            for block in stream:
                total += block.size
                if total > limit:
                    return None
                blocks.append(block)
        finally:
            stream.close()
    return np.concatenate(blocks).astype(np.float32, copy=False).tobytes()


@contextlib.contextmanager
def _opened(audio: str) -> Iterator[Any]:
    """A local path as is; a URL as a seekable pyarrow file (PyAV reads file objects)."""
    if not is_url(audio):
        yield audio
        return
    fs, path = filesystem(audio)
    with fs.open_input_file(path) as handle:
        yield handle


@contextlib.contextmanager
def _local_copy(audio: str) -> Iterator[str]:
    """A local path for the input: itself, or a temporary copy of a URL (deleted afterwards)."""
    if not is_url(audio):
        yield audio
        return
    fs, path = filesystem(audio)
    folder = tempfile.mkdtemp(prefix="polyasr-batch-")
    try:
        local = os.path.join(folder, "input" + posixpath.splitext(path)[1])
        with fs.open_input_stream(path) as remote, open(local, "wb") as handle:
            shutil.copyfileobj(remote, handle, _COPY_CHUNK)
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Transcriber:
    """A Ray Data actor: loads the model once, then turns batches of decoded inputs into result rows."""

    def __init__(self, options: WorkerOptions) -> None:
        from ..recognizer import load

        runtime = options.runtime
        device = runtime.device if runtime.device != "auto" else ("cuda" if options.gpus > 0 else "cpu")
        threads = runtime.threads if runtime.threads is not None else (None if options.gpus > 0 else max(1, int(options.cpus)))
        self.options = options
        self.recognizer = load(options.model, device=device, dtype=runtime.dtype, threads=threads, batch=options.batch)

    def __call__(self, table: pa.Table) -> pa.Table:
        """Rows of RESULT_SCHEMA (plus the input's `shard`), one per input row, in input order."""
        rows: list[dict[str, Any] | None] = [None] * len(table)
        items = table.select(["id", "audio", "language", "samples", "decode_error", "decode_error_type"]).to_pylist()
        by_language: dict[LanguageChoice, list[int]] = {}
        for index, item in enumerate(items):
            if item["decode_error"] is not None:
                rows[index] = failure_row(item["id"], item["audio"], item["decode_error"], item["decode_error_type"])
            else:
                choice = LanguageChoice.parse(item["language"]) if item["language"] else self.options.transcribe.choice
                by_language.setdefault(choice, []).append(index)
        for language, indices in by_language.items():
            for index, row in zip(indices, self._transcribe(language, [items[i] for i in indices])):
                rows[index] = row
        return rows_to_table([row for row in rows if row is not None], {"shard": table.column("shard")})

    def _transcribe(self, language: LanguageChoice, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows for inputs sharing a language, through one transcribe_iter; one by one if that fails."""
        try:
            return self._run(language, items)
        except Exception:  # not an audio error (those come back per input): find the input it belongs to
            return self._each(language, items)

    def _each(self, language: LanguageChoice, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for item in items:
            try:
                rows += self._run(language, [item])
            except Exception as error:  # an error of this input alone (a bad language code, ...)
                rows.append(failure_row(item["id"], item["audio"], str(error) or repr(error), type(error).__name__))
        return rows

    def _run(self, language: LanguageChoice, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with contextlib.ExitStack() as stack:
            sources: list[Any] = []
            for item in items:
                if item["samples"] is not None:
                    sources.append(np.frombuffer(item["samples"], dtype=np.float32))
                else:
                    sources.append(stack.enter_context(_local_copy(item["audio"])))
            options = replace(self.options.transcribe, language=language)
            outcomes = self.recognizer.transcribe_iter(sources, options, sampling_rate=SAMPLE_RATE)
            rows = []
            for item, outcome in zip(items, outcomes):
                if outcome.error is not None:
                    rows.append(failure_row(item["id"], item["audio"], str(outcome.error), type(outcome.error).__name__))
                else:
                    rows.append(success_row(item["id"], item["audio"], outcome.result, options.word_timestamps))
            return rows
