"""What a user asks for when asked for a language: auto, detect, multi, or a language.

The choice is parsed once, where the user's words come in (the CLI, the server, the Python API's
keyword), into a `LanguageChoice`; code below the entry points asks the choice (`is_auto`,
`is_detect`, `requested`) and never compares strings. What a requested language means for one model
(its code, adapter, token ids) is settled by `model.languages.language_target`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import LanguageError

__all__ = ["AUTO", "DETECT", "MULTI", "LanguageChoice", "LanguageMode"]


class LanguageMode(enum.Enum):
    AUTO = "auto"  # decode with every token of the vocabulary (the model card's `predict`)
    DETECT = "detect"  # identify the spoken language, then decode restricted to it
    MULTI = "multi"  # identify the language of each stretch of speech, each decoded restricted to its own
    LANGUAGE = "language"  # one language, named by the user (a code, an alias or an English name)


@dataclass(frozen=True)
class LanguageChoice:
    """A parsed language choice. `requested` is the user's spelling of a language (LANGUAGE only)."""

    mode: LanguageMode
    requested: str | None = None

    def __post_init__(self) -> None:
        if (self.mode is LanguageMode.LANGUAGE) != bool(self.requested):
            raise LanguageError(f"a language choice names a language exactly when its mode is 'language': {self!r}")

    @classmethod
    def parse(cls, value: "str | LanguageChoice | None") -> "LanguageChoice":
        """'auto' (or None, or ''), 'detect', 'multi', or a language ('de', 'sv-SE', 'German'); case and spaces ignored."""
        if isinstance(value, LanguageChoice):
            return value
        if value is not None and not isinstance(value, str):
            raise LanguageError(f"a language is 'auto', 'detect' or a code such as 'de', not {value!r}")
        text = (value or "").strip()
        lowered = text.lower()
        if not text or lowered == LanguageMode.AUTO.value:
            return AUTO
        if lowered == LanguageMode.DETECT.value:
            return DETECT
        if lowered == LanguageMode.MULTI.value:
            return MULTI
        return cls(LanguageMode.LANGUAGE, text)

    @classmethod
    def of(cls, code: str) -> "LanguageChoice":
        """The choice of one language (a code the caller already has)."""
        return cls(LanguageMode.LANGUAGE, code)

    @property
    def is_auto(self) -> bool:
        return self.mode is LanguageMode.AUTO

    @property
    def is_detect(self) -> bool:
        return self.mode is LanguageMode.DETECT

    @property
    def is_multi(self) -> bool:
        """Mixed-language speech: a language per stretch of speech."""
        return self.mode is LanguageMode.MULTI

    @property
    def identifies(self) -> bool:
        """The language is identified from the audio ("detect" or "multi"), not given or ignored."""
        return self.mode in (LanguageMode.DETECT, LanguageMode.MULTI)

    @property
    def is_language(self) -> bool:
        """One language was named (nothing is identified)."""
        return self.mode is LanguageMode.LANGUAGE

    def __str__(self) -> str:
        return self.requested if self.requested is not None else self.mode.value


AUTO = LanguageChoice(LanguageMode.AUTO)
DETECT = LanguageChoice(LanguageMode.DETECT)
MULTI = LanguageChoice(LanguageMode.MULTI)
