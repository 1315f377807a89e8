"""The evaluation cache: hypotheses.jsonl, keyed by what produced it and by each utterance.

The file's first line records what produced the hypotheses (`RunFacts`: model and revision,
backend, device and precision, decoding mode, decoder options with the LM file's digest, the
text normaliser's digest, polyasr version); every other line is one
utterance's `EvalRecord`, with the key of its audio content, reference and language. A cache made
under other facts is refused in one sentence (or discarded with `restart`); a record whose
utterance changed (other audio, reference or language) is decoded again; a line that is not a
valid record (bad UTF-8, bad JSON, wrong types) is skipped with a warning. Lines are appended and
flushed one at a time, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ..decoding.options import BEAM, BeamOptions, DecoderOptions
from ..errors import OptionsError
from .data import Utterance
from ..language.normalizer_rules import normalizer_fingerprint

CACHE_NAME = "hypotheses.jsonl"
CACHE_FORMAT = 1  # the header's "polyasr_cache" value


@dataclass(frozen=True)
class RunFacts:
    """What produced a run's hypotheses. Hypotheses made under other facts are not reused."""

    model: str  # Hub id or folder, as given
    model_revision: str  # the Hub commit, or "sha256:..." of a folder's files
    backend: str  # "torch" or "onnx"
    device: str  # "cpu", "cuda", "mps"
    precision: str  # "fp32", "bf16", "fp16", "int8"
    decode: str  # "language", "auto" or "detect"
    decoder: str  # "greedy", or "beam" with the beam options that differ from the defaults (see decoder_description)
    normalizer: str  # "sha256:..." of every language's normalisation rules (normalizer_rules.normalizer_fingerprint)
    polyasr_version: str

    def differences(self, other: "RunFacts") -> list[str]:
        """'field: theirs -> ours' for every field that differs."""
        return [
            f"{f.name} {getattr(other, f.name)} -> {getattr(self, f.name)}"
            for f in fields(self)
            if getattr(other, f.name) != getattr(self, f.name)
        ]


def run_facts(model: Any, decode: str, decoder: DecoderOptions = DecoderOptions()) -> RunFacts:
    """The facts of a loaded CTCModel decoding in mode `decode` with `decoder`."""
    from ..version import VERSION as __version__

    backend = type(model.backend).__name__.removesuffix("Backend").lower()
    return RunFacts(
        model=model.name, model_revision=model_revision(model), backend=backend,
        device=str(model.backend.device).split(":")[0], precision=model.backend.precision, decode=decode,
        decoder=decoder_description(decoder), normalizer=normalizer_fingerprint(), polyasr_version=__version__,
    )


def decoder_description(options: DecoderOptions) -> str:
    """'greedy', or 'beam' followed by each beam option that differs from its default, e.g.
    'beam beam_size=8 lm=de.arpa@sha256:...' (an LM file is named with the digest of its bytes)."""
    if options.strategy != BEAM:
        return options.strategy
    defaults, parts = BeamOptions(), [BEAM]
    for f in fields(BeamOptions):
        value = getattr(options.beam, f.name)
        if value == getattr(defaults, f.name):
            continue
        if f.name == "lm":
            value = f"{value}@{files_digest(Path(value).expanduser())}"
        elif f.name == "hotwords":
            value = ",".join(w.text if w.weight is None else f"{w.text}:{w.weight:g}" for w in value)
        parts.append(f"{f.name}={value}")
    return " ".join(parts)


def model_revision(model: Any) -> str:
    """The Hub commit the model was loaded at, or a digest of a local folder's files (names and bytes,
    subfolders such as language_model/ included)."""
    folder = Path(model.name).expanduser()
    if folder.is_dir():
        return files_digest(folder)
    return str(getattr(model.config, "_commit_hash", None) or "unknown")


def files_digest(path: Path) -> str:
    """'sha256:...' of a file's bytes, or of a folder's files (relative names and bytes; hidden ones skipped)."""
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
    else:
        files = [path] if path.is_file() else []
    if not files:
        return "missing"
    for file in files:
        digest.update((file.relative_to(path).as_posix() if file != path else "").encode() + b"\0")
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()[:16]


