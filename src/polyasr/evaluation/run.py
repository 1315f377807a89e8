"""Evaluating a model on a dataset: transcribe every utterance once, cache hypotheses, score them.

Hypotheses are appended to `<output_dir>/hypotheses.jsonl` as they are produced (see cache.py:
keyed by what produced them and by each utterance's audio, reference and language), so an
interrupted run resumes where it stopped: utterances already in the cache are not transcribed
again, and each is scored exactly once. Scores are always recomputed from the hypotheses with the
current normaliser.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..audio.prefetch import prefetch_audio
from ..errors import LanguageError, OptionsError, PolyasrError
from .cache import CACHE_NAME, EvalRecord, HypothesisCache, RunFacts, run_facts, utterance_key
from .data import BadRow, EvalDataset, Utterance
from .scoring import ScoredUtterance, ScoreReport, score
from ..decoding.options import DecoderOptions
from ..language.choice import AUTO, DETECT, MULTI, LanguageChoice
from ..options import TranscribeOptions
from ..recognizer import Recognizer

__all__ = ["CACHE_NAME", "DECODE_MODES", "EvalOptions", "EvalRecord", "EvalResult", "evaluate"]

DECODE_MODES = ("language", str(AUTO), str(DETECT), str(MULTI))


@dataclass(frozen=True)
class EvalOptions:
    """How utterances are decoded during evaluation."""

    decode: str = "language"  # "language": restricted to each utterance's language (the card's
    #                           language-specific decoding); "auto": unrestricted; "detect"
    decode_workers: int = 2  # threads decoding audio ahead of the model
    decode_ahead: int = 32  # utterances decoded in advance
    decoder: DecoderOptions = field(default_factory=DecoderOptions)  # greedy, or beam search with an LM
    restart: bool = False  # discard an earlier run's hypotheses in the output folder

    def __post_init__(self) -> None:
        if self.decode not in DECODE_MODES:
            raise OptionsError(f"unknown decode mode {self.decode!r}: decode must be one of {', '.join(DECODE_MODES)}")
        for name in ("decode_workers", "decode_ahead"):
            value = getattr(self, name)
            if value < 1:
                raise OptionsError(f"{name} must be at least 1, not {value}")


@dataclass(frozen=True)
class EvalResult:
    report: ScoreReport
    records: tuple[EvalRecord, ...]  # every scored or undecodable utterance, in dataset order
    resumed: int  # how many came from an earlier run's cache
    failed: tuple[EvalRecord, ...]  # undecodable audio
    warnings: tuple[str, ...] = field(default=())
    bad_rows: tuple[BadRow, ...] = ()  # utterances in a language the model lacks: neither decoded nor scored
    facts: RunFacts | None = None  # what produced the hypotheses
    changed: int = 0  # cached utterances whose audio, reference or language changed: decoded again


def evaluate(
    recognizer: Recognizer,
    dataset: EvalDataset,
    output_dir: str | Path,
    options: EvalOptions = EvalOptions(),
    on_progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Transcribe what the cache lacks, then score everything.

    `on_progress(done, total)` is called once with what the cache already holds, then per utterance.
    Raises OptionsError when the output folder holds another run's hypotheses (unless
    `options.restart`), or when decoding by language is asked of a model without a language table.
    """
    decode_as, bad_rows = _decoding_languages(recognizer, dataset.utterances, options.decode)
    kept = [u for u in dataset.utterances if u.id in decode_as]
    facts = run_facts(recognizer.model, options.decode, options.decoder)
    cache = HypothesisCache(Path(output_dir) / CACHE_NAME, facts, options.restart)
    keys = {u.id: utterance_key(u) for u in kept}
    todo = [u for u in kept if cache.reusable(u, keys[u.id]) is None]
    changed = sum(1 for u in todo if u.id in cache.records)
    warnings = list(cache.warnings)
    if changed:
        warnings.append(f"{changed} utterance(s) changed since the earlier run (audio, reference or language): decoded again")
    report = on_progress or (lambda done, total: None)
    done, total = len(kept) - len(todo), len(kept)
    report(done, total)
    groups: dict[str, list[Utterance]] = {}
    for u in todo:
        groups.setdefault(decode_as[u.id], []).append(u)
    for language, group in sorted(groups.items(), key=lambda item: str(item[0])):
        for record in _transcribe_group(recognizer, group, language, keys, options):
            cache.append(record)
            done += 1
            report(done, total)
    records = tuple(cache.records[u.id] for u in kept)
    scored = [
        ScoredUtterance(r.language or "und", r.reference, r.hypothesis, r.duration)
        for r in records
        if r.hypothesis is not None
    ]
    failed = tuple(r for r in records if r.hypothesis is None)
    resumed = len(kept) - len(todo)
    return EvalResult(score(scored), records, resumed, failed, tuple(warnings), bad_rows, facts, changed)


