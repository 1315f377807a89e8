"""Numbers as they are spoken: digits, ordinals, decimals, percentages, years and currencies in words.

A written token such as "1984", "25.", "3,5", "25%", "$12.50" or "1st" becomes the words a speaker
says for it, in the language of the transcript, through num2words (the `numbers` extra). A token
has several readings where speakers differ ("neunzehnhundertvierundachtzig", "eintausend...", "eins
neun acht vier"); alignment tries each and keeps the best-scoring one, while `verbalize_text`
(training targets, evaluation references) uses the first, the usual one.

num2words covers 28 of the 56 languages of the 56-language model; `NUMBER_FALLBACKS` reads five
more in a language their speakers commonly count in; the others have no reading (their numbers stay
as written). `number_language` says which applies.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import OptionsError

__all__ = ["NUMBER_FALLBACKS", "number_language", "number_readings", "verbalize_text"]

# Languages num2words lacks, read in a language their speakers also count in (bilingual regions).
NUMBER_FALLBACKS = {"cv": "ru", "ky": "ru", "sah": "ru", "tt": "ru", "fy-NL": "nl"}
# Languages that write a decimal point; the others write a decimal comma.
_DECIMAL_POINT = {"en", "ja", "th", "he", "ko", "zh", "hi", "ta", "ga", "mt", "ar", "fa", "vi"}
_PERCENT = {
    "en": "percent", "de": "Prozent", "fr": "pour cent", "es": "por ciento", "it": "per cento", "pt": "por cento",
    "nl": "procent", "pl": "procent", "ca": "per cent", "sv": "procent", "cs": "procent", "ru": "процентов",
    "uk": "відсотків", "fi": "prosenttia", "hu": "százalék", "id": "persen", "vi": "phần trăm", "eo": "procentoj",
    "lt": "procentų", "lv": "procenti", "sl": "odstotkov", "ro": "la sută",
}
_CURRENCIES = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₽": "RUB", "₺": "TRY", "zł": "PLN", "kr": "SEK"}
# English ordinal suffixes, French and Spanish / Italian / Portuguese ordinal marks.
_ORDINAL_SUFFIX = re.compile(r"^(st|nd|rd|th|er|re|e|ème|eme|º|ª|o|a|\.º|\.ª|ten|te)$", re.IGNORECASE)
_NUMBER = re.compile(r"^(?P<pre>[$€£¥₽₺]?)(?P<num>\d+(?:[.,\u00a0\u202f']\d+)*)(?P<post>.*)$")
_EDGE_PUNCT = "\"'“”„«»‚‘’()[]{}¿¡!?;:…"


def number_language(code: str | None) -> str | None:
    """The num2words language that reads numbers of `code` (itself, its base, or a fallback); None if none does."""
    if not code:
        return None
    converters = _converters()
    for candidate in (code.replace("-", "_"), code.split("-")[0], NUMBER_FALLBACKS.get(code)):
        if candidate and candidate in converters:
            return candidate
    return None


def number_readings(token: str, code: str | None) -> tuple[str, ...]:
    """The ways `token` (one written word, punctuation around it allowed) is spoken in language `code`,
    the usual one first; () when it holds no number or the language has no number words."""
    lang = number_language(code)
    if lang is None or not any(c.isdigit() for c in token):
        return ()
    core = token.strip(_EDGE_PUNCT).rstrip(",").strip(_EDGE_PUNCT)  # a sentence's punctuation around it
    match = _NUMBER.match(core)
    if match is None:
        return ()
    ordinal_dot = core.endswith(".") and match["post"] == "."
    parsed = _parse(match["num"], lang)
    if parsed is None:
        return ()
    value, written = parsed
    post = match["post"].strip()
    currency = _CURRENCIES.get(match["pre"]) or _CURRENCIES.get(post)
    if currency:
        return _unique([_currency(value, currency, lang), _cardinal(value, lang)])
    if post == "%":
        word = _PERCENT.get(lang)
        return _unique([f"{r} {word}" if word else r for r in _plain(value, lang, written)])
    if ordinal_dot or (post and _ORDINAL_SUFFIX.match(post) and value == value.to_integral_value()):
        ordinal = _call(lang, int(value), "ordinal")
        plain = _plain(value, lang, written)
        return _unique(([ordinal] if ordinal else []) + plain if not ordinal_dot else plain[:1] + [ordinal] + plain[1:])
    if post:
        return ()  # "10:30", "3x", "4G": not a number we read
    return _unique(_plain(value, lang, written))


def verbalize_text(text: str, code: str | None) -> str:
    """`text` with every number written out in its usual reading in language `code` (others kept as written).

    Raises OptionsError when num2words is not installed (the `numbers` extra).
    """
    _converters()
    out = []
    for chunk in text.split(" "):
        readings = number_readings(chunk, code)
        if readings:
            lead = chunk[: len(chunk) - len(chunk.lstrip(_EDGE_PUNCT))]
            trail = chunk[len(chunk.rstrip(_EDGE_PUNCT + ".,")):]
            out.append(lead + readings[0] + trail)
        else:
            out.append(chunk)
    return " ".join(out)


def _plain(value: Decimal, lang: str, written: str) -> list[str]:
    """A bare number's readings: year-style (4-digit years), cardinal, then digit by digit.

    `written` is its digits, with "." before the decimals where it has some."""
    readings: list[str] = []
    integral = "." not in written
    if integral and 1100 <= value <= 2099 and len(written) == 4 and lang != "ja":  # "ja" years are era names
        readings.append(_call(lang, int(value), "year"))
    readings.append(_call(lang, int(value) if integral else value, "cardinal"))
    digits = [c for c in written if c.isdigit()]
    if integral and len(digits) > 1:
        readings.append(" ".join(_call(lang, int(d), "cardinal") for d in digits))
    elif not integral:  # "drei Komma fünf" and "drei Komma fünf" digit by digit after the separator
        point = _decimal_word(lang)
        tail = " ".join(_call(lang, int(d), "cardinal") for d in written.split(".")[-1])
        if point:
            readings.append(f"{_call(lang, int(value), 'cardinal')} {point} {tail}")
    return [r for r in readings if r]


def _decimal_word(lang: str) -> str | None:
    """The word a language says for the decimal separator, as num2words spells it in 1.5."""
    spoken = _call(lang, Decimal("1.5"), "cardinal")
    one, five = _call(lang, 1, "cardinal"), _call(lang, 5, "cardinal")
    if spoken and one and five and spoken.startswith(one) and spoken.endswith(five):
        return spoken[len(one) : len(spoken) - len(five)].strip(" ,") or None
    return None


def _parse(written: str, lang: str) -> tuple[Decimal, str] | None:
    """The value of digits with grouping and decimal separators as `lang` writes them, and its digits
    with "." before the decimals."""
    seps = [c for c in written if not c.isdigit()]
    decimal_sep = "." if lang.split("_")[0] in _DECIMAL_POINT else ","
    groups = re.split(r"[.,\u00a0\u202f']", written)
    if not seps:
        text = written
    elif len(set(seps)) == 1 and all(len(g) == 3 for g in groups[1:]) and (seps[0] != decimal_sep or len(seps) > 1):
        text = "".join(groups)  # 1,000,000 (en) / 1.000 (de): grouping
    elif len(set(seps)) == 1 and len(seps) > 1:
        return None  # 1.2.3: a version or a date, not a number
    else:  # the last separator is the decimal one, any before it group digits
        text = "".join(groups[:-1]) + "." + groups[-1]
    try:
        return Decimal(text), text
    except InvalidOperation:
        return None


def _currency(value: Decimal, code: str, lang: str) -> str:
    """An amount of money: num2words' own form with cents, or the cardinal and the currency's name."""
    converter = _converters()[lang]
    if value != value.to_integral_value():
        return _call(lang, float(value), "currency", currency=code)
    forms: Any = getattr(converter, "CURRENCY_FORMS", {}).get(code)
    cardinal = _call(lang, int(value), "cardinal")
    try:
        name = converter.pluralize(int(value), forms[0]) if forms else ""
    except (NotImplementedError, TypeError, IndexError, KeyError):
        name = ""
    return f"{cardinal} {name}".strip()


def _cardinal(value: Decimal, lang: str) -> str:
    integral = value == value.to_integral_value()
    return _call(lang, int(value) if integral else value, "cardinal")


def _call(lang: str, value: Any, to: str, **extra: Any) -> str:
    """num2words' reading, without the commas it puts between thousands; "" where the language lacks it."""
    from num2words import num2words

    try:
        return " ".join(str(num2words(value, lang=lang, to=to, **extra)).replace(",", " ").split())
    except (NotImplementedError, TypeError, ValueError, KeyError, AttributeError, OverflowError, IndexError, InvalidOperation):
        return ""


def _unique(readings: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r for r in readings if r))


def _converters() -> dict[str, Any]:
    """num2words' languages; raises OptionsError when it is not installed."""
    try:
        from num2words import CONVERTER_CLASSES
    except ImportError as error:
        raise OptionsError("numbers in words need num2words: pip install 'polyasr[numbers]'") from error
    return CONVERTER_CLASSES

