"""The language of a transcript's text: py3langid's byte n-gram naive Bayes, restricted to the model's candidates.

The acoustic evidence of `langid.py` (each language's characters) cannot separate languages that
share a script: on the proxy model's eight Latin-script languages it picks the right one for
18.75 % of held-out clips. The text of the unrestricted decoding can: measured on the same clips
(benchmarks/langid_text.py), py3langid alone finds 93.4 %, lingua-language-detector 89.7 % (and
takes 80x longer), so polyasr uses py3langid (BSD, numpy only, its model ships in the wheel).

A candidate code maps to py3langid's label by its primary subtag ("sv-SE" -> "sv", "zh-HK" -> "zh");
candidates sharing a label share its probability (the text cannot separate them, the acoustic
evidence still does), and candidates py3langid does not know ("cnh", "rm-sursilv") get the uniform
share 1/N: the text says nothing about them, and their acoustic evidence decides (`uncovered`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


class TextLanguageIdentifier:
    """py3langid's model (~0.5 s to load: create one per Recognizer). Thread-safe: `rank` reads only."""

    def __init__(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._model = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)  # raw scores: we normalise
        self.labels = frozenset(self._model.labels)

    def label(self, code: str) -> str | None:
        """py3langid's label for a model's language code, or None when it does not know the language."""
        primary = code.split("-")[0].split("_")[0].lower()
        return primary if primary in self.labels else None

    def uncovered(self, codes: Sequence[str]) -> list[str]:
        """Candidates the text cannot speak for (their acoustic evidence alone decides)."""
        return [code for code in codes if self.label(code) is None]

    def raw_scores(self, text: str) -> dict[str, float]:
        """py3langid's naive-Bayes score (log-likelihood plus prior, in nats) of every label for `text`."""
        return {label: float(score) for label, score in self._model.rank(text)}

    def log_probabilities(self, text: str, codes: Sequence[str]) -> np.ndarray | None:
        """log P(code | text) for each of `codes` (row order), or None when the text cannot say anything
        (no text, or no candidate it knows). See `text_log_probabilities`."""
        if not text.strip():
            return None
        labels = [self.label(code) for code in codes]
        if not any(labels):
            return None
        return text_log_probabilities(self.raw_scores(text), labels, len(text.encode("utf-8")))


def text_log_probabilities(raw: dict[str, float], labels: Sequence[str | None], num_bytes: int) -> np.ndarray:
    """Candidates' log-probabilities from a text identifier's raw scores (pure arithmetic, for tests).

    The known labels get softmax(raw / sqrt(bytes)) over the distinct labels (py3langid's own
    temperature, which keeps short and long texts alike calibrated), each label's share split evenly
    between the candidates that have it, scaled by the fraction of candidates known; a candidate with
    no label (None) gets 1/N.
    """
    known = list(dict.fromkeys(label for label in labels if label is not None))
    scores = np.array([raw[label] for label in known], np.float64) / math.sqrt(max(num_bytes, 1))
    shares = np.exp(scores - scores.max())
    shares /= shares.sum()
    share = dict(zip(known, shares.tolist()))
    count = {label: labels.count(label) for label in known}
    n, covered = len(labels), sum(count.values())
    probs = np.array([1.0 / n if label is None else covered / n * share[label] / count[label] for label in labels])
    return np.log(np.maximum(probs, 1e-300))


def load_text_identifier() -> TextLanguageIdentifier | None:
    """The text identifier, or None where py3langid is not installed (a base dependency; a trimmed install may lack it)."""
    try:
        return TextLanguageIdentifier()
    except ImportError:
        return None
