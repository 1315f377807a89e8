"""What a beam search keeps of every frame: its few most probable tokens, not the whole vocabulary.

A beam search only extends tokens above `token_min_logp` (-5 by default, p > 0.7 %); at most a
handful per frame pass it. So the reducer keeps, per frame, the `top_k` most probable tokens of the
whole vocabulary with their log-probabilities (8 bytes each: 16 tokens are 128 bytes per frame,
23 MB for an hour), and, when decoding is restricted to a language, the best of that language's
tokens too (the card's restricted decoding needs it even when it is improbable). The dense
matrix a search needs (frames x the language's columns: 30 s of the 9,910-class vocabulary is
59 MB) is built one stretch at a time (`LanguageFilter.dense`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..decoding import log_softmax, stitch_frames

FLOOR = -30.0  # log-probability of a token not kept for a frame (p ~ 1e-13)


@dataclass(frozen=True)
class TopTokens:
    """Per frame, the most probable tokens of the whole vocabulary (a FrameReducer's summary)."""

    ids: np.ndarray  # (frames, k) int32, most probable first
    log_probs: np.ndarray  # (frames, k) float32, log-softmax over the whole vocabulary
    allowed_ids: np.ndarray | None = None  # (frames,) int32: the language's best token, when restricted
    allowed_log_probs: np.ndarray | None = None  # (frames,) float32: its log-probability

    @property
    def num_frames(self) -> int:
        return int(self.ids.shape[0])

    def with_allowed(self, ids: np.ndarray, log_probs: np.ndarray) -> "TopTokens":
        """The same frames with the restricted language's best token per frame (from language ID)."""
        return TopTokens(self.ids, self.log_probs, np.asarray(ids, np.int32), np.asarray(log_probs, np.float32))


class TopTokensReducer:
    """FrameReducer keeping `top_k` tokens per frame, and the best of `allowed_ids` when given."""

    def __init__(self, top_k: int, blank_id: int, allowed_ids: np.ndarray | None = None) -> None:
        self.top_k = top_k
        self.blank_id = blank_id
        self.allowed = None if allowed_ids is None else np.unique(np.asarray(allowed_ids, np.int64))
        self._parts: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        log_probs = log_softmax(logits)
        k = min(self.top_k, log_probs.shape[1])
        ids = np.argpartition(-log_probs, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(log_probs, ids, axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        ids, values = np.take_along_axis(ids, order, axis=1), np.take_along_axis(values, order, axis=1)
        # the argmax as np.argmax picks it (lowest id on ties), so that beam size 1 reproduces greedy
        ids[:, 0] = log_probs.argmax(axis=1)
        values[:, 0] = log_probs.max(axis=1)
        if self.allowed is None:
            best_ids = np.zeros(len(log_probs), np.int32)
            best_values = np.zeros(len(log_probs), np.float32)
        else:
            sub = log_probs[:, self.allowed]
            best = sub.argmax(axis=1)
            best_ids, best_values = self.allowed[best].astype(np.int32), sub[np.arange(len(sub)), best]
        self._parts[first_frame] = (ids.astype(np.int32), values.astype(np.float32), best_ids, best_values)

    def finish(self, num_frames: int) -> TopTokens:
        # frames no window covered (silence skipped by VAD) are certain blanks
        k = next((p[0].shape[1] for p in self._parts.values()), 1)
        ids = stitch_frames({f: p[0] for f, p in self._parts.items()}, num_frames, -1, np.int32, (k,))
        values = stitch_frames({f: p[1] for f, p in self._parts.items()}, num_frames, FLOOR, np.float32, (k,))
        uncovered = ids[:, 0] < 0
        ids[uncovered, 0], values[uncovered, 0] = self.blank_id, 0.0
        if self.allowed is None:
            return TopTokens(ids, values)
        best_ids = stitch_frames({f: p[2] for f, p in self._parts.items()}, num_frames, self.blank_id, np.int32)
        best_values = stitch_frames({f: p[3] for f, p in self._parts.items()}, num_frames, FLOOR, np.float32)
        return TopTokens(ids, values, best_ids, best_values)
