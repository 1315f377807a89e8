"""What a beam search keeps of every frame: its few most probable tokens, not the whole vocabulary.

A beam search only extends tokens above `token_min_logp` (-5 by default, p > 0.7 %); at most a
handful per frame pass it. So the reducer keeps, per frame, the frame's best token of the whole
vocabulary (the card's rule needs to know whether it is the blank) and the `top_k` most probable
of the columns the decoder may emit (the language's tokens and the blank; every token for
"auto"), each with its log-probability: 8 bytes a token, 16 tokens are 136 bytes per frame,
24 MB for an hour. The dense matrix a search needs (frames x the language's columns: 30 s of the
9,910-class vocabulary is 59 MB) is built one stretch at a time (`LanguageFilter.dense`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .ctc import log_softmax, stitch_frames

FLOOR = -30.0  # log-probability of a token not kept for a frame (p ~ 1e-13)
KEEP_LOGP = -12.0  # tokens less probable than this (p < 6e-6) are not kept


@dataclass(frozen=True)
class TopTokens:
    """Per frame, the best token and the most probable candidate tokens (a FrameReducer's summary)."""

    best_ids: np.ndarray  # (frames,) int32: each frame's most probable token of the whole vocabulary
    best_log_probs: np.ndarray  # (frames,) float32: its log-probability
    ids: np.ndarray  # (frames, k) int32: the most probable candidate tokens, best first; -1: none
    log_probs: np.ndarray  # (frames, k) float32: their log-softmax over the whole vocabulary
    allowed_ids: np.ndarray | None = None  # (frames,) int32: a language's best token (set for "detect")
    allowed_log_probs: np.ndarray | None = None  # (frames,) float32: its log-probability

    @property
    def num_frames(self) -> int:
        return int(self.ids.shape[0])

    def with_allowed(self, ids: np.ndarray, log_probs: np.ndarray) -> "TopTokens":
        """The same frames with a language's best token per frame (language identification keeps it)."""
        return replace(self, allowed_ids=np.asarray(ids, np.int32), allowed_log_probs=np.asarray(log_probs, np.float32))


class TopTokensReducer:
    """FrameReducer keeping each frame's best token and the `top_k` best of `columns` (None: all)."""

    def __init__(self, top_k: int, blank_id: int, columns: np.ndarray | None = None) -> None:
        self.top_k = top_k
        self.blank_id = blank_id
        self.columns = None if columns is None else np.unique(np.asarray(columns, np.int64))
        self._parts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        log_probs = log_softmax(logits)
        best = log_probs.argmax(axis=1)
        best_values = log_probs[np.arange(len(best)), best]
        candidates = log_probs if self.columns is None else log_probs[:, self.columns]
        index, values = _top(candidates, self.top_k)
        ids = np.where(index >= 0, index if self.columns is None else self.columns[np.maximum(index, 0)], -1)
        self._parts[first_frame] = (best.astype(np.int32), best_values.astype(np.float32), ids.astype(np.int32), values)

    def finish(self, num_frames: int) -> TopTokens:
        # frames the model skipped (VAD) come through `add` as decoding.skipped_logits: certain blanks
        parts = self._parts.items()
        k = next((p[2].shape[1] for p in self._parts.values()), 1)
        best = stitch_frames({f: p[0] for f, p in parts}, num_frames, np.int32)
        best_values = stitch_frames({f: p[1] for f, p in parts}, num_frames, np.float32)
        ids = stitch_frames({f: p[2] for f, p in parts}, num_frames, np.int32, (k,))
        values = stitch_frames({f: p[3] for f, p in parts}, num_frames, np.float32, (k,))
        return TopTokens(best, best_values, ids, values)


def _top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's `k` largest scores above KEEP_LOGP, best first
    (ties: lowest index first, as np.argmax); -1 and FLOOR fill rows with fewer."""
    count, k = len(scores), min(k, scores.shape[1])
    index = np.full((count, k), -1, np.int64)
    top = np.full((count, k), FLOOR, np.float32)
    above = scores >= KEEP_LOGP
    many = above.sum(axis=1) > 4 * k  # flat rows (random weights, large alphabets): partition them
    rows, cols = np.nonzero(above & ~many[:, None])
    values = scores[rows, cols]
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(count))[rows]
    chosen = rank < k
    index[rows[chosen], rank[chosen]] = cols[chosen]
    top[rows[chosen], rank[chosen]] = values[chosen]
    if many.any():
        sub = scores[many]
        part = np.argpartition(-sub, k - 1, axis=1)[:, :k]
        part_values = np.take_along_axis(sub, part, axis=1)
        order = np.lexsort((part, -part_values), axis=1)
        index[many] = np.take_along_axis(part, order, axis=1)
        top[many] = np.take_along_axis(part_values, order, axis=1)
    return index, top
