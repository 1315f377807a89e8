"""Evaluating a model on a dataset: transcribe every utterance once, cache hypotheses, score them.

Hypotheses are appended to `<output_dir>/hypotheses.jsonl` as they are produced (one JSON object
per line, flushed at once), so an interrupted run resumes where it stopped: utterances already in
the cache are not transcribed again, and each is scored exactly once.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .audio import SAMPLE_RATE, prefetch_audio
from .errors import LanguageError, OptionsError, PolyasrError
from .eval_data import EvalDataset, Utterance
from .scoring import ScoredUtterance, ScoreReport, score
from .decoders.options import DecoderOptions
from .transcriber import AUTO, DETECT, Recognizer, TranscribeOptions

CACHE_NAME = "hypotheses.jsonl"
DECODE_MODES = ("language", AUTO, DETECT)


@dataclass(frozen=True)
class EvalOptions:
    """How utterances are decoded during evaluation."""

    decode: str = "language"  # "language": restricted to each utterance's language (the card's
    #                           language-specific decoding); "auto": unrestricted; "detect"
    decode_workers: int = 2  # threads decoding audio ahead of the model
    decode_ahead: int = 32  # utterances decoded in advance
    decoder: DecoderOptions = field(default_factory=DecoderOptions)  # greedy, or beam search with an LM


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


@dataclass(frozen=True)
class EvalResult:
    report: ScoreReport
    records: tuple[EvalRecord, ...]  # every utterance of the dataset, in cache order
    resumed: int  # how many came from an earlier run's cache
    failed: tuple[EvalRecord, ...]  # undecodable audio
    warnings: tuple[str, ...] = field(default=())


class HypothesisCache:
    """The append-only JSONL file of records; tolerant of a line cut short by a killed run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, EvalRecord] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]  # a last line without newline was cut short
        if len(complete) != len(data):
            with open(self.path, "r+b") as handle:
                handle.truncate(len(complete))
        for line in complete.decode("utf-8").splitlines():
            try:
                record = EvalRecord(**json.loads(line))
            except (ValueError, TypeError):
                continue  # not one of our records: ignore it
            self.records[record.id] = record

    def append(self, record: EvalRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.records[record.id] = record


def evaluate(
    recognizer: Recognizer,
    dataset: EvalDataset,
    output_dir: str | Path,
    options: EvalOptions = EvalOptions(),
    on_progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Transcribe what the cache lacks, then score everything.

    `on_progress(done, total)` is called once with what the cache already holds, then per utterance.
    """
    if options.decode not in DECODE_MODES:
        raise OptionsError(f"unknown decode mode {options.decode!r}; choose one of: {', '.join(DECODE_MODES)}")
    cache = HypothesisCache(Path(output_dir) / CACHE_NAME)
    resumed = sum(1 for u in dataset.utterances if u.id in cache.records)
    todo = [u for u in dataset.utterances if u.id not in cache.records]
    warnings: list[str] = []
    report = on_progress or (lambda done, total: None)
    done, total = resumed, len(dataset.utterances)
    report(done, total)
    for group, decode_as in _groups(recognizer, todo, options.decode, warnings):
        for record in _transcribe_group(recognizer, group, decode_as, options):
            cache.append(record)
            done += 1
            report(done, total)
    records = tuple(cache.records[u.id] for u in dataset.utterances)
    scored = [
        ScoredUtterance(r.language or "und", r.reference, r.hypothesis, r.duration)
        for r in records
        if r.hypothesis is not None
    ]
    failed = tuple(r for r in records if r.hypothesis is None)
    return EvalResult(score(scored), records, resumed, failed, tuple(warnings))


def _groups(
    recognizer: Recognizer, todo: list[Utterance], mode: str, warnings: list[str]
) -> Iterator[tuple[list[Utterance], str]]:
    """Utterances grouped by the language to decode them with (one transcribe pass per group)."""
    if mode != "language":
        yield todo, mode
        return
    by_language: dict[str | None, list[Utterance]] = {}
    for u in todo:
        by_language.setdefault(u.language, []).append(u)
    for language, group in sorted(by_language.items(), key=lambda item: item[0] or ""):
        decode_as = AUTO
        if language is not None:
            try:
                decode_as = recognizer.resolve_language(language) or AUTO
            except LanguageError:
                warnings.append(f"language '{language}' is not in the model's language table: decoded unrestricted")
        yield group, decode_as


def _transcribe_group(
    recognizer: Recognizer, group: list[Utterance], decode_as: str, options: EvalOptions
) -> Iterator[EvalRecord]:
    """Records of one group, audio decoded in worker threads ahead of the model."""
    waiting: deque[Utterance] = deque()  # decoded, handed to the model, outcome not yet seen
    failures: list[EvalRecord] = []  # audio that could not be decoded

    def decoded() -> Iterator[np.ndarray]:
        prefetched = prefetch_audio((u.audio for u in group), options.decode_workers, options.decode_ahead)
        for u, (_, samples) in zip(group, prefetched):
            if isinstance(samples, PolyasrError):
                failures.append(_record(u, None, 0.0, str(samples), None))
            else:
                waiting.append(u)
                yield samples

    transcribe = TranscribeOptions(decoder=options.decoder)
    for outcome in recognizer.transcribe_iter(decoded(), language=decode_as, sampling_rate=SAMPLE_RATE, options=transcribe):
        yield from failures
        failures.clear()
        u = waiting.popleft()
        if outcome.error is not None:
            yield _record(u, None, 0.0, str(outcome.error), None)
        else:
            assert outcome.result is not None
            yield _record(u, outcome.result.text, outcome.result.duration, None, outcome.result.language)
    yield from failures


def _record(u: Utterance, hypothesis: str | None, duration: float, error: str | None, decoded_as: str | None) -> EvalRecord:
    return EvalRecord(u.id, u.language, u.audio, u.text, hypothesis, duration, error, decoded_as)