def _decoding_languages(
    recognizer: Recognizer, utterances: tuple[Utterance, ...], mode: str
) -> tuple[dict[str, LanguageChoice], tuple[BadRow, ...]]:
    """What each utterance is decoded with ("auto", "detect" or the model's code), and the utterances
    that cannot be: in "language" mode, those whose language the model lacks."""
    if mode != "language":
        whole = LanguageChoice.parse(mode)
        return {u.id: whole for u in utterances}, ()
    if not recognizer.languages():
        raise OptionsError(
            f"model '{recognizer.model.name}' names no languages (no language table, adapters or card language), so "
            "--decode language cannot restrict decoding to each utterance's language; use --decode auto"
        )
    codes: dict[str | None, LanguageChoice | None] = {}
    for language in {u.language for u in utterances}:
        try:
            codes[language] = AUTO if language is None else LanguageChoice.of(recognizer.resolve_language(language))
        except LanguageError:
            codes[language] = None
    decode_as = {u.id: code for u in utterances if (code := codes[u.language]) is not None}
    bad = tuple(
        BadRow(u.id, f"language '{u.language}' is not one of the model's languages: not decoded, not scored")
        for u in utterances
        if codes[u.language] is None
    )
    return decode_as, bad


def _transcribe_group(
    recognizer: Recognizer, group: list[Utterance], decode_as: LanguageChoice, keys: dict[str, str], options: EvalOptions
) -> Iterator[EvalRecord]:
    """Records of one group, audio decoded in worker threads ahead of the model."""
    waiting: deque[Utterance] = deque()  # decoded, handed to the model, outcome not yet seen
    failures: list[EvalRecord] = []  # audio that could not be decoded

    def decoded() -> Iterator[np.ndarray]:
        prefetched = prefetch_audio((u.audio for u in group), options.decode_workers, options.decode_ahead)
        for u, (_, samples) in zip(group, prefetched):
            if isinstance(samples, PolyasrError):
                failures.append(_record(u, keys, None, 0.0, str(samples), None))
            else:
                waiting.append(u)
                yield samples

    transcribe = TranscribeOptions(language=decode_as, decoder=options.decoder)
    for outcome in recognizer.transcribe_iter(decoded(), transcribe, sampling_rate=SAMPLE_RATE):
        yield from failures
        failures.clear()
        u = waiting.popleft()
        if outcome.error is not None:
            yield _record(u, keys, None, 0.0, str(outcome.error), None)
        else:
            assert outcome.result is not None
            restricted_to = None if decode_as.is_auto else outcome.result.language  # auto only reports a language
            yield _record(u, keys, outcome.result.text, outcome.result.duration, None, restricted_to)
    yield from failures


def _record(
    u: Utterance, keys: dict[str, str], hypothesis: str | None, duration: float, error: str | None, decoded_as: str | None
) -> EvalRecord:
    return EvalRecord(u.id, u.language, u.audio, u.text, hypothesis, duration, error, decoded_as, keys[u.id])
