"""The normaliser's rule tables, pure data: universal defaults (:data:`UNIVERSAL_RULES`), overrides
per writing system (:data:`SCRIPT_DEFAULTS`) and per language (:data:`LANGUAGE_RULES`).

Each layer maps NormalizerRules field names to values (plus a "note" for the table in docs/languages.md);
normalizer_rules.rules_for merges universal <- script <- language: mapping fields key by key
(the later table wins), other fields replaced. See normalize.py for the steps that apply them
and the policies they encode.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["LANGUAGE_RULES", "SCRIPT_DEFAULTS", "UNIVERSAL_RULES"]


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

UNIVERSAL_RULES: dict[str, Any] = {
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
