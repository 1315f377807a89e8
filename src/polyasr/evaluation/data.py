"""Evaluation datasets: Common Voice releases and user manifests, read into utterance lists.

Nothing here opens an audio file: a row is good when its audio file exists and its text is not
blank. Rows that fail are kept as :class:`BadRow` entries with their location and reason, never
raised; only problems with the dataset as a whole (missing root, unknown language, unreadable
file) raise :class:`~polyasr.errors.PolyasrError`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import OptionsError, PolyasrError
from ..language.numbers import verbalize_text

__all__ = ["BadRow", "EvalDataset", "Utterance", "numbers_in_words", "read_common_voice", "read_manifest"]


@dataclass(frozen=True)
class Utterance:
    """One reference utterance."""

    id: str  # "<lang>/<clip path>" (Common Voice); manifest "id" or "<manifest name>:<line>"
    audio: str  # absolute path of the audio file
    text: str  # reference transcript, surrounding whitespace removed
    language: str | None  # as written in the data


@dataclass(frozen=True)
class BadRow:
    """A row that was skipped, with where it is and why."""

    where: str  # "cv/de/test.tsv:17" or "my_test.jsonl:3" (line numbers count the header)
    reason: str  # "audio file not found: clips/x.mp3", "empty text", "duplicate id", ...


@dataclass(frozen=True)
class EvalDataset:
    """The good utterances of a dataset and the rows that were skipped."""

    utterances: tuple[Utterance, ...]
    bad_rows: tuple[BadRow, ...]


def numbers_in_words(dataset: EvalDataset) -> EvalDataset:
    """The dataset with the numbers of every reference written out in its language ("25" -> "twenty-five"),
    for models that write words; rows without a language keep their digits. Needs num2words."""
    utterances = tuple(replace(u, text=verbalize_text(u.text, u.language)) for u in dataset.utterances)
    return replace(dataset, utterances=utterances)


class _Bad(Exception):
    """A row-level problem; becomes a BadRow."""


def _abspath(path: str | os.PathLike[str]) -> str:
    return os.path.normpath(os.path.abspath(os.fspath(path)))


def _lines(path: str) -> Generator[tuple[int, str | None], None, None]:
    """(line number, text without line ending) for each line; text None when not valid UTF-8."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise PolyasrError(f"Cannot open {path}: {exc.strerror or exc}.") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip(b"\r\n")
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:
                yield number, None


# --------------------------------------------------------------------------- Common Voice


def _cv_languages(root: Path, split_file: str) -> list[str]:
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise PolyasrError(f"Cannot list Common Voice root {root}: {exc.strerror or exc}.") from exc
    return [
        e.name
        for e in entries
        if not e.name.startswith(".") and e.is_dir() and os.path.isfile(os.path.join(e.path, split_file))
    ]


def _read_cv_language(
    folder: str,
    language: str,
    split_file: str,
    where_prefix: str,
    max_rows: int | None,
    utterances: list[Utterance],
    bad_rows: list[BadRow],
) -> None:
    tsv = os.path.join(folder, split_file)
    clips = os.path.join(folder, "clips")
    lines = _lines(tsv)
    try:
        _read_cv_rows(lines, tsv, clips, language, where_prefix, max_rows, utterances, bad_rows)
    finally:
        lines.close()


