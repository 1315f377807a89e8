"""A language's letters from CLDR: its exemplar characters, as the ICU library ships them.

Models without a language table (omniASR-CTC, Parakeet v3, multilingual fine-tunes) can still be
restricted to one language's writing system: the tokens made only of that language's letters.
The letters are CLDR's standard exemplar set (Russian: а-я and ё; German: a-z, ä, ö, ü, ß), read
through ICU (PyICU's `icu` module, `pip install 'polyasr[languages]'`), never a hand-written table.
Upper-case forms are added (vocabularies of converted fairseq models are upper case).
"""

from __future__ import annotations

import importlib.util

from ..errors import LanguageError

INSTALL = "pip install 'polyasr[languages]'"


def has_exemplars() -> bool:
    """True when ICU (PyICU's `icu` module) is installed, so CLDR's exemplar characters can be read."""
    return importlib.util.find_spec("icu") is not None


def exemplar_characters(code: str) -> frozenset[str]:
    """CLDR's standard exemplar characters of language `code` ("ru", "de", "srp"), lower and upper case.

    LanguageError when ICU is not installed, or when CLDR has no data for the language (ICU would
    silently fall back to its root locale's a-z).
    """
    try:
        import icu
    except ImportError:
        raise LanguageError(
            f"restricting a model without a language table to {code!r} uses CLDR's exemplar characters, "
            f"which need ICU: {INSTALL}"
        ) from None
    languages = {locale.getLanguage() for locale in icu.Locale.getAvailableLocales().values()}
    language = icu.Locale(code).getLanguage()
    if language not in languages:
        raise LanguageError(f"CLDR has no exemplar characters for {code!r}, so decoding cannot be restricted to its letters")
    found = icu.LocaleData(language).getExemplarSet(0, icu.ULocaleDataExemplarSetType.ES_STANDARD)
    letters = {char for item in found for char in item}  # an item may be a sequence ("dž"); its letters count
    return frozenset(letters | {c.upper() for c in letters if len(c.upper()) == 1})


__all__ = ["exemplar_characters", "has_exemplars"]
