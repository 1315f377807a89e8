"""Which normalisation rules apply to a language: :class:`NormalizerRules` (every setting one
language's normalisation depends on), :func:`rules_for` (the tables of normalizer_tables.py merged
for a language), whether a language has rules of its own or is scored per character, the rules'
fingerprint recorded next to scores, and the per-language table docs/languages.md documents."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from .catalogue import CATALOGUE, UNSPACED_SCRIPTS, normalize_code
from .choice import LanguageChoice
from .normalizer_tables import LANGUAGE_RULES, SCRIPT_DEFAULTS, UNIVERSAL_RULES

__all__ = [
    "NormalizerRules",
    "RuleRow",
    "has_special_rules",
    "is_character_level",
    "normalizer_fingerprint",
    "rules_for",
    "rules_table",
]

_FORMS = ("NFC", "NFKC", "NFD", "NFKD")
_DIGIT_POLICIES = ("keep", "ascii", "remove")


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class NormalizerRules:
    """Everything one language's normalisation depends on. Build one with :func:`rules_for`,
    or derive a custom one with ``dataclasses.replace(rules_for("fr"), keep_chars="'-")``."""

    # Unicode normalisation form of step 3: "NFKC" (default) or "NFC" (Thai); NFD/NFKD allowed.
    unicode_form: str = "NFKC"
    # Single characters replaced before Unicode normalisation, for characters that NFKC would
    # destroy: "´" (used as an apostrophe) would become " " + combining acute.
    pre_map: Mapping[str, str] = field(default_factory=dict)
    # Single characters replaced before lowercasing. Turkish: "I" -> "ı", "İ" -> "i"; every other
    # language: "İ" -> "i" (str.lower() would give "i" + a combining dot).
    casefold_map: Mapping[str, str] = field(default_factory=dict)
    # Whether to apply str.lower(); harmless for scripts without case.
    lowercase: bool = True
    # Single characters replaced (or deleted, value "") after lowercasing: apostrophe variants,
    # Arabic harakat and tatweel, Arabic/Persian letter variants, Latin look-alikes in Cyrillic.
    char_map: Mapping[str, str] = field(default_factory=dict)
    # Whether to delete format characters (Cf: ZWJ, ZWNJ, soft hyphen, BOM, bidi marks),
    # enclosing marks (Me), variation selectors and control characters. keep_chars are spared.
    remove_ignorable: bool = True
    # Whether every punctuation (P*) and symbol (S*) character becomes a space, except keep_chars.
    remove_punctuation: bool = True
    # Punctuation kept inside words (and stripped from word edges): the apostrophe everywhere,
    # "-" in Irish and Maltese, "·" in Catalan (col·lecció).
    keep_chars: str = "'"
    # Characters of keep_chars that are kept at the end of a word: "'" in Maltese (ta') and Greek
    # (elision, σ'). They are still stripped from the start of a word.
    keep_word_final: str = ""
    # Replacement of a word's last character (words of 2+ characters): Greek "σ" -> "ς".
    word_final_map: Mapping[str, str] = field(default_factory=dict)
    # Decimal digits (Unicode category Nd): "keep" as written, "ascii" (٣ -> 3), or "remove".
    digits: str = "keep"
    # True for languages scored per character (Chinese, Japanese, Thai): normalize_text removes
    # all spaces, tokens_for_wer splits into characters (a base character with its marks).
    char_level: bool = False

    def __post_init__(self) -> None:
        if self.unicode_form not in _FORMS:
            raise ValueError(f"unicode_form {self.unicode_form!r} is not one of {_FORMS}")
        if self.digits not in _DIGIT_POLICIES:
            raise ValueError(f"digits {self.digits!r} is not one of {_DIGIT_POLICIES}")
        for name in ("pre_map", "casefold_map", "char_map", "word_final_map"):
            mapping = getattr(self, name)
            bad = [key for key in mapping if not isinstance(key, str) or len(key) != 1]
            if bad:
                raise ValueError(f"{name} keys must be single characters, not {bad!r}")
            object.__setattr__(self, name, _frozen(mapping))
        if not set(self.keep_word_final) <= set(self.keep_chars):
            raise ValueError("keep_word_final must be a subset of keep_chars")

    __hash__ = None  # type: ignore[assignment]  # holds mappings


_FIELD_NAMES = frozenset(f.name for f in fields(NormalizerRules))
_MAPPING_FIELDS = frozenset({"pre_map", "casefold_map", "char_map", "word_final_map"})


def _merge(*layers: Mapping[str, Any]) -> NormalizerRules:
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key == "note":
                continue
            if key not in _FIELD_NAMES:
                raise ValueError(f"unknown normaliser rule {key!r}")
            if key in _MAPPING_FIELDS:
                values[key] = {**values.get(key, {}), **value}
            else:
                values[key] = value
    return NormalizerRules(**values)


def _resolve(language: str | None) -> str | None:
    """Catalogue code of ``language``; None for None or "auto" (LanguageError for "detect": not a language)."""
    if language is None:
        return None
    if language.strip() and LanguageChoice.parse(language).is_auto:
        return None
    return normalize_code(language, CATALOGUE)  # LanguageError for '' and 'detect': not languages


@lru_cache(maxsize=None)
def _rules_for_code(code: str | None) -> NormalizerRules:
    if code is None:
        return _merge(UNIVERSAL_RULES)
    script = CATALOGUE[code].script
    spacing = {"char_level": script in UNSPACED_SCRIPTS}  # scored per character
    return _merge(UNIVERSAL_RULES, spacing, SCRIPT_DEFAULTS[script], LANGUAGE_RULES.get(code, {}))


def rules_for(language: str | None) -> NormalizerRules:
    """The rules of ``language``: any spelling :func:`~polyasr.language.catalogue.normalize_code` accepts
    against the catalogue ("fr", "sv", "pa_in", "German"). None or "auto" gives the universal
    (Latin-ish) defaults. Raises :class:`LanguageError` for an unknown language."""
    return _rules_for_code(_resolve(language))


def has_special_rules(language: str) -> bool:
    """Whether ``language`` has rules beyond its script's defaults. Raises LanguageError."""
    code = _resolve(language)
    return code is not None and code in LANGUAGE_RULES


