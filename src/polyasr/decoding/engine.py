"""One decoder interface for every entry point: a strategy (greedy or beam) plus the language filter.

    decoder = cache.decoder(language_target(model, "de"), DecoderOptions(strategy="beam"))
    results = run_inference(decoder.model, audios, decoder.reducer, ...)  # per input: decoder.summary type
    decoded = decoder.decode(result.value)                           # -> decoding.Decoded

A decoder is built for one language (or None: every printable token) and one model: the one whose
logits it decodes (for a model with per-language adapters, MMS, the one with that language's adapter). `reducer()` makes the
FrameReducer whose per-frame summary the strategy needs (greedy: the chosen token and its
probability; beam: the `top_k` tokens and the language's best), `decode(summary)` turns it into
a `Decoded` (text, token spans, per-frame path), and `decode_logits(logits)` does both for one
block of logits (live streaming). For `language="detect"`, the unrestricted decoder's summary is
reduced beside language identification's and `restricted_summary` narrows it to the winner.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .ctc import Decoded, FrameChoices, GreedyReducer, Vocabulary, decode_frames
from .langid import LanguageFrames
from ..language.normalize import normalize_text
from .beam import BeamSearch, SearchCache, beam_decode
from .filters import LanguageFilter
from .frames import TopTokens, TopTokensReducer
from .language_model import LanguageModelFile, checkpoint_language_model, read_language_model
from .options import BEAM, MEAN_SCORE, PRODUCT_SCORE, BeamOptions, DecoderOptions


class DecodedModel(Protocol):
    """What a decoder needs of the model whose logits it reads (model.CTCModel is one)."""

    name: str
    vocabulary: Vocabulary
    frame_seconds: float


class DecodeTarget(Protocol):
    """A language choice made concrete for a model (model.languages.LanguageTarget is one)."""

    code: str | None
    model: Any  # a DecodedModel; the model to run (for adapter models, the one with the language's adapter)
    allowed_ids: np.ndarray | None


class Decoder(Protocol):
    """A decoding strategy bound to one model and one language filter."""

    model: DecodedModel  # the model whose logits this decoder reads (run_inference runs it)
    language: str | None  # the language results report (restricted to, or a single-language model's own)
    warnings: tuple[str, ...]  # what the user should know about this decoder (e.g. hotword issues)
    word_score: str  # how its words are scored: "product" (acoustics alone) or "mean" (an LM or hotwords chose them)

    def reducer(self) -> Any:
        """A new FrameReducer for one input."""

    def decode(self, summary: Any) -> Decoded:
        """The decoded utterance from the reducer's summary."""

    def decode_logits(self, logits: np.ndarray) -> Decoded:
        """Reduce and decode one block of logits (frames x vocabulary)."""

    def restricted_summary(self, summary: Any, frames: LanguageFrames, code: str) -> Any:
        """This (unrestricted) decoder's summary narrowed to `code`, for the decoder of `code`."""


def _decode_block(decoder: Decoder, logits: np.ndarray) -> Decoded:
    """`decoder.decode_logits`, one definition for every strategy: a new reducer over the block, decoded."""
    reducer = decoder.reducer()
    reducer.add(0, logits)
    return decoder.decode(reducer.finish(len(logits)))


class GreedyDecoder:
    """Each frame's best token under the language filter (the model card's decoding)."""

    def __init__(self, model: DecodedModel, language_filter: LanguageFilter, language: str | None) -> None:
        self.model = model
        self.vocabulary: Vocabulary = model.vocabulary
        self.filter = language_filter
        self.language = language
        self.warnings: tuple[str, ...] = ()
        self.word_score = PRODUCT_SCORE
        self._allowed = language_filter.columns[1:] if language_filter.restricted else None

    def reducer(self) -> GreedyReducer:
        return GreedyReducer(self.vocabulary.blank_id, self._allowed)

    def decode(self, summary: FrameChoices) -> Decoded:
        return decode_frames(summary, self.vocabulary)

    def decode_logits(self, logits: np.ndarray) -> Decoded:
        return _decode_block(self, logits)

    def restricted_summary(self, summary: FrameChoices, frames: LanguageFrames, code: str) -> FrameChoices:
        return frames.restricted(code)


