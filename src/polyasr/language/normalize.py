"""Text normalisation per language, for scoring (WER/CER) and for training targets.

The rules are data, not code: :data:`SCRIPT_DEFAULTS` holds overrides per writing system,
:data:`LANGUAGE_RULES` holds overrides per language, and :func:`rules_for` merges
universal defaults <- script defaults <- language rules into one :class:`NormalizerRules`.
One small engine (:data:`STEPS`) applies a rule set as named steps, in this order:

1. ``ignorable``   remove format characters (ZWJ, ZWNJ, soft hyphen, BOM, bidi marks: Unicode
                   category Cf), enclosing marks (Me), variation selectors and control characters.
2. ``pre_map``     per-character replacements that must happen before step 3 (``´`` -> ``'``).
3. ``unicode``     Unicode normalisation (NFKC by default: full-width -> ASCII, ligatures split,
                   Arabic presentation forms -> letters, decomposed -> composed).
4. ``casefold_map`` per-character replacements before lowercasing (Turkish ``I`` -> ``ı``).
5. ``lowercase``   ``str.lower()`` (not ``casefold()``, which turns German ``ß`` into ``ss``).
6. ``char_map``    per-character replacements and deletions (apostrophe unification, Arabic
                   harakat and tatweel, letter variants).
7. ``settle``      steps 3-6 again until nothing changes (a mapped letter may compose with the
                   mark after it: "İ" + grave -> "i" + grave -> "ì").
8. ``digits``      keep, convert to ASCII, or remove decimal digits (never number-to-words).
9. ``punctuation`` every punctuation (P*) and symbol (S*) character becomes a space, except the
                   characters of ``keep_chars``.
10. ``words``      split on whitespace; strip ``keep_chars`` from word edges (``'hello'`` ->
                   ``hello``, ``-`` at an edge goes too); apply ``word_final_map``.
11. ``join``       join words with one space, or, for character-level languages (Chinese,
                   Japanese, Thai), with nothing, then recompose (step 3 again).

Policies (the same for every language unless its rules say otherwise):

* Punctuation becomes a space rather than nothing, so "end.Next" gives two words.
* Hyphens: a hyphen is punctuation, so "well-known" -> "well known". Irish (``t-uisce``,
  ``n-athair``) and Maltese (``il-kelb``) keep a hyphen inside a word.
* Apostrophes: ``’ ‘ ʼ ʻ ‛ ` ´`` all become ``'``; an apostrophe inside a word is kept
  (``l'home``, ``don't``, ``c'hoari``, ``İstanbul'da``), one at a word edge is removed, except
  at the end of a word in Maltese (``ta'``) and Greek (elision: ``σ'``).
* Format characters, ZWNJ included, are deleted, not turned into spaces: Persian
  ``می‌خواهم`` (with ZWNJ) -> ``میخواهم``, the same as when the writer left the ZWNJ out.
  Indic ZWJ/ZWNJ only select a glyph form and are deleted too.
* Digits are kept as written (no number-to-words); Arabic-script languages convert all
  decimal digits (ASCII, Arabic-Indic ``٠-٩``, Persian ``۰-۹``) to ASCII, since all three
  occur in the same texts.
* Unicode form: NFKC everywhere but Thai. For the Indic scripts NFKC equals NFC (no character of
  the Devanagari, Bengali, Gurmukhi, Odia and Tamil blocks has a compatibility decomposition),
  and combining marks (matras, nukta, virama) are letters here and kept; nukta letters such as
  ``क़`` (U+0958) come out decomposed (``क`` + nukta), as in every normalisation form.
  Thai uses NFC, because NFKC splits SARA AM (``ำ`` -> ``ํา``).
* Accents are kept everywhere (Greek tonos, Vietnamese tones, Russian ``ё`` is not merged
  into ``е``); traditional and simplified Chinese are not converted into each other.
* Lowercasing is on for every script: it leaves caseless scripts alone and lowercases the Latin
  words inside Arabic, Chinese or Japanese text. Greek final sigma comes from ``str.lower()``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

from .catalogue import CATALOGUE, UNSPACED_SCRIPTS, normalize_code

__all__ = [
    "LANGUAGE_RULES",
    "SCRIPT_DEFAULTS",
    "STEPS",
    "NormalizerRules",
    "RuleRow",
    "has_special_rules",
    "is_character_level",
    "normalize_text",
    "rules_for",
    "rules_table",
    "text_for_wer",
    "tokens_for_wer",
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


# --------------------------------------------------------------------------------------------
# The data: universal defaults, then script defaults, then language rules.
# Mapping fields are merged key by key (the later table wins); other fields are replaced.
# --------------------------------------------------------------------------------------------


def _delete(*ranges: tuple[int, int]) -> dict[str, str]:
    """Map every code point of the inclusive ranges to "" (deletion)."""
    return {chr(cp): "" for start, end in ranges for cp in range(start, end + 1)}


def _read_only(table: dict[str, dict[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType({key: MappingProxyType(layer) for key, layer in table.items()})


_APOSTROPHES = {
    "\u2019": "'",  # ’ right single quotation mark, the usual typographic apostrophe
    "\u2018": "'",  # ‘ left single quotation mark
    "\u201b": "'",  # ‛ single high-reversed-9 quotation mark
    "\u02bc": "'",  # ʼ modifier letter apostrophe (Ukrainian)
    "\u02bb": "'",  # ʻ modifier letter turned comma
    "\u2032": "'",  # ′ prime
    "`": "'",  # grave accent typed as an apostrophe
}

_UNIVERSAL: dict[str, Any] = {
    "pre_map": {"\u00b4": "'"},  # ´ acute accent typed as an apostrophe
    "casefold_map": {"\u0130": "i"},  # İ -> i, not "i" + U+0307
    "char_map": {
        **_APOSTROPHES,
        "\u2010": "-",  # ‐ hyphen (NFKC also maps the non-breaking hyphen U+2011 to it)
    },
}

_ARABIC_MARKS = _delete(
    (0x0610, 0x061A),  # honorifics and small high marks
    (0x064B, 0x065F),  # harakat: fathatan ... sukun, madda/hamza above and below, ...
    (0x0670, 0x0670),  # superscript (dagger) alef
    (0x06D6, 0x06DC),  # Quranic annotation marks
    (0x06DF, 0x06E4),
    (0x06E7, 0x06E8),
    (0x06EA, 0x06ED),
    (0x0640, 0x0640),  # tatweel (kashida)
)

#: Script -> overrides of the universal defaults. Every script of the catalogue is listed.
SCRIPT_DEFAULTS: Mapping[str, Mapping[str, Any]] = _read_only(
    {
        "Latin": {},
        "Cyrillic": {},
        "Greek": {},
        "Georgian": {},
        "Arabic": {
            "char_map": _ARABIC_MARKS,
            "digits": "ascii",
            "note": "harakat, Quranic marks and tatweel removed; digits to ASCII",
        },
        "Thaana": {},  # fili (vowel marks) are combining letters and kept
        "Devanagari": {},
        "Bengali": {},
        "Gurmukhi": {},
        "Odia": {},
        "Tamil": {},
        "Thai": {
            "unicode_form": "NFC",
            "note": "NFC (NFKC would split SARA AM); scored per character",
        },
        "Han": {
            "note": "scored per character; no simplified/traditional mapping",
        },
        "Japanese": {
            "note": "scored per character; NFKC widens half-width kana",
        },
    }
)

#: Language code (as in CATALOGUE) -> overrides of its script's defaults.
LANGUAGE_RULES: Mapping[str, Mapping[str, Any]] = _read_only(
    {
        "ar": {
            "char_map": {
                "\u0623": "\u0627",  # أ -> ا
                "\u0625": "\u0627",  # إ -> ا
                "\u0622": "\u0627",  # آ -> ا
                "\u0671": "\u0627",  # ٱ alef wasla -> ا
                "\u0649": "\u064a",  # ى alef maksura -> ي (final ي is often written ى)
                "\u06cc": "\u064a",  # ی Persian yeh -> ي
                "\u06a9": "\u0643",  # ک keheh -> ك
            },
            "note": "alef forms أ إ آ ٱ -> ا; ى ی -> ي; ک -> ك; ة kept",
        },
        "fa": {
            "char_map": {
                "\u064a": "\u06cc",  # ي Arabic yeh -> ی
                "\u0649": "\u06cc",  # ى alef maksura -> ی
                "\u0643": "\u06a9",  # ك Arabic kaf -> ک
            },
            "note": "ي ى -> ی; ك -> ک; ZWNJ removed (as everywhere); آ kept",
        },
        "tr": {
            "casefold_map": {"I": "\u0131", "\u0130": "i"},  # I -> ı, İ -> i
            "note": "dotted and dotless i: I -> ı, İ -> i",
        },
        "ro": {
            "char_map": {"\u015f": "\u0219", "\u0163": "\u021b"},  # ş ţ (cedilla) -> ș ț
            "note": "ş ţ (cedilla) -> ș ț (comma below)",
        },
        "hu": {
            "char_map": {"\u00f5": "\u0151", "\u00fb": "\u0171"},  # õ û (Latin-1 stand-ins) -> ő ű
            "note": "õ û -> ő ű",
        },
        "ca": {
            "keep_chars": "'\u00b7",
            "char_map": {"\u2219": "\u00b7", "\u22c5": "\u00b7"},  # ∙ ⋅ -> ·
            "note": "middle dot kept inside words (col·lecció; ŀ -> l·)",
        },
        "ga-IE": {"keep_chars": "'-", "note": "hyphen kept inside words (an t-uisce, i n-áit)"},
        "mt": {
            "keep_chars": "'-",
            "keep_word_final": "'",
            "note": "hyphen kept inside words (il-kelb); word-final apostrophe kept (ta')",
        },
        "el": {
            "keep_word_final": "'",
            "word_final_map": {"\u03c3": "\u03c2"},  # word-final σ -> ς
            "note": "word-final σ -> ς; elision apostrophe kept (σ'); tonos kept",
        },
        "cv": {
            "char_map": {
                "\u0103": "\u04d1",  # Latin ă -> Cyrillic ӑ
                "\u0115": "\u04d7",  # Latin ĕ -> Cyrillic ӗ
                "\u00e7": "\u04ab",  # Latin ç -> Cyrillic ҫ
                "\u00ff": "\u04f3",  # Latin ÿ -> Cyrillic ӳ
            },
            "note": "Latin look-alikes ă ĕ ç ÿ -> Cyrillic ӑ ӗ ҫ ӳ",
        },
        "tt": {
            "char_map": {"\u0259": "\u04d9"},  # Latin ə -> Cyrillic ә
            "note": "Cyrillic script: no Turkish i rules; Latin ə -> Cyrillic ә",
        },
        "mn": {
            "char_map": {"\u0473": "\u04e9", "\u0475": "\u04af"},  # legacy-font ѳ ѵ -> ө ү
            "note": "legacy-font ѳ ѵ -> ө ү",
        },
    }
)

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
    """Catalogue code of ``language``; None for None or "auto"."""
    if language is None or (isinstance(language, str) and language.strip().lower() == "auto"):
        return None
    return normalize_code(language, CATALOGUE)


@lru_cache(maxsize=None)
def _rules_for_code(code: str | None) -> NormalizerRules:
    if code is None:
        return _merge(_UNIVERSAL)
    script = CATALOGUE[code].script
    spacing = {"char_level": script in UNSPACED_SCRIPTS}  # scored per character
    return _merge(_UNIVERSAL, spacing, SCRIPT_DEFAULTS[script], LANGUAGE_RULES.get(code, {}))


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


# --------------------------------------------------------------------------------------------
# The engine.
# --------------------------------------------------------------------------------------------

# Default-ignorable marks that are not Cf: variation selectors, the combining grapheme joiner,
# Mongolian free variation selectors.
_VARIATION_SELECTORS = (
    *range(0xFE00, 0xFE10),
    *range(0xE0100, 0xE01F0),
    0x034F,
    *range(0x180B, 0x1810),
)


@lru_cache(maxsize=1)
def _code_points_by_class() -> dict[str, tuple[int, ...]]:
    """Code points of the classes the engine needs, found once in the Unicode database."""
    classes: dict[str, list[int]] = {"ignorable": [], "punctuation": [], "digit": []}
    for cp in (*range(0x40000), *range(0xE0000, 0xE1000)):  # planes 4-13 are unassigned
        category = unicodedata.category(chr(cp))
        if category in ("Cf", "Me") or (category == "Cc" and not chr(cp).isspace()):
            classes["ignorable"].append(cp)
        elif category[0] in "PS":
            classes["punctuation"].append(cp)
        elif category == "Nd":
            classes["digit"].append(cp)
    classes["ignorable"].extend(_VARIATION_SELECTORS)
    return {name: tuple(cps) for name, cps in classes.items()}


@lru_cache(maxsize=None)
def _ignorable_table(keep: str) -> dict[int, None]:
    return {cp: None for cp in _code_points_by_class()["ignorable"] if chr(cp) not in keep}


@lru_cache(maxsize=None)
def _punctuation_table(keep: str) -> dict[int, str]:
    return {cp: " " for cp in _code_points_by_class()["punctuation"] if chr(cp) not in keep}


@lru_cache(maxsize=None)
def _digit_table(policy: str) -> dict[int, str]:
    digits = _code_points_by_class()["digit"]
    if policy == "ascii":
        return {cp: str(unicodedata.decimal(chr(cp))) for cp in digits if cp > 0x7F}
    if policy == "remove":
        return {cp: " " for cp in digits}
    return {}


def _translate(text: str, mapping: Mapping[str, str]) -> str:
    return text.translate({ord(key): value for key, value in mapping.items()}) if mapping else text


def _step_ignorable(text: str, rules: NormalizerRules) -> str:
    return text.translate(_ignorable_table(rules.keep_chars)) if rules.remove_ignorable else text


def _step_pre_map(text: str, rules: NormalizerRules) -> str:
    return _translate(text, rules.pre_map)


def _step_unicode(text: str, rules: NormalizerRules) -> str:
    return unicodedata.normalize(rules.unicode_form, text)


def _step_casefold_map(text: str, rules: NormalizerRules) -> str:
    return _translate(text, rules.casefold_map)


def _step_lowercase(text: str, rules: NormalizerRules) -> str:
    return text.lower() if rules.lowercase else text


def _step_char_map(text: str, rules: NormalizerRules) -> str:
    return _translate(text, rules.char_map)


def _step_settle(text: str, rules: NormalizerRules) -> str:
    # A mapped base letter may now compose with the mark after it ("İ" + grave -> "i" + grave
    # -> "ì"), and the composed letter may need mapping in turn: repeat steps 3-6 until stable.
    for _ in range(4):
        again = text
        for step in (_step_unicode, _step_casefold_map, _step_lowercase, _step_char_map):
            again = step(again, rules)
        if again == text:
            break
        text = again
    return text


def _step_digits(text: str, rules: NormalizerRules) -> str:
    return text.translate(_digit_table(rules.digits)) if rules.digits != "keep" else text


def _step_punctuation(text: str, rules: NormalizerRules) -> str:
    if not rules.remove_punctuation:
        return text
    return text.translate(_punctuation_table(rules.keep_chars))


def _clean_word(word: str, rules: NormalizerRules) -> str:
    keep = rules.keep_chars
    start, end = 0, len(word)
    while start < end and word[start] in keep:
        start += 1
    while end > start and word[end - 1] in keep and word[end - 1] not in rules.keep_word_final:
        end -= 1
    word = word[start:end]
    if len(word) > 1 and word[-1] in rules.word_final_map:
        word = word[:-1] + rules.word_final_map[word[-1]]
    return word


def _step_words(text: str, rules: NormalizerRules) -> str:
    words = (_clean_word(word, rules) for word in text.split())
    return " ".join(word for word in words if word)


def _step_join(text: str, rules: NormalizerRules) -> str:
    if not rules.char_level:
        return text
    # Removing spaces may bring a mark next to its base again ("か ゙" from "か゛"): recompose.
    return unicodedata.normalize(rules.unicode_form, "".join(text.split()))


Step = Callable[[str, NormalizerRules], str]

#: The engine: (name, step) pairs applied in order by :func:`normalize_text`.
STEPS: tuple[tuple[str, Step], ...] = (
    ("ignorable", _step_ignorable),
    ("pre_map", _step_pre_map),
    ("unicode", _step_unicode),
    ("casefold_map", _step_casefold_map),
    ("lowercase", _step_lowercase),
    ("char_map", _step_char_map),
    ("settle", _step_settle),
    ("digits", _step_digits),
    ("punctuation", _step_punctuation),
    ("words", _step_words),
    ("join", _step_join),
)


def normalize_text(
    text: str, language: str | None = None, *, rules: NormalizerRules | None = None
) -> str:
    """Normalise ``text`` with the rules of ``language`` (or the explicit ``rules``).

    Idempotent: normalising twice gives the same text as once. Raises LanguageError for an
    unknown language.
    """
    if rules is None:
        rules = rules_for(language)
    for _name, step in STEPS:
        text = step(text, rules)
    return text


def _clusters(text: str) -> list[str]:
    """Characters of ``text`` with their combining marks attached (Thai vowels, kana voicing)."""
    out: list[str] = []
    for char in text:
        if out and unicodedata.category(char)[0] == "M":
            out[-1] += char
        elif not char.isspace():
            out.append(char)
    return out


def tokens_for_wer(text: str, language: str | None = None) -> list[str]:
    """The scoring units of ``text`` after normalisation: words, or for a character-level
    language (Chinese, Japanese, Thai) characters, each with its combining marks."""
    rules = rules_for(language)
    normalized = normalize_text(text, rules=rules)
    return _clusters(normalized) if rules.char_level else normalized.split()


def text_for_wer(text: str, language: str | None = None) -> str:
    """:func:`tokens_for_wer` joined by spaces: a string jiwer's WER scores the right way."""
    return " ".join(tokens_for_wer(text, language))