def is_character_level(language: str | None) -> bool:
    """Whether ``language`` is scored per character (Chinese, Japanese, Thai)."""
    return rules_for(language).char_level


def normalizer_fingerprint() -> str:
    """A digest of every language's rules and the Unicode version (NFKC depends on it): recorded
    next to scores, it changes whenever the same hypotheses could score differently."""
    import hashlib
    import json

    def plain(rules: NormalizerRules) -> dict[str, Any]:
        return {f.name: dict(sorted(getattr(rules, f.name).items())) if f.name in _MAPPING_FIELDS
                else getattr(rules, f.name) for f in fields(rules)}

    table = {code or "": plain(_rules_for_code(code)) for code in (None, *sorted(CATALOGUE))}
    payload = json.dumps({"unicode": unicodedata.unidata_version, "rules": table}, sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()[:16]


class RuleRow(NamedTuple):
    """One row of :func:`rules_table`."""

    code: str
    name: str
    script: str
    special: bool  # has rules beyond its script's defaults
    notes: str  # the script's and the language's departures from the universal defaults


def rules_table() -> list[RuleRow]:
    """Every catalogued language with its name, script, and rules, for documentation."""
    rows = []
    for code, language in CATALOGUE.items():
        notes = [
            layer["note"]
            for layer in (SCRIPT_DEFAULTS[language.script], LANGUAGE_RULES.get(code, {}))
            if "note" in layer
        ]
        rows.append(
            RuleRow(code, language.name, language.script, code in LANGUAGE_RULES, "; ".join(notes))
        )
    return rows
