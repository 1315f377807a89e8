"""The output folder of a batch job: deterministic shards, written atomically, read back to resume.

Each input belongs to shard `blake2b(id) mod shards`. A shard file is written only once every
pending input of that shard has a row (succeeded or failed), in one atomic step: the file is
written under a temporary name and renamed (moved) into place, so a file either holds all its
rows or does not exist. Its name, shard-<index>-<digest>.<format>, comes from the shard index and
a digest of the ids it holds: a rerun of the same job writes the same names, and inputs added to
an input list later land in a new file of their shard. On a rerun the ids in the finished files
are done; everything else is transcribed again. `_job.json` keeps the shard count and the
settings that shape the output, so that a rerun with other settings is refused rather than mixed in.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ..errors import BatchJobError
from .inputs import filesystem
from .records import RESULT_SCHEMA

JOB_FILE = "_job.json"
SUMMARY_FILE = "summary.json"
_PREFIX = "shard-"
_TEMPORARY = ".tmp-"


def shard_of(ids: Iterable[str], shards: int) -> np.ndarray:
    """Shard index of each id: blake2b of its UTF-8 bytes modulo `shards` (stable across runs and machines)."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(uid.encode("utf-8"), digest_size=8).digest(), "big") % shards for uid in ids),
        dtype=np.int64,
    )


@dataclass(frozen=True)
class JobSpec:
    """What a job's output depends on; a rerun into the same folder must match it."""

    shards: int  # number of shards inputs are spread over
    format: str  # "parquet" or "jsonl"
    settings: dict[str, str] = field(default_factory=dict)  # model, language, options that change results


@dataclass(frozen=True)
class Finished:
    """What the output folder already holds from earlier runs."""

    ids: frozenset[str]  # inputs with a row
    files: int  # shard files
    failed: int  # rows with an error
    audio_seconds: float  # audio of the rows that succeeded


class OutputFolder:
    """A local folder or a URL (s3://, gs://, ...) that holds a job's shards, _job.json and summary.json."""

    def __init__(self, location: str) -> None:
        self.location = location.rstrip("/") or location
        self.fs, self.root = filesystem(self.location)
        self.local = isinstance(self.fs, pafs.LocalFileSystem)
        try:
            self.fs.create_dir(self.root, recursive=True)
        except OSError as error:
            raise BatchJobError(f"{location}: cannot create the output folder ({error})") from error

    def _path(self, name: str) -> str:
        return f"{self.root.rstrip('/')}/{name}"

    def claim(self, spec: JobSpec) -> JobSpec:
        """The folder's job spec: written on the first run; on a rerun, the stored one if it matches."""
        path = self._path(JOB_FILE)
        if self.fs.get_file_info(path).type == pafs.FileType.NotFound:
            self.write_bytes(JOB_FILE, (json.dumps(asdict(spec), indent=2, sort_keys=True) + "\n").encode())
            return spec
        try:
            with self.fs.open_input_stream(path) as stream:
                stored = JobSpec(**json.loads(stream.read().decode("utf-8")))
        except (OSError, ValueError, TypeError) as error:
            raise BatchJobError(f"{self.location}/{JOB_FILE}: unreadable ({error}); use a new output folder") from error
        differences = [
            f"{key}: {stored.settings.get(key)!r} before, {spec.settings.get(key)!r} now"
            for key in sorted(set(stored.settings) | set(spec.settings))
            if stored.settings.get(key) != spec.settings.get(key)
        ]
        if stored.format != spec.format:
            differences.insert(0, f"format: {stored.format} before, {spec.format} now")
        if differences:
            raise BatchJobError(
                f"{self.location} holds the output of a job with other settings ({'; '.join(differences)}); "
                "rerun with the same settings to finish it, or use a new output folder"
            )
        return stored

    def shard_files(self) -> list[str]:
        """Names of the finished shard files, sorted."""
        selector = pafs.FileSelector(self.root, recursive=False, allow_not_found=True)
        names = [os.path.basename(info.path) for info in self.fs.get_file_info(selector) if info.type == pafs.FileType.File]
        return sorted(n for n in names if n.startswith(_PREFIX) and n.endswith((".parquet", ".jsonl")))

    def remove_temporary(self) -> int:
        """Delete half-written files a killed run left behind; returns how many."""
        selector = pafs.FileSelector(self.root, recursive=False, allow_not_found=True)
        stale = [info.path for info in self.fs.get_file_info(selector) if os.path.basename(info.path).startswith(_TEMPORARY)]
        for path in stale:
            self.fs.delete_file(path)
        return len(stale)

    def finished(self) -> Finished:
        """Ids, failures and audio seconds of every finished shard file."""
        ids: set[str] = set()
        failed, seconds, files = 0, 0.0, self.shard_files()
        for name in files:
            table = self._read_summary_columns(name)
            ids.update(table["id"].to_pylist())
            errors = table["error"].is_valid()
            failed += int(np.count_nonzero(errors.to_numpy(zero_copy_only=False)))
            durations = table["duration"].to_numpy(zero_copy_only=False)
            ok = ~errors.to_numpy(zero_copy_only=False)
            seconds += float(np.nansum(durations[ok].astype(np.float64))) if ok.any() else 0.0
        return Finished(frozenset(ids), len(files), failed, seconds)

    def _read_summary_columns(self, name: str) -> pa.Table:
        path = self._path(name)
        try:
            if name.endswith(".parquet"):
                return pq.read_table(path, filesystem=self.fs, columns=["id", "duration", "error"])
            with self.fs.open_input_stream(path) as stream:
                rows = [json.loads(line) for line in stream.read().decode("utf-8").splitlines() if line.strip()]
            return pa.Table.from_pylist(
                [{k: row.get(k) for k in ("id", "duration", "error")} for row in rows],
                schema=pa.schema([RESULT_SCHEMA.field("id"), RESULT_SCHEMA.field("duration"), RESULT_SCHEMA.field("error")]),
            )
        except (OSError, ValueError, pa.ArrowInvalid) as error:
            raise BatchJobError(f"{self.location}/{name}: a finished shard cannot be read ({error})") from error

    def write_shard(self, index: int, table: pa.Table, output_format: str) -> str:
        """Write one shard's rows (sorted by id) atomically; returns the file's name."""
        table = table.select(RESULT_SCHEMA.names).cast(RESULT_SCHEMA)
        table = table.sort_by("id")
        digest = hashlib.blake2b("\n".join(table["id"].to_pylist()).encode("utf-8"), digest_size=5).hexdigest()
        name = f"{_PREFIX}{index:05d}-{digest}.{output_format}"
        if output_format == "parquet":
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, compression="zstd")
            data = sink.getvalue().to_pybytes()
        else:
            data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in table.to_pylist()).encode("utf-8")
        self.write_bytes(name, data)
        return name

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a file atomically: to a temporary name first, then renamed (moved) into place."""
        temporary = self._path(f"{_TEMPORARY}{uuid.uuid4().hex}-{name}")
        try:
            if self.local:
                with open(temporary, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self._path(name))
                return
            with self.fs.open_output_stream(temporary) as stream:
                stream.write(data)
            self.fs.move(temporary, self._path(name))
        except OSError as error:
            raise BatchJobError(f"{self.location}/{name}: cannot be written ({error})") from error

    def write_json(self, name: str, value: dict[str, Any]) -> None:
        self.write_bytes(name, (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
