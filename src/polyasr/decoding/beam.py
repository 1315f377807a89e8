"""Beam search decoding: ctc-beam-decoder's prefix beam search with KenLM and hotwords, and timestamps.

ctc-beam-decoder (pyctcdecode's algorithm and API in C++, KenLM bundled; chosen by measurement,
see docs/beam-lm.md) finds the text. Its word frames are coarse, so each character's frames
come from a CTC Viterbi alignment of that text through the same scores (`forced_align.forced_align`):
the result is a frame-by-frame token path with each frame's probability, exactly what greedy
decoding produces, so segments, words, subtitles and scores are built by the same code
(`ctc.decode_frames`, `output.timing`). When the text is the greedy one (beam size 1, no LM, no
hotwords) the path is the greedy path and the result is identical.

Long audio is searched in stretches that end in pauses (`pause_seconds` of frames whose best token
is the blank) and never exceed `max_stretch_seconds`; the language model's context restarts at
each stretch. Memory: one stretch's dense scores (frames x columns x 4 bytes) at a time. Stretches
are joined frame by frame, as greedy decoding joins them: words are separated where the model put a
word delimiter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .forced_align import forced_align
from .ctc import Decoded, FrameChoices, Vocabulary, decode_frames
from ..errors import AlignmentError, PolyasrError
from .filters import LanguageFilter
from .frames import TopTokens
from .language_model import DEFAULT_ALPHA, DEFAULT_BETA, LanguageModelFile
from .native_output import native_stderr_kept
from .options import BeamOptions


class DecoderError(PolyasrError):
    """Beam search is not available (missing package) or cannot use what it was given."""


@dataclass(frozen=True)
class SearchKey:
    """What a loaded search depends on (a search with an LM takes a while to load)."""

    labels: tuple[str, ...]  # the characters of the decoded columns (adapter models differ per language)
    lm: LanguageModelFile | None
    alpha: float
    beta: float
    unk_score_offset: float


class BeamSearch:
    """One ctc-beam-decoder instance over a fixed set of columns, with an optional KenLM model."""

    def __init__(self, labels: list[str], lm: LanguageModelFile | None, alpha: float, beta: float, unk_score_offset: float) -> None:
        try:
            import ctc_beam_decoder
        except ImportError as error:
            raise DecoderError("beam search needs ctc-beam-decoder: pip install 'polyasr[lm]'") from error
        self.labels = labels
        self.has_lm = lm is not None
        try:
            if lm is None:
                self._decoder = ctc_beam_decoder.build_ctcdecoder(labels)
            else:
                with native_stderr_kept():  # KenLM's loading banner, on every load
                    self._decoder = ctc_beam_decoder.build_ctcdecoder(
                        labels, kenlm_model_path=str(lm.path), unigrams=list(lm.unigrams) if lm.unigrams is not None else None,
                        alpha=alpha, beta=beta, unk_score_offset=unk_score_offset, lm_score_boundary=lm.score_boundary,
                    )
        except (ValueError, RuntimeError, OSError) as error:
            where = f"{lm.path}: " if lm is not None else ""
            raise DecoderError(f"{where}the beam decoder cannot load this ({error})") from error

    def text(self, log_probs: np.ndarray, options: BeamOptions, hotwords: tuple[str, ...], weight: float) -> str:
        """The best hypothesis for log-probabilities over this search's columns."""
        return self._decoder.decode(
            log_probs, beam_width=options.beam_size, beam_prune_logp=options.beam_prune_logp,
            token_min_logp=options.token_min_logp, hotwords=list(hotwords) or None, hotword_weight=weight,
        )


class SearchCache:
    """Loaded searches of one Recognizer, by columns and language model (not shared between recognizers)."""

    def __init__(self) -> None:
        self._searches: dict[SearchKey, BeamSearch] = {}

    def get(self, vocabulary: Vocabulary, language_filter: LanguageFilter, lm: LanguageModelFile | None, options: BeamOptions) -> BeamSearch:
        alpha = options.lm_weight if options.lm_weight is not None else (lm.alpha if lm and lm.alpha is not None else DEFAULT_ALPHA)
        beta = options.word_score if options.word_score is not None else (lm.beta if lm and lm.beta is not None else DEFAULT_BETA)
        unk = lm.unk_score_offset if lm is not None and lm.unk_score_offset is not None else options.unk_score_offset
        labels = tuple(language_filter.labels(vocabulary))
        key = SearchKey(labels, lm, alpha, beta, unk)
        if key not in self._searches:
            self._searches[key] = BeamSearch(list(labels), lm, alpha, beta, unk)
        return self._searches[key]


