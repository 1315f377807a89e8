"""Text normalisation per language, for scoring (WER/CER) and for training targets.

The rules are data, not code: normalizer_tables.py's :data:`SCRIPT_DEFAULTS` holds overrides per
writing system, :data:`LANGUAGE_RULES` overrides per language, and normalizer_rules.py's
:func:`rules_for` merges universal defaults <- script defaults <- language rules into one
:class:`NormalizerRules`. This module is the engine: :data:`STEPS` applies a rule set as named
steps, in this order:

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
from functools import lru_cache

from .normalizer_rules import NormalizerRules, rules_for

__all__ = ["STEPS", "normalize_text", "text_for_wer", "tokens_for_wer"]


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
