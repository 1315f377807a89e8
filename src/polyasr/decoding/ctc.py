"""CTC decoding: pure functions over one utterance's logits (frames x vocabulary).

This is the one decoding core used by the CLI, the server, evaluation and batch jobs.

Decoding happens in two steps:
1. choose a token for every frame (`frame_tokens`): the model card's semantics. Unrestricted
   ("auto") takes each frame's argmax. Restricted to a language (the card's
   `predict_lang_specific`), a frame whose argmax is the blank stays blank and every other frame
   takes the most probable token among that language's ids.
2. turn the frame tokens into text (`collapse_repeats`, `spans_to_text`): merge runs of the same
   token, *then* drop blanks, so "l, blank, l" is a double letter. (The card's code drops blank
   frames before merging, which turns "hello" into "helo"; we keep its frame choices, not that bug.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np


WORD_START = "\u2581"  # "▁": SentencePiece's mark of a piece that begins a word

CHARACTERS = "characters"  # Vocabulary.kind of a character CTC vocabulary (a delimiter token "|" between words)
SUBWORDS = "subwords"  # Vocabulary.kind of a SentencePiece vocabulary (words begin at pieces starting with "▁")


@dataclass(frozen=True)
class Vocabulary:
    """The CTC output alphabet of a model, independent of any tokenizer class.

    Characters (wav2vec2's vocab.json: "|" is the space) or subwords (SentencePiece pieces in a
    tokenizer.json: "▁" starts a word). Decoding, timing and alignment ask it where words begin
    (`starts_word`, `ends_word`) and what a token prints (`text_of`), never the token strings.
    """

    tokens: tuple[str, ...]  # token string of every id, in id order
    blank_id: int  # the CTC blank (the tokenizer's pad token, or the config's blank_token_id)
    word_delimiter_id: int | None  # token printed as a space ("|"), if the vocabulary has one
    hidden_ids: frozenset[int]  # ids never printed: blank and special tokens (<s>, </s>, <unk>)
    word_start: str | None = None  # "▁" in a SentencePiece vocabulary: a token starting with it starts a word
    encode: Callable[[str], Sequence[int]] | None = field(default=None, compare=False, repr=False)  # the tokenizer's text -> ids (subwords)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, blank_id: int | None = None) -> "Vocabulary":
        """Build from a transformers tokenizer: `Wav2Vec2CTCTokenizer` (characters) or a tokenizer.json
        one with SentencePiece pieces (subwords). `blank_id`: the model's blank when it is not the pad token."""
        vocab: dict[str, int] = tokenizer.get_vocab()
        size = max(vocab.values()) + 1
        tokens = [""] * size
        for token, index in vocab.items():
            tokens[index] = token
        blank = tokenizer.pad_token_id if blank_id is None else blank_id
        if blank is None:
            raise ValueError("the tokenizer has no pad token, which wav2vec2 CTC models use as the blank")
        delimiter = getattr(tokenizer, "word_delimiter_token", None)
        special = {tokenizer.convert_tokens_to_ids(t) for t in tokenizer.all_special_tokens}
        special.discard(vocab.get(delimiter))  # type: ignore[arg-type]
        subwords = delimiter is None and any(t.startswith(WORD_START) for t in vocab)
        return cls(
            tokens=tuple(tokens),
            blank_id=int(blank),
            word_delimiter_id=vocab.get(delimiter) if delimiter else None,
            hidden_ids=frozenset(int(i) for i in special | {blank}),
            word_start=WORD_START if subwords else None,
        )

    @property
    def kind(self) -> str:
        """CHARACTERS or SUBWORDS."""
        return SUBWORDS if self.word_start else CHARACTERS

    def starts_word(self, token_id: int) -> bool:
        """True for a subword piece that begins a word ("▁the"); never for characters."""
        return bool(self.word_start) and self.tokens[token_id].startswith(self.word_start)  # type: ignore[arg-type]

    def text_of(self, token_id: int) -> str:
        """What a token prints inside a word: the piece without its "▁", the character as it is."""
        token = self.tokens[token_id]
        return token.replace(self.word_start, "") if self.word_start else token

    def __len__(self) -> int:
        return len(self.tokens)

    def padded_to(self, size: int) -> "Vocabulary":
        """The same vocabulary covering `size` classes; classes without a token are never printed."""
        extra = range(len(self.tokens), size)
        return replace(self, tokens=self.tokens + ("",) * len(extra), hidden_ids=self.hidden_ids | frozenset(extra))


