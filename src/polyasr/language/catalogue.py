"""The languages of voidful/wav2vec2-xlsr-multilingual-56, and lookup of a user's language code.

The model's language table (``lang_ids.pk``) holds 60 codes spelled as Common Voice spells them
("sv-SE", "zh-CN", "rm-sursilv"); four of them (ab, kab, rw, vot) have no characters, which leaves
the 56 languages of the model's name. This module is pure data: no file is read here.

A user may type a code in any case, with "_" for "-", an alias from :data:`ALIASES`, or an English
name ("German"). :func:`normalize_code` turns any of these into the spelling of a given set of
codes, usually the codes of a loaded language table.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..errors import LanguageError

__all__ = [
    "ALIASES", "CATALOGUE", "UNSPACED_SCRIPTS", "Language", "is_unspaced", "language_name", "normalize_code",
]


@dataclass(frozen=True)
class Language:
    """One language of the model's table."""

    code: str  # as the model's table spells it, e.g. "sv-SE", "zh-CN", "rm-sursilv"
    name: str  # English name, e.g. "Swedish", "Chinese (China)", "Romansh (Sursilvan)"
    script: str  # writing system of the language's text, e.g. "Latin", "Cyrillic", "Han"


_LANGUAGES = (
    Language("ab", "Abkhaz", "Cyrillic"),  # empty in the model's table
    Language("ar", "Arabic", "Arabic"),
    Language("as", "Assamese", "Bengali"),  # the Bengali-Assamese script
    Language("br", "Breton", "Latin"),
    Language("ca", "Catalan", "Latin"),
    Language("cnh", "Hakha Chin", "Latin"),
    Language("cs", "Czech", "Latin"),
    Language("cv", "Chuvash", "Cyrillic"),
    Language("cy", "Welsh", "Latin"),
    Language("de", "German", "Latin"),
    Language("dv", "Dhivehi", "Thaana"),
    Language("el", "Greek", "Greek"),
    Language("en", "English", "Latin"),
    Language("eo", "Esperanto", "Latin"),
    Language("es", "Spanish", "Latin"),
    Language("et", "Estonian", "Latin"),
    Language("eu", "Basque", "Latin"),
    Language("fa", "Persian", "Arabic"),
    Language("fi", "Finnish", "Latin"),
    Language("fr", "French", "Latin"),
    Language("fy-NL", "Western Frisian", "Latin"),
    Language("ga-IE", "Irish", "Latin"),
    Language("hi", "Hindi", "Devanagari"),
    Language("hsb", "Upper Sorbian", "Latin"),
    Language("hu", "Hungarian", "Latin"),
    Language("ia", "Interlingua", "Latin"),
    Language("id", "Indonesian", "Latin"),
    Language("it", "Italian", "Latin"),
    Language("ja", "Japanese", "Japanese"),  # kana and kanji
    Language("ka", "Georgian", "Georgian"),
    Language("kab", "Kabyle", "Latin"),  # empty in the model's table
    Language("ky", "Kyrgyz", "Cyrillic"),
    Language("lg", "Luganda", "Latin"),
    Language("lt", "Lithuanian", "Latin"),
    Language("lv", "Latvian", "Latin"),
    Language("mn", "Mongolian", "Cyrillic"),
    Language("mt", "Maltese", "Latin"),
    Language("nl", "Dutch", "Latin"),
    Language("or", "Odia", "Odia"),
    Language("pa-IN", "Punjabi", "Gurmukhi"),
    Language("pl", "Polish", "Latin"),
    Language("pt", "Portuguese", "Latin"),
    Language("rm-sursilv", "Romansh (Sursilvan)", "Latin"),
    Language("rm-vallader", "Romansh (Vallader)", "Latin"),
    Language("ro", "Romanian", "Latin"),
    Language("ru", "Russian", "Cyrillic"),
    Language("rw", "Kinyarwanda", "Latin"),  # empty in the model's table
    Language("sah", "Sakha", "Cyrillic"),
    Language("sl", "Slovenian", "Latin"),
    Language("sv-SE", "Swedish", "Latin"),
    Language("ta", "Tamil", "Tamil"),
    Language("th", "Thai", "Thai"),
    Language("tr", "Turkish", "Latin"),
    Language("tt", "Tatar", "Cyrillic"),
    Language("uk", "Ukrainian", "Cyrillic"),
    Language("vi", "Vietnamese", "Latin"),
    Language("vot", "Votic", "Latin"),  # empty in the model's table
    Language("zh-CN", "Chinese (China)", "Han"),
    Language("zh-HK", "Chinese (Hong Kong)", "Han"),
    Language("zh-TW", "Chinese (Taiwan)", "Han"),
)

#: Every code of the model's language table, by code.
CATALOGUE: Mapping[str, Language] = MappingProxyType({lang.code: lang for lang in _LANGUAGES})

