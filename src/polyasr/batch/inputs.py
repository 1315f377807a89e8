"""The inputs of a batch job: a glob, a folder or a manifest, listed once on the driver with pyarrow.

    read_inputs("recordings/**/*.mp3")      ids: paths relative to "recordings"
    read_inputs("recordings/")              every audio or video file below it
    read_inputs("manifest.jsonl")           columns id, audio, optional language (.jsonl, .csv, .parquet)
    read_inputs("s3://bucket/list.parquet") any of these on a filesystem pyarrow reads (s3://, gs://, ...)

The result is an Arrow table with columns `id`, `audio` (a local path or a URL) and `language`
(null: the job's default). Ids are unique (a duplicate is an error: each input must appear once in
the output). A manifest's relative audio paths are resolved against the manifest's folder.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from ..errors import BatchJobError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

MANIFEST_SUFFIXES = (".jsonl", ".csv", ".parquet")
AUDIO_SUFFIXES = frozenset(
    ".wav .flac .mp3 .ogg .oga .opus .m4a .aac .wma .webm .mp4 .mkv .mka .mov .avi .amr .aiff .aif .caf .3gp".split()
)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_MAGIC = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class InputList:
    """What `read_inputs` found: the inputs, and manifest rows that could not become one."""

    table: "pa.Table"  # columns id (string), audio (string), language (string, null: the job's default)
    skipped_rows: tuple[str, ...] = ()  # "manifest.csv row 7: no audio and no id", one per unusable row


def is_url(location: str) -> bool:
    """True for "s3://...", "gs://...", "file:///..." and other URLs; False for plain paths."""
    return bool(_URL.match(location))


def filesystem(location: str) -> tuple["pafs.FileSystem", str]:
    """The pyarrow filesystem of a path or URL, and the path inside it."""
    import pyarrow.fs as pafs

    if not is_url(location):
        return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(location))
    try:
        return pafs.FileSystem.from_uri(location)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... depending on the scheme
        raise BatchJobError(f"{location}: no filesystem can read this URL ({error})") from error


def read_inputs(spec: str) -> InputList:
    """List the inputs named by a glob, a folder or a manifest file (see the module docstring)."""
    import pyarrow.fs as pafs

    if _MAGIC.search(spec):
        return InputList(_glob(spec))
    fs, path = filesystem(spec)
    try:
        info = fs.get_file_info(path)
    except OSError as error:
        raise BatchJobError(f"{spec}: cannot be read ({error})") from error
    if info.type == pafs.FileType.Directory:
        return InputList(_listing(spec, fs, path, lambda name: _suffix(name) in AUDIO_SUFFIXES))
    if info.type != pafs.FileType.File:
        raise BatchJobError(f"{spec}: no such file or folder")
    if _suffix(path) in MANIFEST_SUFFIXES:
        return _manifest(spec, fs, path)
    raise BatchJobError(
        f"{spec}: expected a folder, a glob such as 'audio/**/*.mp3', or a manifest ending in "
        f"{', '.join(MANIFEST_SUFFIXES)}"
    )


def _suffix(name: str) -> str:
    return posixpath.splitext(name)[1].lower()


def _glob(spec: str) -> "pa.Table":
    """Files matching a glob; `**` crosses folders. The root is the part before the first wildcard."""
    head = _MAGIC.split(spec, maxsplit=1)[0]
    root = head if head.endswith(("/", os.sep)) else posixpath.dirname(head)
    root_location = root or "."
    fs, root_path = filesystem(root_location)
    pattern = spec[len(root):].lstrip("/" + os.sep)
    regex = re.compile(_glob_regex(pattern))
    return _listing(spec, fs, root_path, lambda relative: bool(regex.fullmatch(relative)), root_location)


def _glob_regex(pattern: str) -> str:
    """A glob as a regular expression over '/'-separated relative paths: ** any folders, * ? [..] within one."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 2 :]:
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def _listing(spec: str, fs: "pafs.FileSystem", root: str, keep, location: str | None = None) -> "pa.Table":
    """Files below `root` whose path relative to it passes `keep`; id = that relative path."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError as error:
        raise BatchJobError(f"{spec}: cannot list files ({error})") from error
    base = (location or spec).rstrip("/" + os.sep)
    ids, audio = [], []
    for info in sorted(infos, key=lambda i: i.path):
        if info.type != pafs.FileType.File:
            continue
        relative = posixpath.relpath(info.path.replace(os.sep, "/"), root.replace(os.sep, "/"))
        if keep(relative):
            ids.append(relative)
            audio.append(f"{base}/{relative}" if is_url(base) else os.path.join(os.path.abspath(base), relative))
    if not ids:
        raise BatchJobError(f"{spec}: no audio files found")
    return pa.table({"id": ids, "audio": audio, "language": pa.nulls(len(ids), pa.string())})


def _manifest(spec: str, fs: "pafs.FileSystem", path: str) -> InputList:
    """Rows of a JSONL, CSV or Parquet manifest with `audio`, optional `id` (default: audio) and `language`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = _read_table(spec, fs, path)
    if "audio" not in table.column_names:
        raise BatchJobError(f"{spec}: the manifest has no 'audio' column (found: {', '.join(table.column_names)})")
    columns = {}
    for name in ("id", "audio", "language"):
        if name not in table.column_names:
            columns[name] = pa.nulls(len(table), pa.string())
            continue
        try:
            column = pc.cast(table[name], pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise BatchJobError(f"{spec}: column '{name}' cannot be read as text ({error})") from error
        columns[name] = pc.utf8_trim_whitespace(column)
    folder = posixpath.dirname(spec) if is_url(spec) else os.path.dirname(path)
    ids, audio, languages, skipped = [], [], [], []
    seen: set[str] = set()
    for number, (uid, where, language) in enumerate(
        zip(columns["id"].to_pylist(), columns["audio"].to_pylist(), columns["language"].to_pylist()), start=1
    ):
        uid = uid or where
        if not uid:
            skipped.append(f"{posixpath.basename(path)} row {number}: no audio and no id")
            continue
        if uid in seen:
            raise BatchJobError(f"{spec}: id '{uid}' appears twice (row {number}); ids must be unique")
        seen.add(uid)
        ids.append(uid)
        audio.append(_resolve(where, folder) if where else "")
        languages.append(language or None)
    if not ids:
        raise BatchJobError(f"{spec}: the manifest lists no inputs")
    return InputList(pa.table({"id": ids, "audio": audio, "language": pa.array(languages, pa.string())}), tuple(skipped))


def _resolve(audio: str, folder: str) -> str:
    """A manifest's audio entry as a URL or an absolute path (relative ones: from the manifest's folder)."""
    if is_url(audio):
        return audio
    if is_url(folder):
        return audio if audio.startswith("/") else f"{folder}/{audio}"
    return os.path.normpath(os.path.join(folder, os.path.expanduser(audio)))


def _read_table(spec: str, fs: "pafs.FileSystem", path: str) -> "pa.Table":
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    suffix = _suffix(path)
    try:
        if suffix == ".parquet":
            return pq.read_table(path, filesystem=fs)
        with fs.open_input_stream(path) as stream:
            if suffix == ".csv":
                strings = pacsv.ConvertOptions(column_types={"id": pa.string(), "audio": pa.string(), "language": pa.string()})
                return pacsv.read_csv(stream, convert_options=strings)
            return _read_jsonl(io.TextIOWrapper(stream, encoding="utf-8"))
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, ValueError) as error:
        raise BatchJobError(f"{spec}: not a readable {suffix[1:].upper()} manifest ({error})") from error


def _read_jsonl(lines: Iterable[str]) -> "pa.Table":
    """id, audio and language of each JSON object (numbers as text: ids are often numeric)."""
    import pyarrow as pa

    columns: dict[str, list[str | None]] = {"id": [], "audio": [], "language": []}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise ValueError(f"line {number} is not JSON: {error}") from None
        if not isinstance(row, dict):
            raise ValueError(f"line {number} is not a JSON object")
        for name, values in columns.items():
            value = row.get(name)
            values.append(None if value is None else str(value))
    return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