def stretches(speech: np.ndarray, pause_frames: int, max_frames: int) -> list[tuple[int, int]]:
    """Frame ranges [a, b) searched one at a time: cut in the middle of every pause of at least
    `pause_frames` non-speech frames, and inside the longest pause (else at the limit) of a stretch
    longer than `max_frames`. Ranges without speech are left out."""
    n = len(speech)
    runs = _runs(~speech)
    cuts = [0] + [(a + b) // 2 for a, b in runs if b - a >= pause_frames and 0 < a and b < n] + [n]
    out: list[tuple[int, int]] = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        while b - a > max_frames:
            inside = [(rb - ra, (ra + rb) // 2) for ra, rb in _runs(~speech[a : a + max_frames]) if ra > 0]
            cut = a + (max(inside)[1] if inside else max_frames)
            out.append((a, cut))
            a = cut
        out.append((a, b))
    return [(a, b) for a, b in out if speech[a:b].any()]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs [a, b) of True."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def beam_decode(
    frames: TopTokens,
    vocabulary: Vocabulary,
    language_filter: LanguageFilter,
    search: BeamSearch,
    options: BeamOptions,
    frame_seconds: float,
    hotwords: tuple[str, ...] = (),
    hotword_weight: float = 10.0,
) -> Decoded:
    """Beam-search one utterance's frames into the same `Decoded` greedy decoding gives."""
    blank = vocabulary.blank_id
    tokens = np.full(frames.num_frames, blank, np.int64)
    probs = np.exp(frames.best_log_probs).astype(np.float32)  # outside stretches the best token is the blank
    speech = frames.best_ids != blank
    pause = max(1, math.ceil(options.pause_seconds / frame_seconds))
    limit = max(pause + 1, int(options.max_stretch_seconds / frame_seconds))
    columns = language_filter.columns
    spelling = _Speller(search.labels, vocabulary.word_start)
    found = stretches(speech, pause, limit)
    for a, b in found:
        scores = language_filter.dense(frames, a, b)
        targets = spelling(search.text(scores, options, hotwords, hotword_weight))
        path = np.zeros(b - a, np.int64)  # column per frame
        if targets.size:
            try:
                alignment = forced_align(scores, targets, blank=0, frame_seconds=frame_seconds)
            except AlignmentError as error:  # cannot happen for a text the search found in these scores
                raise DecoderError(f"the beam search's text does not fit its frames ({error})") from error
            for token in alignment.tokens:
                path[token.start_frame : token.end_frame] = targets[token.index]
        tokens[a:b] = columns[path]
        probs[a:b] = np.exp(scores[np.arange(b - a), path])
    return decode_frames(FrameChoices(tokens=tokens, probs=probs), vocabulary)


class _Speller:
    """The decoder's text back as column indices (longest label first; " " is the delimiter, or with
    subword labels, the "▁" that starts each word's first piece)."""

    def __init__(self, labels: list[str], word_start: str | None = None) -> None:
        self.columns = {label: c for c, label in enumerate(labels) if label}
        self.longest = max((len(label) for label in self.columns), default=1)
        self.word_start = word_start

    def __call__(self, text: str) -> np.ndarray:
        if self.word_start and text.strip():
            text = self.word_start + self.word_start.join(text.split())
        out: list[int] = []
        i = 0
        while i < len(text):
            for size in range(min(self.longest, len(text) - i), 0, -1):
                column = self.columns.get(text[i : i + size])
                if column is not None:
                    out.append(column)
                    i += size
                    break
            else:
                raise DecoderError(f"the beam decoder returned {text[i]!r}, which is none of its labels")
        return np.asarray(out, np.int64)
