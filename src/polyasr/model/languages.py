"""What a language choice means for a given model: which code, which adapter, which token ids.

Three kinds of models, one rule each:

* a language table (lang_ids, the 56-language model): "auto" decodes with every token; a language
  restricts decoding to its characters; "detect" identifies the language from the table;
* per-language adapters (MMS): a language (ISO 639-3, or any code language/codes.py maps) selects
  its adapter and vocabulary; "auto" is the default adapter; there is nothing to detect with;
* neither, with one declared language (a single-language fine-tune): "auto" decodes as the model
  does and reports the language its card declares; naming that language is accepted, any other is
  refused, and so is "detect";
* neither, otherwise (omniASR-CTC, Parakeet v3, multilingual fine-tunes): a language restricts
  decoding to the tokens written only in its CLDR exemplar characters (language/exemplars.py), with
  the card's rule (a blank frame stays blank); "detect" is refused: there are no sums to rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import LanguageError
from ..language.table import LanguageTable
from ..language.codes import language_of, match_code
from ..language.catalogue import CATALOGUE, language_name, normalize_code
from ..language.exemplars import exemplar_characters
from ..language.choice import LanguageChoice
from .ctc_model import CTCModel

__all__ = ["LanguageTarget", "choice_target", "exemplar_ids", "identification_table", "language_target", "resolve_code"]


@dataclass(frozen=True)
class LanguageTarget:
    """How to decode one language choice."""

    code: str | None  # the language results report; None: unrestricted, language unknown
    model: CTCModel  # the model to run: for adapter models, the one with this language's adapter
    allowed_ids: np.ndarray | None  # token ids decoding is restricted to; None: every token


def _described(model: CTCModel, code: str) -> str:
    name = language_name(code)
    return f"{name} ({code}, from its {model.declared_by})" if name != code else f"'{code}' (from its {model.declared_by})"


def resolve_code(model: CTCModel, language: str) -> str:
    """The model's code for a language ("de", "deu", "German"); LanguageError naming what is possible."""
    if model.adapters is not None:
        return model.adapters.resolve(language)
    if model.language_table is not None:
        return model.language_table.resolve(language)
    own = model.single_language
    if own is not None:
        try:
            return match_code(language, [own])  # "de", "deu", "German" all name a German model's language
        except LanguageError:
            raise LanguageError(
                f"model '{model.name}' transcribes only {_described(model, own)} and has no language table "
                f"to restrict decoding to {language!r}; use language='auto'"
            ) from None
    code = _iso_code(language)
    if code is None:
        reason = model.language_table_note or "it ships no lang_ids.json or lang_ids.pk"
        raise LanguageError(
            f"model '{model.name}' has no language table ({reason}), and {language!r} names no language "
            "whose letters CLDR lists; use language='auto'"
        )
    return code


def _iso_code(language: str) -> str | None:
    """The ISO 639 code of a language as the user wrote it ("ru", "rus", "Russian"), or None."""
    text = language.strip()
    try:
        text = normalize_code(text, CATALOGUE)
    except LanguageError:
        pass
    return language_of(text) if text else None


def exemplar_ids(model: CTCModel, code: str) -> np.ndarray:
    """Token ids written only in `code`'s CLDR exemplar characters, plus the word delimiter (or "▁")."""
    letters = exemplar_characters(code)
    vocabulary = model.vocabulary
    ids = [
        i for i in range(len(vocabulary)) if i not in vocabulary.hidden_ids and (
            i == vocabulary.word_delimiter_id
            or (vocabulary.text_of(i) == "" and vocabulary.starts_word(i))
            or (vocabulary.text_of(i) != "" and all(c in letters for c in vocabulary.text_of(i)))
        )
    ]
    if not any(vocabulary.text_of(i) for i in ids if i != vocabulary.word_delimiter_id):
        raise LanguageError(f"model '{model.name}' has no token written in the letters of {language_name(code)} ({code}, "
                            "CLDR exemplar characters), so it cannot restrict decoding to it")
    return np.asarray(ids, np.int64)


def choice_target(model: CTCModel, choice: LanguageChoice) -> LanguageTarget | None:
    """How to decode a language choice: "auto" and a language have one target; "detect" and "multi" none (per input)."""
    if choice.identifies:
        return None
    return language_target(model, None if choice.requested is None else resolve_code(model, choice.requested))


def language_target(model: CTCModel, code: str | None) -> LanguageTarget:
    """How to decode `code` (from `resolve_code`; None: every token, the model's default adapter)."""
    if model.adapters is not None:
        chosen = code or model.adapters.default
        if chosen is None:
            raise LanguageError(
                f"model '{model.name}' has per-language adapters and no default one; choose a language "
                f"(one of its {len(model.adapters.codes)}: {', '.join(model.adapters.codes[:12])}"
                f"{', ...' if len(model.adapters.codes) > 12 else ''})"
            )
        return LanguageTarget(chosen, model if chosen == model.adapter else model.with_adapter(chosen), None)
    if code is None:
        return LanguageTarget(model.single_language, model, None)
    if model.language_table is not None:
        return LanguageTarget(code, model, model.language_table.token_ids(code))
    if code == model.single_language:
        return LanguageTarget(code, model, None)  # the single language of the model: nothing to restrict
    return LanguageTarget(code, model, exemplar_ids(model, code))


def identification_table(model: CTCModel) -> LanguageTable:
    """The language table that language identification needs; LanguageError saying why there is none."""
    if model.language_table is not None:
        return model.language_table
    if model.adapters is not None:
        raise LanguageError(
            f"model '{model.name}' has per-language adapters and no language table, so it cannot identify the "
            f"spoken language; name the language instead (one of its {len(model.adapters.codes)} adapters)"
        )
    own = model.single_language
    if own is not None:
        raise LanguageError(
            f"model '{model.name}' has one language, {_described(model, own)}, and no language table, so it cannot "
            "identify the spoken language"
        )
    reason = model.language_table_note or "it ships no lang_ids.json or lang_ids.pk"
    raise LanguageError(
        f"model '{model.name}' has no language table ({reason}), so it cannot identify languages; name the "
        "language (decoding is then restricted to its CLDR letters) or use language='auto'"
    )
