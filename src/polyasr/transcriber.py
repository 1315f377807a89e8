"""The Recognizer: audio in, Transcription out. Ties audio, model, inference, decoding and timing together."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .align_text import EmissionReducer, aligned_words, tokenize_transcript
from .alignment import forced_align
from .audio import AudioInput
from .decoders.engine import Decoder, DecoderCache
from .decoders.options import AUTO, DETECT, DecoderOptions
from .decoding import Decoded
from .errors import PolyasrError
from .diarization import DiarizationOptions, Diarizer, assign_speakers
from .inference import BatchOptions, InputResult, PairReducer, ProgressCallback, rereadable, run_inference
from .langid import LanguageCalibration, LanguageFrames, LanguageReducer
from .model import CTCModel, load_ctc_model
from .model_languages import identification_table, language_target, resolve_code
from .results import Transcription
from .runtime import RuntimeOptions
from .align_job import align_segments
from .segment_align import SegmentAlignOptions
from .timing import SegmentOptions, build_segments, group_segments, join_words
from .vad import SileroDetector, SpeechDetector, VadOptions
from .windows import WindowOptions


@dataclass(frozen=True)
class TranscribeOptions:
    """How long audio is windowed and words are grouped into segments."""

    windows: WindowOptions = field(default_factory=WindowOptions)
    segments: SegmentOptions = field(default_factory=SegmentOptions)
    vad: VadOptions | None = None  # run the model on detected speech only (needs polyasr[vad])
    language_candidates: tuple[str, ...] | None = None  # languages "detect" chooses from; None: all
    calibration: LanguageCalibration = field(default_factory=LanguageCalibration)
    diarization: DiarizationOptions | None = None  # label speakers on segments and words (needs polyasr[diarize])
    decoder: DecoderOptions = field(default_factory=DecoderOptions)  # greedy (default) or beam search


@dataclass(frozen=True)
class Outcome:
    """What became of one input of `Recognizer.transcribe_iter`: a result or the error it raised."""

    source: str
    result: Transcription | None
    error: PolyasrError | None


class Recognizer:
    """Speech recognition with one wav2vec2 CTC model. Create it with `polyasr.load()`.

    A Recognizer may be shared between threads: every call keeps its state in its own frames and
    reducers, the model's forward pass holds no state between calls (PyTorch and ONNX Runtime run
    concurrent inference), speech detectors, diarizers and beam searches are created once under a
    lock, and speech detectors run one call at a time. Threads do not speed each other up, though:
    the forward pass already uses every core; batch inputs in one `transcribe_iter` call instead (the server does).
    """

    def __init__(self, model: CTCModel, batch: BatchOptions = BatchOptions()) -> None:
        self.model = model
        self.batch = batch
        self._detectors: dict[VadOptions, SpeechDetector] = {}
        self._detectors_lock = threading.Lock()  # guards the detector and diarizer caches
        self._diarizers: dict[DiarizationOptions, Diarizer] = {}
        self._decoders = DecoderCache()  # beam searches and language models, loaded on first use

    def _detector(self, options: VadOptions | None) -> SpeechDetector | None:
        """The speech detector for these options, loaded on first use (once, whatever the threads)."""
        if options is None:
            return None
        with self._detectors_lock:
            if options not in self._detectors:
                self._detectors[options] = SileroDetector(options)
            return self._detectors[options]

    def languages(self) -> list[str]:
        """Codes `language=` accepts: the language table's, the adapters' (MMS), or a single-language model's own."""
        codes, _ = self.model.language_codes()
        return list(codes)

    def resolve_language(self, language: str | None) -> str | None:
        """The model's code for `language`, or None for "auto"; LanguageError when the model cannot take it."""
        return resolve_code(self.model, language)

    def decoder(self, language: str | None = AUTO, options: DecoderOptions = DecoderOptions()) -> Decoder:
        """The decoder (strategy + language filter) for `language` ("auto" or a code; not "detect")."""
        return self._decoders.decoder(language_target(self.model, self.resolve_language(language)), options)

    def _candidates(self, candidates: Sequence[str] | None) -> tuple[str, ...]:
        table = identification_table(self.model)
        return tuple(dict.fromkeys(table.resolve(c) for c in candidates)) if candidates else tuple(table.codes())

    def detect_language(
        self,
        audio: AudioInput,
        top: int | None = 5,
        candidates: Sequence[str] | None = None,
        sampling_rate: int | None = None,
        options: TranscribeOptions | None = None,
    ) -> list[tuple[str, float]]:
        """The most probable spoken languages as (code, probability), best first; [] without speech."""
        (item,) = self.detect_language_iter([audio], candidates, sampling_rate, options)
        if item.error is not None:
            raise item.error
        assert item.value is not None
        ranked = item.value.probabilities((options or TranscribeOptions()).calibration)
        return ranked[:top] if top is not None else ranked

    def detect_language_iter(
        self,
        audios: Iterable[AudioInput],
        candidates: Sequence[str] | None = None,
        sampling_rate: int | None = None,
        options: TranscribeOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Iterator[InputResult[LanguageFrames]]:
        """Per input, the frames language identification needs (see LanguageFrames.probabilities)."""
        opts = options or TranscribeOptions()
        codes = self._candidates(candidates)
        table, blank = identification_table(self.model), self.model.vocabulary.blank_id
        return run_inference(
            self.model, audios, lambda: LanguageReducer(table, blank, codes), opts.windows, self.batch,
            sampling_rate, self._detector(opts.vad), on_progress,
        )

    def transcribe(
        self,
        audio: AudioInput,
        language: str | None = AUTO,
        word_timestamps: bool = False,
        sampling_rate: int | None = None,
        options: TranscribeOptions | None = None,
        diarize: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> Transcription:
        """Transcribe one input of any length: a path, bytes, a binary file object, or an array with its rate.

        `diarize=True` labels speakers (default DiarizationOptions unless `options.diarization` is set).
        """
        opts = options or TranscribeOptions()
        if diarize and opts.diarization is None:
            opts = replace(opts, diarization=DiarizationOptions())
        return self.transcribe_batch([audio], language, word_timestamps, sampling_rate, opts, on_progress)[0]

    def transcribe_batch(
        self,
        audios: Sequence[AudioInput],
        language: str | None = AUTO,
        word_timestamps: bool = False,
        sampling_rate: int | None = None,
        options: TranscribeOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> list[Transcription]:
        """Transcribe several inputs sharing batches; raises the first failing input's error."""
        results = []
        for outcome in self.transcribe_iter(audios, language, word_timestamps, sampling_rate, options, on_progress):
            if outcome.error is not None:
                raise outcome.error
            assert outcome.result is not None
            results.append(outcome.result)
        return results

    def transcribe_iter(
        self,
        audios: Iterable[AudioInput],
        language: str | None = AUTO,
        word_timestamps: bool = False,
        sampling_rate: int | None = None,
        options: TranscribeOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Iterator[Outcome]:
        """Transcribe inputs lazily, in input order; a bad input yields an Outcome with its error.

        `language` is "auto", "detect" or a code. It is checked before any audio is decoded, so a
        bad language raises at once. "auto" decodes with every token of the vocabulary and, when
        the model has a language table, also reports the language it identifies from the same
        frames (`result.language`, `result.language_probability`); "detect" then restricts the
        text to that language. With `options.diarization`, each input is decoded again to find its
        speakers, and segments are split where the speaker changes. `on_progress(source, seconds
        done, seconds total)` follows each input.
        """
        opts = options or TranscribeOptions()
        if opts.diarization is not None:
            return self._diarized_iter(audios, language, word_timestamps, sampling_rate, opts, on_progress)
        detector = self._detector(opts.vad)
        detect = language is not None and language.lower() == DETECT
        decoder = None if detect else self.decoder(language, opts.decoder)
        table = self.model.language_table
        if detect or (decoder is not None and decoder.language is None and table is not None and table.codes()):
            base = decoder or self._decoders.decoder(language_target(self.model, None), opts.decoder)
            codes = self._candidates(opts.language_candidates)
            table, blank = identification_table(self.model), self.model.vocabulary.blank_id
            found = run_inference(
                self.model, audios,
                lambda: PairReducer(LanguageReducer(table, blank, codes, keep_frames=detect), base.reducer()),
                opts.windows, self.batch, sampling_rate, detector, on_progress,
            )
            return (self._detected_outcome(item, base, word_timestamps, opts, restrict=detect) for item in found)
        assert decoder is not None
        results = run_inference(
            decoder.model, audios, decoder.reducer, opts.windows, self.batch, sampling_rate, detector, on_progress,
        )
        return (self._outcome(r, decoder, word_timestamps, opts) for r in results)

    def align(
        self,
        audio: AudioInput,
        transcript: str,
        language: str | None = AUTO,
        sampling_rate: int | None = None,
        options: TranscribeOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Transcription:
        """Times of every word of a known `transcript` in `audio` (CTC forced alignment).

        With a language, the text is matched to that language's characters only. Characters the
        model lacks are skipped and reported in `result.warnings`; so are words left with none.
        """
        opts = options or TranscribeOptions()
        code = self.resolve_language(language)
        target = language_target(self.model, code)
        model = target.model
        tokens = tokenize_transcript(transcript, model.vocabulary, target.allowed_ids)
        blank = model.vocabulary.blank_id
        columns = np.unique(np.r_[blank, tokens.targets]).astype(np.int64)
        (item,) = run_inference(
            model, [audio], lambda: EmissionReducer(columns), opts.windows, self.batch, sampling_rate,
            self._detector(opts.vad), on_progress,
        )
        if item.error is not None:
            raise item.error
        assert item.value is not None
        alignment = forced_align(
            item.value, np.searchsorted(columns, tokens.targets), blank=int(np.searchsorted(columns, blank)),
            frame_seconds=model.frame_seconds,
        )
        words, unplaced = aligned_words(tokens, alignment, model.vocabulary, model.frame_seconds)
        warnings = list(item.warnings)
        if tokens.skipped:
            warnings.append(f"skipped characters the model has no token for: {''.join(dict.fromkeys(tokens.skipped))}")
        if unplaced:
            warnings.append(f"words with no alignable character, placed next to their neighbour: {' '.join(unplaced)}")
        return Transcription(
            text=join_words(words), language=target.code, duration=item.duration, source=item.source,
            segments=group_segments(words, opts.segments, keep_words=True), warnings=tuple(warnings),
        )

    def align_segments(
        self,
        audio: AudioInput,
        segments: Sequence[Any],
        language: str | None = None,
        sampling_rate: int | None = None,
        options: TranscribeOptions | None = None,
        search: SegmentAlignOptions | None = None,
    ) -> Transcription:
        """Re-time timed text (subtitles, another recogniser's segments) word by word, segment by segment.

        `segments`: TranscriptSegments (`polyasr.read_transcript`), Segments, or mappings/objects
        with start, end (seconds, or both None) and text. Each is aligned inside its own times
        plus a margin (see SegmentAlignOptions); the model runs over those spans only. `language`:
        None uses each segment's own language (else every character), "auto", "detect" (per
        segment) or a code for all. Each result segment keeps its text and gets words and times.
        """
        opts = options or TranscribeOptions()
        detect = language is not None and language.lower() == DETECT
        candidates = self._candidates(opts.language_candidates) if detect else ()
        return align_segments(self, audio, segments, language, sampling_rate, opts, search or SegmentAlignOptions(), candidates)

    def _diarized_iter(
        self, audios: Iterable[AudioInput], language: str | None, words: bool, sampling_rate: int | None,
        opts: TranscribeOptions, on_progress: ProgressCallback | None,
    ) -> Iterator[Outcome]:
        assert opts.diarization is not None
        key = opts.diarization
        detector = self._detector(key.vad)
        with self._detectors_lock:
            if key not in self._diarizers:
                self._diarizers[key] = Diarizer(detector, key)  # type: ignore[arg-type]
            diarizer = self._diarizers[key]
        sources = [rereadable(audio) for audio in audios]  # decoded once more for the speakers
        plain = replace(opts, diarization=None)
        for source, outcome in zip(sources, self.transcribe_iter(sources, language, True, sampling_rate, plain, on_progress)):
            if outcome.result is None:
                yield outcome
                continue
            try:
                turns = diarizer(source, sampling_rate)
            except PolyasrError as error:
                yield Outcome(outcome.source, None, error)
                continue
            yield Outcome(outcome.source, assign_speakers(outcome.result, turns, keep_words=words), None)

    def _outcome(self, item: InputResult, decoder: Decoder, words: bool, opts: TranscribeOptions) -> Outcome:
        if item.error is not None:
            return Outcome(item.source, None, item.error)
        decoded = decoder.decode(item.value)
        return Outcome(item.source, self._result(decoded, decoder, None, item, words, opts), None)

    def _detected_outcome(
        self, item: InputResult, base: Decoder, words: bool, opts: TranscribeOptions, restrict: bool
    ) -> Outcome:
        """The identified language with its probability; the text restricted to it ("detect") or not ("auto")."""
        if item.error is not None:
            return Outcome(item.source, None, item.error)
        assert item.value is not None
        frames, summary = item.value
        ranked = frames.probabilities(opts.calibration)
        if not ranked:  # no speech: no language, nothing to restrict
            return Outcome(item.source, self._result(base.decode(summary), base, None, item, words, opts), None)
        code, probability = ranked[0]
        if not restrict:
            result = self._result(base.decode(summary), base, probability, item, words, opts)
            return Outcome(item.source, replace(result, language=code), None)
        decoder = self._decoders.decoder(language_target(self.model, code), opts.decoder)
        decoded = decoder.decode(base.restricted_summary(summary, frames, code))
        return Outcome(item.source, self._result(decoded, decoder, probability, item, words, opts), None)

    def _result(
        self, decoded: Decoded, decoder: Decoder, probability: float | None, item: InputResult, words: bool,
        opts: TranscribeOptions,
    ) -> Transcription:
        model = decoder.model
        segments = build_segments(decoded, model.vocabulary, model.frame_seconds, opts.segments, words)
        return Transcription(
            text=decoded.text, language=decoder.language, duration=item.duration, source=item.source, segments=segments,
            language_probability=probability, warnings=(*item.warnings, *decoder.warnings),
        )


def load(
    model: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    threads: int | None = None,
    batch: BatchOptions = BatchOptions(),
) -> Recognizer:
    """Load a model (Hub id or local folder; default $POLYASR_MODEL or the 56-language checkpoint)."""
    return Recognizer(load_ctc_model(model, RuntimeOptions(device=device, dtype=dtype, threads=threads)), batch)


