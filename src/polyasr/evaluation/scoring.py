"""WER and CER per language with jiwer, on texts normalised by each language's normaliser.

Error rates are pooled (corpus-level: total edits / total reference units), as the model card's
table and most ASR papers report them. CER counts characters of the normalised text, spaces
included, except in Chinese, Japanese and Thai, written without spaces, where spaces are ignored;
their WER is reported but marked as not meaningful, because their words are not delimited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import jiwer

from ..errors import LanguageError
from ..language.normalize import normalize_text
from ..language.normalizer_rules import is_character_level, rules_for


@dataclass(frozen=True)
class ScoredUtterance:
    """One utterance ready for scoring."""

    language: str
    reference: str  # as given
    hypothesis: str  # as transcribed
    duration: float  # seconds of audio


@dataclass(frozen=True)
class LanguageScore:
    """Pooled error rates of a group of utterances, in percent."""

    language: str  # a code, or "pooled" / "macro" for the summary rows
    utterances: int
    hours: float
    wer: float
    cer: float
    wer_meaningful: bool  # False for languages written without spaces between words


@dataclass(frozen=True)
class ScoreReport:
    languages: tuple[LanguageScore, ...]  # sorted by code
    pooled: LanguageScore | None  # every utterance together (WER over languages with words only)
    macro: LanguageScore | None  # the unweighted mean of the languages' rates
    skipped_empty: int  # utterances whose reference is empty after normalisation (not scored)


def rules_language(language: str | None) -> str | None:
    """The language whose normaliser applies: `language`, or None (default rules) if it has none."""
    if language is None:
        return None
    try:
        rules_for(language)
    except LanguageError:
        return None
    return language


def _cer_text(text: str, language: str | None) -> str:
    normalized = normalize_text(text, language)
    return normalized.replace(" ", "") if is_character_level(language) else normalized


def score_language(language: str, items: Sequence[ScoredUtterance]) -> LanguageScore:
    """Pooled WER and CER (percent) of one language's utterances; references must not be empty."""
    rules = rules_language(language)
    references = [normalize_text(u.reference, rules) for u in items]
    hypotheses = [normalize_text(u.hypothesis, rules) for u in items]
    wer = jiwer.wer(references, hypotheses) * 100
    cer = jiwer.cer([_cer_text(u.reference, rules) for u in items], [_cer_text(u.hypothesis, rules) for u in items]) * 100
    hours = sum(u.duration for u in items) / 3600
    return LanguageScore(language, len(items), hours, wer, cer, not is_character_level(rules))


def score(utterances: Iterable[ScoredUtterance]) -> ScoreReport:
    """Per-language scores plus pooled and macro summaries."""
    by_language: dict[str, list[ScoredUtterance]] = {}
    skipped = 0
    for u in utterances:
        if not normalize_text(u.reference, rules_language(u.language)).strip():
            skipped += 1
            continue
        by_language.setdefault(u.language, []).append(u)
    rows = tuple(score_language(code, items) for code, items in sorted(by_language.items()))
    if not rows:
        return ScoreReport((), None, None, skipped)
    return ScoreReport(rows, _pooled(by_language), _macro(rows), skipped)


def _pooled(by_language: dict[str, list[ScoredUtterance]]) -> LanguageScore:
    word_refs, word_hyps, char_refs, char_hyps = [], [], [], []
    for language, items in by_language.items():
        rules = rules_language(language)
        for u in items:
            if not is_character_level(rules):
                word_refs.append(normalize_text(u.reference, rules))
                word_hyps.append(normalize_text(u.hypothesis, rules))
            char_refs.append(_cer_text(u.reference, rules))
            char_hyps.append(_cer_text(u.hypothesis, rules))
    everything = [u for items in by_language.values() for u in items]
    wer = jiwer.wer(word_refs, word_hyps) * 100 if word_refs else float("nan")
    cer = jiwer.cer(char_refs, char_hyps) * 100
    return LanguageScore("pooled", len(everything), sum(u.duration for u in everything) / 3600, wer, cer, bool(word_refs))


def _macro(rows: Sequence[LanguageScore]) -> LanguageScore:
    worded = [r.wer for r in rows if r.wer_meaningful]
    wer = sum(worded) / len(worded) if worded else float("nan")
    return LanguageScore(
        "macro", sum(r.utterances for r in rows), sum(r.hours for r in rows), wer,
        sum(r.cer for r in rows) / len(rows), bool(worded),
    )
