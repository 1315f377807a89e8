"""The language restriction as one filter: which columns a decoder may emit, and their scores.

`LanguageFilter` keeps the blank and the language's tokens (all printable tokens for "auto") and
applies the model card's rules, so that greedy decoding is each frame's best column and a beam
search of size 1 finds the same text:

* unrestricted, a frame won by a token that prints nothing (`<s>`, `</s>`, `<unk>`) is a blank
  frame for the text, as greedy decoding prints it;
* restricted (the card's `predict_lang_specific`), a frame whose most probable token is the blank
  stays a blank frame, and a frame whose most probable token is some character stays a character
  frame, whichever of the language's characters it becomes. In scores: on a character frame the
  blank is held just below the language's best character.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ctc import Vocabulary
from .frames import FLOOR, TopTokens


@dataclass(frozen=True)
class LanguageFilter:
    """Columns a decoder may use: the blank first, then the allowed tokens in id order."""

    columns: np.ndarray  # (C,) int64 token ids; columns[0] is the blank
    restricted: bool  # True when the columns are one language's (the card's rule applies)

    @classmethod
    def for_language(cls, vocabulary: Vocabulary, allowed_ids: np.ndarray | None) -> "LanguageFilter":
        """The language's ids (None: every printable token) plus the blank."""
        if allowed_ids is None:
            ids = np.array([i for i in range(len(vocabulary)) if i not in vocabulary.hidden_ids], np.int64)
        else:
            ids = np.unique(np.asarray(allowed_ids, np.int64))
            ids = ids[~np.isin(ids, list(vocabulary.hidden_ids))]
        return cls(np.r_[vocabulary.blank_id, ids].astype(np.int64), allowed_ids is not None)

    def labels(self, vocabulary: Vocabulary) -> list[str]:
        """The columns as a beam decoder spells them: "" for the blank, " " for the word delimiter."""
        return ["" if i == vocabulary.blank_id else " " if i == vocabulary.word_delimiter_id else vocabulary.tokens[i]
                for i in self.columns.tolist()]

    def dense(self, frames: TopTokens, start: int, end: int) -> np.ndarray:
        """Log-probabilities of frames [start, end) over the columns (float32, frames x C).

        Tokens the frame summary did not keep get FLOOR. Values are the whole vocabulary's
        log-softmax (a decoder renormalises each frame; that adds the same constant to every path).
        """
        count = end - start
        out = np.full((count, len(self.columns)), FLOOR, np.float32)
        highest = max(int(self.columns.max()), int(frames.ids.max(initial=0)), int(frames.best_ids.max(initial=0)))
        if frames.allowed_ids is not None:
            highest = max(highest, int(frames.allowed_ids.max(initial=0)))
        lookup = np.full(highest + 2, -1, np.int64)  # token id -> column; the last entry stands for "none"
        lookup[self.columns] = np.arange(len(self.columns))
        rows = np.arange(count)
        ids = frames.ids[start:end]
        cols = lookup[np.where(ids >= 0, ids, lookup.size - 1)]
        keep = cols >= 0
        out[np.broadcast_to(rows[:, None], ids.shape)[keep], cols[keep]] = frames.log_probs[start:end][keep]
        best, best_values = frames.best_ids[start:end], frames.best_log_probs[start:end]
        best_cols = lookup[best]
        if not self.restricted:
            # a frame won by a token that prints nothing (<s>, </s>, <unk>) is, for the text, a blank frame
            hidden = (best_cols < 0) & (best != self.columns[0])
            out[hidden, 0] = np.maximum(out[hidden, 0], best_values[hidden])
            return out
        if frames.allowed_ids is not None and frames.allowed_log_probs is not None:
            allowed_cols = lookup[frames.allowed_ids[start:end]]
            valid = allowed_cols > 0  # the language's best non-blank token
            out[rows[valid], allowed_cols[valid]] = frames.allowed_log_probs[start:end][valid]
        # the card's rule: a character frame stays a character frame
        speech = best != self.columns[0]
        if len(self.columns) > 1:
            ceiling = np.nextafter(out[:, 1:].max(axis=1), np.float32(-np.inf))
            out[speech, 0] = np.minimum(out[speech, 0], ceiling[speech])
        return out
