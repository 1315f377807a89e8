"""The results table of the voidful/wav2vec2-xlsr-multilingual-56 model card, as package data.

``polyasr/data/model_card_results.tsv`` is a verbatim copy of the card's table (Common Voice
test sets): language code, number of utterances, hours, WER and CER in percent.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..errors import PolyasrError

__all__ = ["CardResult", "card_results"]

_FILE = "model_card_results.tsv"
_HEADER = ["language", "utterances", "hours", "wer", "cer"]


@dataclass(frozen=True)
class CardResult:
    """One row of the model card's results table."""

    language: str  # Common Voice code as on the card, e.g. "de", "sv-SE", "zh-CN"
    utterances: int
    hours: float
    wer: float  # percent, as on the card
    cer: float  # percent, as on the card


@lru_cache(maxsize=1)
def _load() -> tuple[CardResult, ...]:
    try:
        text = resources.files("polyasr").joinpath("data").joinpath(_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolyasrError(f"Cannot read package data file polyasr/data/{_FILE}: {exc}.") from exc
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].split("\t") != _HEADER:
        raise PolyasrError(
            f"Package data file polyasr/data/{_FILE} does not start with the header "
            "'language, utterances, hours, wer, cer'."
        )
    rows: list[CardResult] = []
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        try:
            if len(cells) != 5:
                raise ValueError("expected 5 tab-separated cells")
            rows.append(
                CardResult(cells[0], int(cells[1]), float(cells[2]), float(cells[3]), float(cells[4]))
            )
        except ValueError as exc:
            raise PolyasrError(
                f"Package data file polyasr/data/{_FILE} has a malformed row at line {number}: {exc}."
            ) from exc
    return tuple(rows)


def card_results() -> dict[str, CardResult]:
    """The model card's results, keyed by Common Voice language code, in the card's order."""
    return {row.language: row for row in _load()}
