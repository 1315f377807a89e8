"""Matching a language the user names to a model's own codes when they are ISO 639-3 (MMS adapters).

MMS names its adapters with ISO 639-3 codes ("fra", "deu", "cmn-script_simplified"); polyasr's own
codes are Common Voice's ("fr", "de", "zh-CN"). :func:`match_code` accepts either: the model's code
itself, an ISO 639-1 or 639-3 code, a polyasr code, an alias or an English name of polyasr's
catalogue. Codes are compared by their language after langcodes' standardisation, with
macrolanguages folded (so "ar" finds "arb", "fa" finds "pes", "zh" finds "cmn"); the
``-script_xxx`` suffixes MMS uses are compared separately. langcodes holds the IANA/CLDR tables,
which a hand-written table would only copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import LanguageError
from .catalogue import CATALOGUE, language_name, normalize_code

__all__ = ["english_name", "language_of", "match_code"]

_SCRIPT_SEPARATOR = "-script_"  # MMS: "srp-script_latin"
# MMS script suffixes -> ISO 15924, to choose among one language's scripts when the user gives a
# region or script ("zh-TW", "sr-Latn"); a bare "zh" stays ambiguous.
_SCRIPTS = {
    "simplified": "Hans", "traditional": "Hant", "latin": "Latn", "cyrillic": "Cyrl", "arabic": "Arab",
    "devanagari": "Deva", "bengali": "Beng", "ethiopic": "Ethi", "georgian": "Geor", "greek": "Grek",
    "hebrew": "Hebr", "gurmukhi": "Guru", "tibetan": "Tibt", "thaana": "Thaa", "mongolian": "Mong",
}


def language_of(code: str) -> str | None:
    """The standardised language subtag of `code` ("fra" -> "fr", "arb" -> "ar"), or None if unparsable."""
    import langcodes

    base = code.split(_SCRIPT_SEPARATOR)[0]
    try:
        return langcodes.Language.get(langcodes.standardize_tag(base, macro=True)).language
    except (ValueError, LookupError):  # langcodes raises LanguageTagError (a ValueError) for bad tags
        return None


def _by_script(text: str, matches: list[str]) -> list[str]:
    """The matches written in the script the user's tag implies, when it has a region or script."""
    import langcodes

    try:
        tag = langcodes.Language.get(langcodes.standardize_tag(text))
    except (ValueError, LookupError):
        return matches
    if tag.territory is None and tag.script is None:
        return matches
    script = tag.maximize().script
    chosen = [c for c in matches if _SCRIPTS.get(c.partition(_SCRIPT_SEPARATOR)[2]) == script]
    return chosen or matches


def _listing(codes: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(codes[:limit])
    return f"{shown} and {len(codes) - limit} more" if len(codes) > limit else shown


def match_code(language: str, codes: Iterable[str]) -> str:
    """The one code of `codes` that names the language the user wrote; LanguageError otherwise.

    Several matches (an MMS language with two scripts) are an error listing them, not a guess.
    """
    choices = sorted(set(codes))
    text = language.strip() if isinstance(language, str) else ""
    folded = {c.casefold(): c for c in choices}
    if text.casefold() in folded:
        return folded[text.casefold()]
    try:  # a polyasr code, alias or English name ("sv", "zh", "German")
        text = normalize_code(text, CATALOGUE)
    except LanguageError:
        pass
    wanted = language_of(text) if text else None
    matches = [c for c in choices if wanted is not None and language_of(c) == wanted]
    if len(matches) > 1:
        matches = _by_script(text, matches)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise LanguageError(f"language {language!r} matches several of this model's codes: {', '.join(matches)}; choose one")
    raise LanguageError(
        f"unknown language {language!r} for this model; it has {len(choices)} languages: {_listing(choices)} "
        "(polyasr languages --model MODEL lists them all)"
    )


def english_name(code: str) -> str:
    """polyasr's English name for `code`, also for ISO 639-3 codes of its languages ("fra" -> "French"); else `code`."""
    name = language_name(code)
    if name == code:
        same = language_of(code)
        name = language_name(same) if same else code
    return name if name != (language_of(code) or code) else code