#: Scripts written without spaces between words. The one table behind every place that cares: in
#: these scripts each character is a word of its own for timestamps and alignment (output/timing.py,
#: align/text.py), subtitle lines may break between any two characters (output/lines.py), and
#: evaluation scores languages per character (normalizer_rules.py, evaluation/scoring.py).
UNSPACED_SCRIPTS: frozenset[str] = frozenset({"Han", "Japanese", "Thai", "Lao", "Khmer", "Myanmar"})

# Their Unicode blocks, sorted: (first, last, script).
_UNSPACED_BLOCKS: tuple[tuple[int, int, str], ...] = (
    (0x0E00, 0x0E7F, "Thai"),
    (0x0E80, 0x0EFF, "Lao"),
    (0x1000, 0x109F, "Myanmar"),
    (0x1780, 0x17FF, "Khmer"),
    (0x2E80, 0x2FDF, "Han"),  # CJK radicals, Kangxi radicals
    (0x3000, 0x303F, "Han"),  # CJK symbols and punctuation (。、「」)
    (0x3040, 0x30FF, "Japanese"),  # hiragana, katakana
    (0x3100, 0x312F, "Han"),  # bopomofo
    (0x31F0, 0x31FF, "Japanese"),  # katakana phonetic extensions
    (0x3400, 0x4DBF, "Han"),  # CJK extension A
    (0x4E00, 0x9FFF, "Han"),  # CJK unified ideographs
    (0xF900, 0xFAFF, "Han"),  # CJK compatibility ideographs
    (0xFF00, 0xFFEF, "Han"),  # half- and full-width forms (full-width Latin and punctuation, half-width kana)
    (0x20000, 0x3FFFF, "Han"),  # CJK extensions B and later, compatibility supplement
)
_UNSPACED_FIRSTS = tuple(first for first, _, _ in _UNSPACED_BLOCKS)


def is_unspaced(char: str) -> bool:
    """True for a character of a script written without spaces between words (one character)."""
    if len(char) != 1:
        return False
    code = ord(char)
    index = bisect_right(_UNSPACED_FIRSTS, code) - 1
    return index >= 0 and code <= _UNSPACED_BLOCKS[index][1]


#: Lower-case alias -> catalogue code. Only unambiguous ones: "rm" (Sursilvan or Vallader?) is
#: deliberately absent, and so are ISO 639-3 codes. English names come from the catalogue itself.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        # bare ISO 639-1 codes of the region-tagged entries
        "sv": "sv-SE",
        "pa": "pa-IN",
        "fy": "fy-NL",
        "ga": "ga-IE",
        "zh": "zh-CN",
        "zh-hans": "zh-CN",  # simplified characters
        "zh-hant": "zh-TW",  # traditional characters; Taiwan rather than Hong Kong
        # misspellings in the model card's YAML
        "ly": "lv",
        "sy-se": "sv-SE",
        # other English names than the catalogue's
        "abkhazian": "ab",
        "chinese": "zh-CN",
        "divehi": "dv",
        "maldivian": "dv",
        "farsi": "fa",
        "frisian": "fy-NL",
        "ganda": "lg",
        "kirghiz": "ky",
        "oriya": "or",
        "panjabi": "pa-IN",
        "slovene": "sl",
        "yakut": "sah",
    }
)


def _fold(text: str) -> str:
    """The form in which codes, aliases and names are compared: lower case, "-" for "_"."""
    return text.strip().casefold().replace("_", "-")


def normalize_code(code: str, available: Iterable[str]) -> str:
    """Return the spelling in ``available`` of the language the user typed as ``code``.

    Tried in order, ignoring case and reading "_" as "-": a code of ``available``, an alias
    from :data:`ALIASES`, the English name of a catalogued language; then, for a tag with a
    region or other subtags ("fr-FR", "en_US", "pt-BR"), the same for its language alone ("fr").
    An alias or name only counts when the code it stands for is in ``available``.

    Raises :class:`LanguageError` naming the valid codes when nothing matches.
    """
    choices = sorted(set(available))
    if isinstance(code, str) and code in choices:
        return code
    folded = _fold(code) if isinstance(code, str) else ""
    by_fold: dict[str, str] = {}
    for choice in choices:
        by_fold.setdefault(_fold(choice), choice)
    primary = folded.split("-", 1)[0]
    for candidate in dict.fromkeys([folded, primary] if primary else [folded]):
        found = _lookup(candidate, by_fold)
        if found is not None:
            return found
    raise LanguageError(f"unknown language {code!r}; choose one of: {', '.join(choices)}")


def _lookup(folded: str, by_fold: Mapping[str, str]) -> str | None:
    """The available code that a folded code, alias or English name stands for, if any."""
    if not folded:
        return None
    if folded in by_fold:
        return by_fold[folded]
    target = ALIASES.get(folded)
    if target is None:
        target = next((lang.code for lang in _LANGUAGES if lang.name.casefold() == folded), None)
    if target is not None and _fold(target) in by_fold:
        return by_fold[_fold(target)]
    return None


def language_name(code: str) -> str:
    """The English name of ``code`` (any spelling :func:`normalize_code` accepts), else ``code``."""
    try:
        return CATALOGUE[normalize_code(code, CATALOGUE)].name
    except LanguageError:
        return code
