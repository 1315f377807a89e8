"""The text of an input decoded so far, while the rest of its windows are still to be computed.

Greedy decoding chooses each frame's token on its own, so the text of the frames from the start
of an input up to the first frame not yet computed is a prefix of the input's final text:
collapsing repeats and normalising spaces cannot change what lies before a blank frame or a
space (a word that goes on only grows). `PrefixTextReducer` wraps one input's `GreedyReducer`
and, whenever that text grows, calls `on_text` with it. Beam search and "detect" (the language is
chosen after the last frame) have no such prefix.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .ctc import FrameChoices, GreedyReducer, Vocabulary, collapse_repeats, spans_to_pieces

class PrefixTextReducer:
    """A FrameReducer: `inner`'s summary, and `on_text(text so far)` each time the text of the frames
    from frame 0 grows. Every text it reports is a prefix of the final text."""

    def __init__(self, inner: GreedyReducer, vocabulary: Vocabulary, on_text: Callable[[str], None]) -> None:
        self.inner, self.vocabulary, self.on_text = inner, vocabulary, on_text
        self._waiting: dict[int, np.ndarray] = {}  # tokens of windows that lie after a frame not yet added
        self._next = 0  # the first frame not yet in the run from frame 0
        self._tail = np.empty(0, np.int64)  # the run's tokens from its last blank frame on (a span there may grow)
        self._pieces = ""  # text of the run before the tail, spaces not yet normalised
        self.text = ""  # the last text reported

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        self.inner.add(first_frame, logits)
        self._waiting[first_frame] = self.inner.part(first_frame).tokens
        if self._next not in self._waiting:
            return
        parts = [self._tail]
        while self._next in self._waiting:
            parts.append(self._waiting.pop(self._next))
            self._next += len(parts[-1])
        tail = np.concatenate(parts)
        blanks = np.flatnonzero(tail == self.vocabulary.blank_id)
        if blanks.size:  # a blank frame ends every span before it
            cut = int(blanks[-1])
            self._pieces += spans_to_pieces(collapse_repeats(tail[:cut], self.vocabulary.blank_id), self.vocabulary)
            tail = tail[cut:]
        self._tail = tail
        text = " ".join(self._pieces.split())  # as spans_to_text normalises: a prefix of the final text
        if len(text) > len(self.text):
            self.text = text
            self.on_text(text)

    def finish(self, num_frames: int) -> FrameChoices:
        return self.inner.finish(num_frames)
