"""Checks run before every training (and alone with --check-only): what is kept, what is dropped and why.

Every utterance ends up either kept, with its normalised text, labels and cached audio, or dropped
with its id and a reason: no or unknown language, text empty after normalisation, audio that does
not decode, a clip too short or too long, characters the vocabulary lacks (when it is not
extended), or too few frames for CTC (a CTC path needs one frame per label plus one blank between
equal neighbours). Nothing is dropped without being listed.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..audio.decode import SAMPLE_RATE
from ..errors import LanguageError
from ..evaluation.data import BadRow, EvalDataset
from ..language.table import LanguageTable
from ..language.catalogue import language_name, normalize_code
from ..language.normalize import normalize_text
from ..evaluation.scoring import rules_language
from .audio_cache import AudioCache, CachedClip
from .options import DataOptions
from ..decoding.ctc import Vocabulary
from .vocabulary import VocabularyPlan, character_ids, encode, plan_vocabulary

_CODE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*", re.IGNORECASE)  # "de", "sv-SE", "rm-sursilv"
EXAMPLES = 3  # utterance ids listed per missing character


@dataclass(frozen=True)
class PreparedUtterance:
    """A kept utterance, ready for batching."""

    id: str
    language: str  # as the language table spells it
    text: str  # normalised
    labels: tuple[int, ...]
    clip: CachedClip

    @property
    def seconds(self) -> float:
        return self.clip.length / SAMPLE_RATE


@dataclass(frozen=True)
class Dropped:
    """An utterance left out, and why."""

    id: str
    reason: str  # a short category: "too short", "ctc infeasible", ...
    detail: str  # the numbers or the error behind it


@dataclass(frozen=True)
class MissingCharacter:
    """A character of the training text that the base vocabulary lacks."""

    language: str
    character: str
    count: int  # occurrences in the language's kept text
    examples: tuple[str, ...]  # ids of utterances that contain it


@dataclass(frozen=True)
class PreflightReport:
    """The outcome of the checks."""

    kept: tuple[PreparedUtterance, ...]
    dropped: tuple[Dropped, ...]
    bad_rows: tuple[BadRow, ...]  # rows the reader could not use (missing file, empty text, ...)
    missing: tuple[MissingCharacter, ...]  # relative to the base vocabulary
    plan: VocabularyPlan

    def seconds_by_language(self) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for u in self.kept:
            totals[u.language] += u.seconds
        return dict(sorted(totals.items()))

    def summary(self) -> list[str]:
        """The report as lines of text (the CLI prints them; the model card keeps them)."""
        lines = [f"kept {len(self.kept)} utterances ({duration(sum(u.seconds for u in self.kept))}): "
                 + ", ".join(f"{code} {duration(s)}" for code, s in self.seconds_by_language().items())]
        if self.bad_rows:
            lines.append(f"{len(self.bad_rows)} rows could not be read:")
            lines += [f"  {row.where}: {row.reason}" for row in self.bad_rows]
        by_reason: dict[str, list[Dropped]] = defaultdict(list)
        for item in self.dropped:
            by_reason[item.reason].append(item)
        for reason, items in sorted(by_reason.items()):
            lines.append(f"dropped {len(items)} ({reason}):")
            lines += [f"  {item.id}: {item.detail}" for item in items]
        by_language: dict[str, list[MissingCharacter]] = defaultdict(list)
        for m in self.missing:
            by_language[m.language].append(m)
        verb = "added to the vocabulary" if self.plan.added else "not in the vocabulary"
        for language, items in sorted(by_language.items()):
            lines.append(f"{language} ({language_name(language)}): {len(items)} characters {verb}:")
            lines += [f"  {m.character!r} x{m.count}, e.g. {', '.join(m.examples)}" for m in items]
        if self.plan.new_languages:
            lines.append(f"new languages in the language table: {', '.join(self.plan.new_languages)}")
        for language, chars in sorted(self.plan.table_additions.items()):
            if language not in self.plan.new_languages:
                lines.append(f"{language}: existing tokens added to its language table: {''.join(chars)!r}")
        return lines


def duration(seconds: float) -> str:
    """"1.25 h", "12.5 min" or "42 s"."""
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _language(code: str | None, table: LanguageTable | None) -> tuple[str | None, str]:
    """(the table's spelling or the code as given, "") or (None, why it is refused)."""
    if code is None or not code.strip():
        return None, "the row has no language (add a language column, or --language)"
    if table is not None:
        try:
            return normalize_code(code, table.ids), ""
        except LanguageError:
            pass
    if not _CODE.fullmatch(code.strip()):
        return None, f"unknown language {code!r} (expected a code such as 'de', 'sv-SE' or 'rm-sursilv')"
    return code.strip(), ""


def ctc_shortfall(labels: Sequence[int], frames: int) -> int:
    """How many frames short of a CTC path: labels plus repeated neighbours, minus `frames` (<= 0: feasible)."""
    repeats = sum(1 for a, b in zip(labels, labels[1:]) if a == b)
    return len(labels) + repeats - frames


def run_preflight(
    dataset: EvalDataset,
    cache: AudioCache,
    base: Vocabulary,
    base_table: LanguageTable | None,
    options: DataOptions,
    frames: Callable[[np.ndarray], np.ndarray],
) -> PreflightReport:
    """Check every utterance of `dataset` (whose audio `cache` holds) against the base model."""
    dropped: list[Dropped] = []
    candidates: list[tuple[str, str, str, CachedClip]] = []  # id, language, text, clip
    for u in dataset.utterances:
        language, problem = _language(u.language, base_table)
        if language is None:
            dropped.append(Dropped(u.id, "language", problem))
            continue
        text = normalize_text(u.text, rules_language(language))
        if not text.strip():
            dropped.append(Dropped(u.id, "empty text", f"nothing is left of {u.text!r} after normalisation"))
            continue
        clip = cache.lookup(u.audio)
        if isinstance(clip, str):
            dropped.append(Dropped(u.id, "undecodable audio", clip))
            continue
        seconds = clip.length / SAMPLE_RATE
        if seconds < options.min_seconds:
            dropped.append(Dropped(u.id, "too short", f"{seconds:.2f} s < {options.min_seconds} s"))
        elif seconds > options.max_seconds:
            dropped.append(Dropped(u.id, "too long", f"{seconds:.2f} s > {options.max_seconds} s"))
        else:
            candidates.append((u.id, language, text, clip))

    characters: dict[str, Counter[str]] = defaultdict(Counter)
    for _, language, text, _ in candidates:
        characters[language].update(text)
    plan = plan_vocabulary(base, base_table, characters, extend=options.vocabulary == "extend")
    missing = _missing(candidates, base)

    ids = character_ids(plan.vocabulary)
    encoded: list[tuple[str, str, str, CachedClip, list[int]]] = []
    for uid, language, text, clip in candidates:
        labels, lacking = encode(text, plan.vocabulary, ids)
        if lacking:
            dropped.append(Dropped(uid, "characters not in the vocabulary", "".join(dict.fromkeys(lacking))))
        else:
            encoded.append((uid, language, text, clip, labels))
    frame_counts = frames(np.array([e[3].length for e in encoded], dtype=np.int64)) if encoded else []
    kept: list[PreparedUtterance] = []
    for (uid, language, text, clip, labels), count in zip(encoded, frame_counts):
        short = ctc_shortfall(labels, int(count))
        if short > 0:
            repeats = short + int(count) - len(labels)
            dropped.append(Dropped(uid, "ctc infeasible",
                                   f"{int(count)} frames for {len(labels)} labels + {repeats} repeats"))
        else:
            kept.append(PreparedUtterance(uid, language, text, tuple(labels), clip))
    return PreflightReport(tuple(kept), tuple(dropped), dataset.bad_rows, missing, plan)


def _missing(candidates: Sequence[tuple[str, str, str, CachedClip]], base: Vocabulary) -> tuple[MissingCharacter, ...]:
    known = character_ids(base)
    counts: dict[tuple[str, str], int] = Counter()
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    for uid, language, text, _ in candidates:
        for char, n in Counter(text).items():
            if char == " " or char in known:
                continue
            counts[(language, char)] += n
            if len(examples[(language, char)]) < EXAMPLES:
                examples[(language, char)].append(uid)
    ordered = sorted(counts, key=lambda key: (key[0], -counts[key], key[1]))
    return tuple(MissingCharacter(lang, char, counts[(lang, char)], tuple(examples[(lang, char)])) for lang, char in ordered)