def _read_cv_rows(
    lines: Iterator[tuple[int, str | None]],
    tsv: str,
    clips: str,
    language: str,
    where_prefix: str,
    max_rows: int | None,
    utterances: list[Utterance],
    bad_rows: list[BadRow],
) -> None:
    header: list[str] | None = None
    for number, line in lines:
        if line is None:
            raise PolyasrError(f"The header of Common Voice file {tsv} is not valid UTF-8.")
        if line.strip():
            header = line.split("\t")
            break
    if header is None:
        return  # empty file: no rows
    missing = [c for c in ("path", "sentence") if c not in header]
    if missing:
        raise PolyasrError(
            f"Common Voice file {tsv} has no column {missing[0]!r} in its header (found: {', '.join(header)})."
        )
    path_col, text_col = header.index("path"), header.index("sentence")
    seen: set[str] = set()
    good = 0
    for number, line in lines:
        if max_rows is not None and good >= max_rows:
            break
        where = f"{where_prefix}:{number}"
        try:
            if line is None:
                raise _Bad("not valid UTF-8")
            if not line.strip():
                continue
            cells = line.split("\t")
            if len(cells) <= path_col:
                raise _Bad("missing column 'path'")
            if len(cells) <= text_col:
                raise _Bad("missing column 'sentence'")
            clip = cells[path_col].strip()
            if not clip:
                raise _Bad("empty path")
            uid = f"{language}/{clip}"
            if uid in seen:
                raise _Bad("duplicate id")
            seen.add(uid)
            text = cells[text_col].strip()
            if not text:
                raise _Bad("empty text")
            audio = os.path.normpath(os.path.join(clips, clip))
            if not os.path.isfile(audio):
                raise _Bad(f"audio file not found: clips/{clip}")
        except _Bad as bad:
            bad_rows.append(BadRow(where, str(bad)))
            continue
        utterances.append(Utterance(uid, audio, text, language))
        good += 1


def read_common_voice(
    root: str | os.PathLike[str],
    split: str = "test",
    languages: Sequence[str] | None = None,
    max_per_language: int | None = None,
) -> EvalDataset:
    """Read ``<root>/<lang>/<split>.tsv`` of a Common Voice release (or one language folder).

    ``languages=None`` reads every subfolder that has ``<split>.tsv``, sorted by name; otherwise the
    given languages in the given order. ``max_per_language`` keeps the first N good rows of each
    language in file order (bad rows met before the N-th good row are still reported).
    """
    if not isinstance(split, str) or not split or "/" in split or "\\" in split or split.startswith("."):
        raise OptionsError(f"split must be a plain file stem such as 'test', got {split!r}.")
    if max_per_language is not None and (
        isinstance(max_per_language, bool) or not isinstance(max_per_language, int) or max_per_language < 0
    ):
        raise OptionsError(f"max_per_language must be a non-negative integer or None, got {max_per_language!r}.")
    if isinstance(languages, str):
        languages = [languages]
    root_path = Path(_abspath(root))
    if not root_path.exists():
        raise PolyasrError(f"Common Voice root {root_path} does not exist.")
    if not root_path.is_dir():
        raise PolyasrError(f"Common Voice root {root_path} is not a folder.")
    split_file = f"{split}.tsv"
    base = root_path.name or str(root_path)

    single = root_path.joinpath(split_file).is_file()
    if single:
        available = [root_path.name]
    else:
        available = _cv_languages(root_path, split_file)
        if not available:
            raise PolyasrError(
                f"Common Voice root {root_path} has no <language>/{split_file} file and no {split_file} of its own."
            )
    if languages is None:
        chosen = available
    else:
        chosen = list(dict.fromkeys(languages))
        unknown = [lang for lang in chosen if lang not in available]
        if unknown:
            raise PolyasrError(
                f"Common Voice root {root_path} has no {split_file} for language(s) {', '.join(unknown)}; "
                f"available: {', '.join(available)}."
            )

    utterances: list[Utterance] = []
    bad_rows: list[BadRow] = []
    for lang in chosen:
        if single:
            folder, prefix = str(root_path), f"{base}/{split_file}"
        else:
            folder, prefix = str(root_path / lang), f"{base}/{lang}/{split_file}"
        _read_cv_language(folder, lang, split_file, prefix, max_per_language, utterances, bad_rows)
    return EvalDataset(tuple(utterances), tuple(bad_rows))


# --------------------------------------------------------------------------- manifests


def _string_field(row: dict, key: str, *, required: bool) -> str | None:
    if key not in row:
        if required:
            raise _Bad(f"missing column {key!r}")
        return None
    value = row[key]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _Bad(f"column {key!r} is not a string")
    return str(value).strip()