def utterance_key(utterance: Utterance) -> str:
    """Digest of what decides an utterance's record: its audio file's bytes, reference and language."""
    digest = hashlib.sha256()
    try:
        with open(utterance.audio, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as error:
        digest.update(f"unreadable: {error.strerror}".encode())
    digest.update(b"\0" + utterance.text.encode() + b"\0" + (utterance.language or "").encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class EvalRecord:
    """One utterance's outcome, as stored in hypotheses.jsonl."""

    id: str
    language: str | None  # the utterance's language as given by the dataset
    audio: str
    reference: str
    hypothesis: str | None  # None when the audio could not be decoded
    duration: float
    error: str | None = None
    decoded_as: str | None = None  # the language decoding was restricted to (None: unrestricted)
    key: str = ""  # utterance_key when it was decoded


_OPTIONAL_TEXT = ("language", "hypothesis", "error", "decoded_as")


def _record(data: Any) -> EvalRecord | None:
    """The record a parsed line holds, or None when it is not one (missing fields, wrong types)."""
    if not isinstance(data, dict) or set(data) != {f.name for f in fields(EvalRecord)}:
        return None
    texts_ok = all(isinstance(data[k], str) for k in ("id", "audio", "reference", "key"))
    optional_ok = all(data[k] is None or isinstance(data[k], str) for k in _OPTIONAL_TEXT)
    duration = data["duration"]
    number_ok = isinstance(duration, (int, float)) and not isinstance(duration, bool) and math.isfinite(duration)
    return EvalRecord(**data) if texts_ok and optional_ok and number_ok else None


class HypothesisCache:
    """hypotheses.jsonl of one output folder, for one run's facts."""

    def __init__(self, path: Path, facts: RunFacts, restart: bool = False) -> None:
        self.path = path
        self.facts = facts
        self.records: dict[str, EvalRecord] = {}
        self.warnings: list[str] = []
        if restart and path.exists():
            path.unlink()
        if path.exists() and path.stat().st_size > 0:
            self._load()
        else:
            self._write_line({"polyasr_cache": CACHE_FORMAT, "produced_by": asdict(facts)})

    def _refuse(self, why: str) -> OptionsError:
        return OptionsError(
            f"{self.path} holds hypotheses {why}; use another --output-dir, or --restart to discard them"
        )

    def _load(self) -> None:
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]  # a last line without newline was cut short
        if len(complete) != len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(len(complete))
        lines = complete.split(b"\n")[:-1]
        header = _json_line(lines[0]) if lines else None
        if not isinstance(header, dict) or header.get("polyasr_cache") != CACHE_FORMAT:
            raise self._refuse("without a record of what produced them (an older polyasr, or not a cache)")
        try:
            theirs = RunFacts(**header["produced_by"])
        except (TypeError, KeyError):
            raise self._refuse("with an unreadable record of what produced them") from None
        if theirs != self.facts:
            raise self._refuse(f"of another run ({'; '.join(self.facts.differences(theirs))})")
        bad = []
        for number, line in enumerate(lines[1:], start=2):
            record = _record(_json_line(line))
            if record is None:
                bad.append(number)
            else:
                self.records[record.id] = record
        if bad:
            listed = ", ".join(map(str, bad[:10])) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
            self.warnings.append(f"{self.path}: skipped {len(bad)} line(s) that are not valid records (line {listed})")

    def reusable(self, utterance: Utterance, key: str) -> EvalRecord | None:
        """The cached record of `utterance` if it was made from the same audio, reference and language."""
        record = self.records.get(utterance.id)
        return record if record is not None and record.key == key else None

    def append(self, record: EvalRecord) -> None:
        self._write_line(asdict(record))
        self.records[record.id] = record

    def _write_line(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(data, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _json_line(line: bytes) -> Any:
    """A line's JSON value, or None when it is not UTF-8 JSON."""
    try:
        return json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