class BeamDecoder:
    """Prefix beam search with an optional n-gram LM and hotwords (see beam.py)."""

    def __init__(
        self, model: DecodedModel, language_filter: LanguageFilter, language: str | None, search: BeamSearch,
        options: BeamOptions, warnings: tuple[str, ...] = (),
    ) -> None:
        self.model = model
        self.vocabulary: Vocabulary = model.vocabulary
        self.filter = language_filter
        self.language = language
        self.search = search
        self.options = options
        self.frame_seconds = model.frame_seconds
        self.hotwords, self.hotword_weight = _hotwords(options, language)
        self.word_score = MEAN_SCORE if search.has_lm or self.hotwords else PRODUCT_SCORE
        self.warnings = warnings + _hotword_warnings(options, self.hotwords, language_filter.labels(self.vocabulary))

    def reducer(self) -> TopTokensReducer:
        columns = self.filter.columns if self.filter.restricted else None  # None: every token, as "auto" and "detect" need
        return TopTokensReducer(self.options.top_k, self.vocabulary.blank_id, columns)

    def decode(self, summary: TopTokens) -> Decoded:
        return beam_decode(summary, self.vocabulary, self.filter, self.search, self.options, self.frame_seconds,
                           self.hotwords, self.hotword_weight)

    def decode_logits(self, logits: np.ndarray) -> Decoded:
        return _decode_block(self, logits)

    def restricted_summary(self, summary: TopTokens, frames: LanguageFrames, code: str) -> TopTokens:
        row = frames.codes.index(code)
        return summary.with_allowed(frames.best_ids[row], frames.best_log_probs[row])


class DecoderCache:
    """Decoders' expensive parts, loaded once per Recognizer: beam searches (a KenLM model takes
    seconds to load) and language model files. Nothing is shared between recognizers; threads
    sharing one Recognizer load each part once (under a lock)."""

    def __init__(self) -> None:
        self._searches = SearchCache()
        self._lm_files: dict[str, LanguageModelFile | None] = {}
        self._lock = threading.Lock()

    def language_model(self, model_name: str, options: BeamOptions) -> LanguageModelFile | None:
        """The LM a beam search uses: `options.lm`, else the checkpoint's language_model/ folder."""
        key = f"file:{Path(options.lm).expanduser().resolve()}" if options.lm else f"model:{model_name}"
        if options.lm is None and not options.checkpoint_lm:
            return None
        if key not in self._lm_files:
            self._lm_files[key] = read_language_model(options.lm) if options.lm else checkpoint_language_model(model_name)
        return self._lm_files[key]

    def decoder(self, target: DecodeTarget, options: DecoderOptions) -> Decoder:
        """A decoder for a language choice (`model.languages.language_target`): its model, its token ids."""
        model, language = target.model, target.code
        vocabulary: Vocabulary = model.vocabulary
        language_filter = LanguageFilter.for_language(vocabulary, target.allowed_ids)
        if options.strategy != BEAM:
            return GreedyDecoder(model, language_filter, language)
        with self._lock:
            lm = self.language_model(model.name, options.beam)
            search = self._searches.get(vocabulary, language_filter, lm, options.beam)
        warnings = ()
        if lm is not None and language_filter.columns.size and vocabulary.word_delimiter_id not in language_filter.columns:
            warnings = (f"the language model has no effect on '{language}': its characters include no word delimiter",)
        return BeamDecoder(model, language_filter, language, search, options.beam, warnings)


def _hotwords(options: BeamOptions, language: str | None) -> tuple[tuple[str, ...], float]:
    words, weight = options.hotword_groups()
    normalized = tuple(dict.fromkeys(w for w in (normalize_text(t, language) for t in words) if w))
    return normalized, weight


def _hotword_warnings(options: BeamOptions, words: tuple[str, ...], labels: list[str]) -> tuple[str, ...]:
    warnings = []
    given = {options.hotword_weight if w.weight is None else w.weight for w in options.hotwords}
    if len(given) > 1:
        warnings.append(f"hotwords are decoded with one weight, the largest given ({max(given):g}); "
                        "the decoder applies one weight to all hotwords of a request")
    known = set("".join(labels))
    for word in words:
        missing = sorted(set(word) - known)
        if missing:
            warnings.append(f"hotword '{word}' cannot be spelled: the language has no {''.join(missing)!r}")
    return tuple(warnings)