def _jsonl_rows(path: str) -> Iterator[tuple[int, dict | None, str | None]]:
    for number, line in _lines(path):
        if line is None:
            yield number, None, "not valid UTF-8"
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            yield number, None, "not valid JSON"
            continue
        if not isinstance(obj, dict):
            yield number, None, "not a JSON object"
            continue
        yield number, obj, None


def _table_rows(path: str, delimiter: str) -> Iterator[tuple[int, dict | None, str | None]]:
    try:
        handle = open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise PolyasrError(f"Cannot open manifest {path}: {exc.strerror or exc}.") from exc
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    try:
        with handle:
            reader = csv.reader(handle, delimiter=delimiter, quoting=quoting, strict=False)
            header: list[str] | None = None
            start = 1
            for cells in reader:
                number, start = start, reader.line_num + 1
                if not any(c.strip() for c in cells):
                    continue
                if header is None:
                    header = [c.strip() for c in cells]
                    missing = [c for c in ("audio", "text") if c not in header]
                    if missing:
                        raise PolyasrError(
                            f"Manifest {path} has no column {missing[0]!r} in its header "
                            f"(found: {', '.join(header)})."
                        )
                    continue
                row = {name: cells[i] for i, name in enumerate(header) if i < len(cells)}
                yield number, row, None
    except UnicodeDecodeError as exc:
        raise PolyasrError(f"Manifest {path} is not valid UTF-8.") from exc
    except csv.Error as exc:
        raise PolyasrError(f"Manifest {path} is not a readable table: {exc}.") from exc


def read_manifest(path: str | os.PathLike[str], language: str | None = None) -> EvalDataset:
    """Read a ``.jsonl``, ``.csv`` or ``.tsv`` manifest with columns audio, text, [language], [id].

    Relative audio paths are resolved against the manifest's folder; ``language`` is the default
    for rows without one. A table whose header lacks ``audio`` or ``text`` raises; in JSONL each
    object missing a key is a bad row.
    """
    manifest = _abspath(path)
    if not os.path.exists(manifest):
        raise PolyasrError(f"Manifest {manifest} does not exist.")
    if not os.path.isfile(manifest):
        raise PolyasrError(f"Manifest {manifest} is not a file.")
    suffix = os.path.splitext(manifest)[1].lower()
    if suffix == ".jsonl":
        rows = _jsonl_rows(manifest)
    elif suffix in (".csv", ".tsv"):
        rows = _table_rows(manifest, "," if suffix == ".csv" else "\t")
    else:
        raise PolyasrError(f"Manifest {manifest} must end in .jsonl, .csv or .tsv, not {suffix or 'nothing'!r}.")
    name = os.path.basename(manifest)
    folder = os.path.dirname(manifest)

    utterances: list[Utterance] = []
    bad_rows: list[BadRow] = []
    seen: set[str] = set()
    for number, row, problem in rows:
        where = f"{name}:{number}"
        try:
            if row is None:
                raise _Bad(problem or "unreadable row")
            audio_field = _string_field(row, "audio", required=True)
            text = _string_field(row, "text", required=True)
            uid = _string_field(row, "id", required=False) or where
            if uid in seen:
                raise _Bad("duplicate id")
            seen.add(uid)
            row_language = _string_field(row, "language", required=False) or language
            if not text:
                raise _Bad("empty text")
            if not audio_field:
                raise _Bad("empty audio path")
            audio = os.path.normpath(os.path.join(folder, os.path.expanduser(audio_field)))
            if not os.path.isfile(audio):
                raise _Bad(f"audio file not found: {audio_field}")
        except _Bad as bad:
            bad_rows.append(BadRow(where, str(bad)))
            continue
        utterances.append(Utterance(uid, audio, text, row_language))
    return EvalDataset(tuple(utterances), tuple(bad_rows))