@dataclass(frozen=True)
class TokenSpan:
    """One emitted token and the frames it occupies (end exclusive)."""

    token_id: int
    start_frame: int
    end_frame: int


def as_logits(logits: Any) -> np.ndarray:
    """Logits of one utterance as a float32 numpy array of shape (frames, vocabulary).

    Accepts numpy arrays and torch tensors (any device or dtype).
    """
    if hasattr(logits, "detach"):  # torch.Tensor, without importing torch here
        logits = logits.detach().float().cpu().numpy()
    array = np.asarray(logits, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"expected logits of shape (frames, vocabulary), got shape {array.shape}")
    return array


def frame_tokens(logits: Any, blank_id: int, allowed_ids: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """The token chosen for every frame, as int64 array of shape (frames,).

    `allowed_ids=None` is the card's `predict`: each frame's argmax.
    Otherwise it is the card's `predict_lang_specific`: frames whose argmax is `blank_id` stay blank;
    every other frame takes the highest-scoring token among `allowed_ids` (ties: the lowest id, as
    `torch.argmax` over the card's masked probabilities does).
    """
    scores = as_logits(logits)
    best = scores.argmax(axis=-1)
    if allowed_ids is None:
        return best.astype(np.int64)
    allowed = np.unique(np.asarray(allowed_ids, dtype=np.int64))
    if allowed.size == 0:
        raise ValueError("allowed_ids is empty: a language restriction needs at least one token id")
    if allowed[0] < 0 or allowed[-1] >= scores.shape[-1]:
        raise ValueError(f"allowed_ids must lie in [0, {scores.shape[-1]}), got {allowed[0]}..{allowed[-1]}")
    restricted = allowed[scores[:, allowed].argmax(axis=-1)]
    return np.where(best == blank_id, blank_id, restricted).astype(np.int64)


def collapse_repeats(tokens: np.ndarray | Sequence[int], blank_id: int) -> list[TokenSpan]:
    """Merge runs of the same frame token, then drop blanks (standard greedy CTC)."""
    frames = np.asarray(tokens, dtype=np.int64)
    if frames.size == 0:
        return []
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
    ends = np.r_[starts[1:], frames.size]
    return [
        TokenSpan(int(frames[s]), int(s), int(e)) for s, e in zip(starts, ends) if frames[s] != blank_id
    ]


def spans_to_text(spans: Sequence[TokenSpan], vocabulary: Vocabulary) -> str:
    """Text of the emitted tokens: delimiters become single spaces, special tokens are hidden."""
    return " ".join(spans_to_pieces(spans, vocabulary).split())


def spans_to_pieces(spans: Sequence[TokenSpan], vocabulary: Vocabulary) -> str:
    """The emitted tokens' text before spaces are normalised: `spans_to_text` of consecutive runs of
    spans is the normalised concatenation of their pieces."""
    pieces = []
    for span in spans:
        if span.token_id == vocabulary.word_delimiter_id:
            pieces.append(" ")
        elif span.token_id not in vocabulary.hidden_ids:
            if vocabulary.starts_word(span.token_id):
                pieces.append(" ")
            pieces.append(vocabulary.text_of(span.token_id))
    return "".join(pieces)


@dataclass(frozen=True)
class FrameChoices:
    """Step 1 of decoding for every frame of an utterance: the chosen token and its probability."""

    tokens: np.ndarray  # (frames,) int64: the chosen token of each frame
    probs: np.ndarray  # (frames,) float32: its probability under the softmax over the whole vocabulary

    @property
    def num_frames(self) -> int:
        return int(self.tokens.shape[0])


def log_normalizer(scores: np.ndarray) -> np.ndarray:
    """log(sum(exp(scores))) of every frame, computed stably: shape (frames, 1)."""
    peak = scores.max(axis=-1, keepdims=True)
    return peak + np.log(np.exp(scores - peak).sum(axis=-1, keepdims=True))


def log_softmax(logits: Any) -> np.ndarray:
    """Log-probabilities over the vocabulary of every frame, float32 (frames x vocabulary)."""
    scores = as_logits(logits)
    return (scores - log_normalizer(scores)).astype(np.float32)


# A skipped frame is a frame of the input the model was not run on (voice activity detection found
# no speech there). Every FrameReducer sees it as this one thing: certain silence, i.e. logits with
# the blank at 0 and every other class at SKIPPED_LOGIT. `run_inference` hands the reducers these
# logits for the frames no window covered, so greedy decoding reads a blank of probability 1,
# language identification a non-speech frame, and forced alignment a frame where a character costs
# 10,000 nats: never chosen while speech frames can take it, yet still possible (not -inf) when VAD
# cut into a word the transcript holds, so alignment degrades instead of failing.
SKIPPED_LOGIT = -1.0e4


def skipped_logits(num_frames: int, num_classes: int, blank_id: int) -> np.ndarray:
    """Logits (num_frames x num_classes, float32) of frames the model was not run on: see SKIPPED_LOGIT."""
    logits = np.full((num_frames, num_classes), SKIPPED_LOGIT, dtype=np.float32)
    logits[:, blank_id] = 0.0
    return logits


def stitch_frames(parts: Mapping[int, np.ndarray], num_frames: int, dtype: Any, tail: tuple[int, ...] = ()) -> np.ndarray:
    """Per-window arrays (frames first), keyed by their first frame, placed in one array of
    `num_frames` rows (trailing shape `tail`). Every row must be covered: frames the model skipped
    come as `skipped_logits`, never as a fill value chosen by each reducer."""
    out = np.empty((num_frames, *tail), dtype=dtype)
    covered = np.zeros(num_frames, dtype=bool)
    for first, part in parts.items():
        rows = part[: max(0, num_frames - first)]
        out[first : first + len(rows)] = rows
        covered[first : first + len(rows)] = True
    if not covered.all():
        missing = int(np.flatnonzero(~covered)[0])
        raise ValueError(f"frame {missing} of {num_frames} was never added (skipped frames come as skipped_logits)")
    return out


def choose_frames(logits: Any, blank_id: int, allowed_ids: Sequence[int] | np.ndarray | None = None) -> FrameChoices:
    """`frame_tokens` plus the probability of each chosen token."""
    scores = as_logits(logits)
    tokens = frame_tokens(scores, blank_id, allowed_ids)
    chosen = np.take_along_axis(scores, tokens[:, None], axis=-1)
    return FrameChoices(tokens=tokens, probs=np.exp(chosen - log_normalizer(scores))[:, 0].astype(np.float32))


class GreedyReducer:
    """Greedy decoding over windows: keeps one token and one probability per frame (a FrameReducer)."""

    def __init__(self, blank_id: int, allowed_ids: Sequence[int] | np.ndarray | None = None) -> None:
        self.blank_id = blank_id
        self.allowed_ids = allowed_ids
        self._parts: dict[int, FrameChoices] = {}

    def add(self, first_frame: int, logits: np.ndarray) -> None:
        self._parts[first_frame] = choose_frames(logits, self.blank_id, self.allowed_ids)

    def part(self, first_frame: int) -> FrameChoices:
        """The choices of the frames added at `first_frame` (KeyError if none were)."""
        return self._parts[first_frame]

    def finish(self, num_frames: int) -> FrameChoices:
        tokens = stitch_frames({f: p.tokens for f, p in self._parts.items()}, num_frames, np.int64)
        probs = stitch_frames({f: p.probs for f, p in self._parts.items()}, num_frames, np.float32)
        return FrameChoices(tokens=tokens, probs=probs)


@dataclass(frozen=True)
class Decoded:
    """Greedy CTC decoding of one utterance."""

    text: str
    spans: tuple[TokenSpan, ...]  # emitted tokens with their frames, for timestamps
    frames: FrameChoices

    @property
    def num_frames(self) -> int:
        return self.frames.num_frames


def decode_frames(frames: FrameChoices, vocabulary: Vocabulary) -> Decoded:
    """Step 2: `collapse_repeats`, then `spans_to_text`."""
    spans = collapse_repeats(frames.tokens, vocabulary.blank_id)
    return Decoded(text=spans_to_text(spans, vocabulary), spans=tuple(spans), frames=frames)


def greedy_decode(
    logits: Any, vocabulary: Vocabulary, allowed_ids: Sequence[int] | np.ndarray | None = None
) -> Decoded:
    """Decode one utterance's logits: `choose_frames`, then `decode_frames`."""
    scores = as_logits(logits)
    if scores.shape[-1] != len(vocabulary):
        raise ValueError(
            f"logits have {scores.shape[-1]} classes but the vocabulary has {len(vocabulary)} tokens"
        )
    return decode_frames(choose_frames(scores, vocabulary.blank_id, allowed_ids), vocabulary)
