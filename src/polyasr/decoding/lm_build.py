"""Building a word n-gram language model (ARPA) from plain text, with the language's normaliser.

Counting and smoothing are kaldingram's (the Next-gen Kaldi team's port of Kaldi's make_kn_lm.py:
back-off Kneser-Ney that reproduces SRILM's `ngram-count -ukndiscount -kn-modify-counts-at-end`).
One thing is added: an `<unk>` word. kaldingram assumes a closed vocabulary (unigrams are not
discounted), but a decoder scores words the corpus never had; without `<unk>`, KenLM gives them
log10 p = -100, which no acoustic evidence can outweigh. Here the unigrams are discounted like the
other orders (D = n1 / (n1 + 2 n2) of the unigram continuation counts) and the freed mass is
`<unk>`'s, so every history's distribution still sums to one.

Each line of the corpus is normalised as evaluation normalises references
(`polyasr.normalize_text`: lower case, punctuation removed, the language's own rules), so the
model's words are spelled the way the acoustic model's characters spell them.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..errors import OptionsError, PolyasrError
from ..language.normalize import normalize_text
from ..language.normalizer_rules import is_character_level

UNK = "<unk>"


class LanguageModelError(PolyasrError):
    """A language model cannot be built, read or used (missing file, empty corpus, bad option)."""


@dataclass(frozen=True)
class LmBuildOptions:
    """How an n-gram model is estimated."""

    order: int = 4  # longest n-gram (kaldingram supports 1 to 5)
    language: str | None = None  # normaliser rules of this language (None: the universal defaults)
    min_count: int = 0  # drop n-grams (order 2 and up) seen fewer times than this; 0 keeps all

    def __post_init__(self) -> None:
        if not 1 <= self.order <= 5:
            raise OptionsError(f"order (the longest n-gram) must be 1 to 5, not {self.order}")
        if self.min_count < 0:
            raise OptionsError(f"min_count must be 0 or more, not {self.min_count}")
        if self.language is not None and is_character_level(self.language):
            raise OptionsError(
                f"language '{self.language}' is written without spaces between words; word n-gram models "
                "need a word delimiter (character-level models are not supported)"
            )


@dataclass(frozen=True)
class LmBuildReport:
    """What went into a built model."""

    path: Path  # the ARPA file written
    sentences: int  # non-empty lines after normalisation
    words: int  # running words counted
    vocabulary: int  # distinct words (without <s>, </s>, <unk>)
    ngrams: tuple[int, ...]  # n-grams written per order, <unk> included in the unigrams


def normalized_lines(lines: Iterable[str], language: str | None) -> Iterable[str]:
    """Corpus lines through the language's normaliser; empty results are skipped."""
    for line in lines:
        text = normalize_text(line, language)
        if text:
            yield text


def build_arpa(
    corpus: str | os.PathLike[str] | Iterable[str],
    output: str | os.PathLike[str],
    options: LmBuildOptions = LmBuildOptions(),
    on_progress: Callable[[int], None] | None = None,
) -> LmBuildReport:
    """Estimate a Kneser-Ney n-gram model from `corpus` (a UTF-8 text file or lines) into `output`.

    Memory grows with the number of distinct n-grams (kaldingram keeps all counts in Python
    dictionaries: roughly 1 GB per 5 million n-grams); for corpora of hundreds of millions of
    words, KenLM's `lmplz` is the tool. `on_progress(lines)` is called every 10,000 lines.
    """
    try:
        from kaldingram.train import NgramCounts
    except ImportError as error:
        raise LanguageModelError("building a language model needs kaldingram: pip install 'polyasr[lm]'") from error

    counts = NgramCounts(options.order)
    sentences = words = 0
    vocabulary: Counter[str] = Counter()
    for line in normalized_lines(_read_lines(corpus), options.language):
        counts.add_raw_counts_from_line(line)
        tokens = line.split()
        vocabulary.update(tokens)
        sentences += 1
        words += len(tokens)
        if on_progress is not None and sentences % 10_000 == 0:
            on_progress(sentences)
    if sentences == 0:
        raise LanguageModelError(f"{_name(corpus)}: the corpus has no text left after normalisation")
    with contextlib.redirect_stderr(io.StringIO()):  # kaldingram draws progress bars of its own
        if options.min_count > 1 and options.order > 1:
            counts.apply_count_cutoffs([0] + [options.min_count] * (options.order - 1))
        counts.cal_discounting_constants()
        counts.d[0] = _unigram_discount(counts)
        counts.cal_f()
        _add_unknown_word(counts)
        counts.cal_bow()
        path = Path(output)
        try:
            with open(path, "w", encoding="utf-8") as handle:
                counts.print_as_arpa(fout=handle)
        except OSError as error:
            raise LanguageModelError(f"{path}: cannot write the language model ({error.strerror})") from error
    ngrams = tuple(sum(len(h.word_to_f) for h in counts.counts[n].values()) for n in range(options.order))
    return LmBuildReport(path, sentences, words, len(vocabulary), ngrams)


def _read_lines(corpus: str | os.PathLike[str] | Iterable[str]) -> Iterable[str]:
    if not isinstance(corpus, (str, os.PathLike)):
        yield from corpus
        return
    try:
        with open(corpus, encoding="utf-8") as handle:
            yield from handle
    except FileNotFoundError as error:
        raise LanguageModelError(f"{corpus}: no such corpus file") from error
    except UnicodeDecodeError as error:
        raise LanguageModelError(f"{corpus}: the corpus is not UTF-8 text ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise LanguageModelError(f"{corpus}: cannot read the corpus ({error.strerror})") from error


def _name(corpus: object) -> str:
    return str(corpus) if isinstance(corpus, (str, os.PathLike)) else "<lines>"


def _unigram_discount(counts: object) -> float:
    """Kneser-Ney discount of the unigram continuation counts: n1 / (n1 + 2 n2), within (0, 1)."""
    unigrams = counts.counts[0][()]  # type: ignore[attr-defined]
    if counts.ngram_order == 1:  # type: ignore[attr-defined]
        values = Counter(unigrams.word_to_count.values())
    else:
        values = Counter(len(contexts) for contexts in unigrams.word_to_context.values())
    n1, n2 = values[1], values[2]
    return min(0.9, max(0.1, n1 / (n1 + 2 * n2))) if n1 + 2 * n2 else 0.1


def _add_unknown_word(counts: object) -> None:
    """Give `<unk>` the unigram mass the discount freed (kaldingram's model is otherwise closed)."""
    unigrams = counts.counts[0][()]  # type: ignore[attr-defined]
    left = 1.0 - sum(unigrams.word_to_f.values())
    unigrams.word_to_count[UNK] = 0
    unigrams.word_to_f[UNK] = max(left, 1e-12)
