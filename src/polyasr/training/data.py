"""Training and dev data: the Common Voice layout and the manifests that evaluation reads.

Reading is evaluation/data.py's: a row whose audio file is missing or whose text is empty becomes a
`BadRow` with its location, never an exception. This module only says which source to read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import OptionsError
from ..evaluation.data import EvalDataset, numbers_in_words, read_common_voice, read_manifest


@dataclass(frozen=True)
class DataSource:
    """Where utterances come from: a Common Voice release folder or a manifest (not both)."""

    dataset: str | None = None  # Common Voice root (<lang>/<split>.tsv, <lang>/clips/)
    manifest: str | None = None  # JSONL, CSV or TSV with audio, text, [language], [id]
    split: str = "train"  # Common Voice split file stem
    languages: tuple[str, ...] | None = None  # only these languages (None: every one found)
    language: str | None = None  # manifest rows without a language column are in this one
    max_per_language: int | None = None  # first N good rows of each language (Common Voice)
    numbers_in_words: bool = False  # numbers in the texts written out in their language ("25" -> "twenty-five")

    def __post_init__(self) -> None:
        if (self.dataset is None) == (self.manifest is None):
            raise OptionsError("give exactly one of a Common Voice folder (--dataset) and a manifest (--manifest)")

    def describe(self) -> str:
        return f"{self.dataset} ({self.split})" if self.dataset else str(self.manifest)


def read_source(source: DataSource) -> tuple[EvalDataset, int]:
    """The source's utterances and bad rows, plus how many rows were left out by `languages`."""
    dataset, left_out = _read(source)
    return (numbers_in_words(dataset) if source.numbers_in_words else dataset), left_out


def _read(source: DataSource) -> tuple[EvalDataset, int]:
    if source.dataset is not None:
        return read_common_voice(source.dataset, source.split, source.languages, source.max_per_language), 0
    assert source.manifest is not None
    dataset = read_manifest(source.manifest, source.language)
    if source.languages is None:
        return dataset, 0
    wanted = set(source.languages)
    kept = tuple(u for u in dataset.utterances if u.language in wanted)
    return replace(dataset, utterances=kept), len(dataset.utterances) - len(kept)
