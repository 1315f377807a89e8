"""The Recognizer: audio in, Transcription out. Ties audio, model, inference, decoding and timing together.

Every public method takes one `TranscribeOptions` (or keyword settings of its fields, such as
`language="de"`), so that what a call asks for travels as one object; the language choice in it is
resolved against the model once per call (`model.languages.choice_target`).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..align.job import align_segments, align_transcript
from ..align.segments import SegmentAlignOptions
from ..audio.sources import AudioInput
from ..audio.vad import SileroDetector, SpeechDetector, VadOptions
from ..decoding.ctc import Decoded
from ..decoding.engine import Decoder, DecoderCache, GreedyDecoder
from ..decoding.prefix import PrefixTextReducer
from ..decoding.langid import LanguageFrames, LanguageReducer
from ..decoding.options import DecoderOptions
from ..decoding.text_langid import TextLanguageIdentifier, load_text_identifier
from ..diarization import DiarizationOptions, Diarizer, assign_speakers
from ..engine.inference import (
    BatchOptions, InputResult, PairReducer, ProgressCallback, inference_steps, rereadable, run_inference,
)
from ..errors import LanguageError, PolyasrError
from ..language.choice import AUTO, LanguageChoice
from ..model.ctc_model import CTCModel, load_ctc_model
from ..model.languages import choice_target, identification_table, language_target, resolve_code
from ..model.runtime import RuntimeOptions
from ..options import TranscribeOptions
from ..output.timing import build_segments
from ..results import Transcription
from .multi import multi_result, remembered


TextCallback = Callable[[int, str], None]  # on_text(input index, its text so far): see Recognizer.transcribe_steps


@dataclass(frozen=True)
class Outcome:
    """What became of one input of `Recognizer.transcribe_iter`: a result or the error it raised."""

    source: str
    result: Transcription | None
    error: PolyasrError | None


class Recognizer:
    """Speech recognition with one CTC model. Create it with `polyasr.load()`.

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
        self._detectors_lock = threading.Lock()  # guards the detector, diarizer and text identifier caches
        self._diarizers: dict[DiarizationOptions, Diarizer] = {}
        self._decoders = DecoderCache()  # beam searches and language models, loaded on first use
        self._text_identifier: tuple[TextLanguageIdentifier | None] | None = None  # loaded on first use

    def text_identifier(self) -> TextLanguageIdentifier | None:
        """The transcript-text language identifier language identification fuses in (None without py3langid)."""
        with self._detectors_lock:
            if self._text_identifier is None:
                self._text_identifier = (load_text_identifier(),)
            return self._text_identifier[0]

    def language_reducer(self, codes: Sequence[str], keep_frames: bool = True) -> LanguageReducer:
        """The one LanguageReducer of language identification over `codes` (acoustic and text evidence)."""
        table, vocabulary = identification_table(self.model), self.model.vocabulary
        return LanguageReducer(table, vocabulary.blank_id, codes, keep_frames, vocabulary, self.text_identifier())

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

    def resolve_language(self, language: str) -> str:
        """The model's code for a language ("de", "deu", "German"); LanguageError when the model cannot take it."""
        return resolve_code(self.model, language)

    def decoder(self, language: LanguageChoice = AUTO, options: DecoderOptions = DecoderOptions()) -> Decoder:
        """The decoder (strategy + language filter) for "auto" or a language (not "detect")."""
        target = choice_target(self.model, language)
        if target is None:
            raise PolyasrError("a decoder is made for 'auto' or a language; 'detect' chooses one per input")
        return self._decoders.decoder(target, options)

    def _candidates(self, candidates: Sequence[str] | None) -> tuple[str, ...]:
        table = identification_table(self.model)
        return tuple(dict.fromkeys(table.resolve(c) for c in candidates)) if candidates else tuple(table.codes())

    def detect_language(
        self, audio: AudioInput, options: TranscribeOptions | None = None, *, top: int | None = 5,
        sampling_rate: int | None = None, **settings: Any,
    ) -> list[tuple[str, float]]:
        """The most probable spoken languages as (code, probability), best first; [] without speech.

        `options.language_candidates` (or `language_candidates=`) restricts the choice.
        """
        opts = _options(options, settings)
        (item,) = self.detect_language_iter([audio], opts, sampling_rate=sampling_rate)
        if item.error is not None:
            raise item.error
        assert item.value is not None
        ranked = item.value.probabilities(opts.calibration)
        return ranked[:top] if top is not None else ranked

    def detect_language_iter(
        self, audios: Iterable[AudioInput], options: TranscribeOptions | None = None, *,
        sampling_rate: int | None = None, on_progress: ProgressCallback | None = None, **settings: Any,
    ) -> Iterator[InputResult[LanguageFrames]]:
        """Per input, the frames language identification needs (see LanguageFrames.probabilities)."""
        opts = _options(options, settings)
        codes = self._candidates(opts.language_candidates)
        self.text_identifier()  # loaded before the workers need it
        return run_inference(
            self.model, audios, lambda: self.language_reducer(codes), opts.windows, self.batch,
            sampling_rate, self._detector(opts.vad), on_progress,
        )

    def transcribe(
        self, audio: AudioInput, options: TranscribeOptions | None = None, *, sampling_rate: int | None = None,
        on_progress: ProgressCallback | None = None, **settings: Any,
    ) -> Transcription:
        """Transcribe one input of any length: a path, bytes, a binary file object, or an array with its rate.

        `rec.transcribe("talk.mp3", language="de", word_timestamps=True)` is short for
        `rec.transcribe("talk.mp3", TranscribeOptions(language="de", word_timestamps=True))`.
        """
        return self.transcribe_batch([audio], options, sampling_rate=sampling_rate, on_progress=on_progress, **settings)[0]

    def transcribe_batch(
        self, audios: Sequence[AudioInput], options: TranscribeOptions | None = None, *,
        sampling_rate: int | None = None, on_progress: ProgressCallback | None = None, **settings: Any,
    ) -> list[Transcription]:
        """Transcribe several inputs sharing batches; raises the first failing input's error."""
        results = []
        for outcome in self.transcribe_iter(audios, options, sampling_rate=sampling_rate, on_progress=on_progress, **settings):
            if outcome.error is not None:
                raise outcome.error
            assert outcome.result is not None
            results.append(outcome.result)
        return results

    def transcribe_iter(
        self, audios: Iterable[AudioInput], options: TranscribeOptions | None = None, *,
        sampling_rate: int | None = None, on_progress: ProgressCallback | None = None, **settings: Any,
    ) -> Iterator[Outcome]:
        """Transcribe inputs lazily, in input order; a bad input yields an Outcome with its error
        (`transcribe_steps` without its pass markers)."""
        steps = self.transcribe_steps(audios, options, sampling_rate=sampling_rate, on_progress=on_progress, **settings)
        return (outcome for outcome in steps if outcome is not None)

    def transcribe_steps(
        self, audios: Iterable[AudioInput], options: TranscribeOptions | None = None, *,
        sampling_rate: int | None = None, on_progress: ProgressCallback | None = None,
        on_text: TextCallback | None = None, **settings: Any,
    ) -> Iterator[Outcome | None]:
        """Transcribe inputs lazily, in input order; a bad input yields an Outcome with its error.
        None is yielded after every forward pass (`engine.inference_steps`): a scheduler advancing
        it with `next()` gets control back once per pass, and may `close()` it to stop.

        The language is checked before any audio is decoded, so a bad language raises at once.
        "auto" decodes with every token of the vocabulary and, when the model has a language
        table, also reports the language it identifies from the same frames (`result.language`,
        `result.language_probability`); "detect" then restricts the text to that language. With
        `diarization`, each input is decoded again to find its speakers, and segments are split
        where the speaker changes. `on_progress(source, seconds done, seconds total)` follows each input.
        `on_text(input index, text)`: with greedy decoding (not "detect", not diarized), each time an
        input's text decoded so far grows; every such text is a prefix of its final text.
        """
        opts = _options(options, settings)
        if opts.diarization is not None:
            return self._diarized_iter(audios, opts, sampling_rate, on_progress)
        detector = self._detector(opts.vad)
        target = choice_target(self.model, opts.choice)
        decoder = None if target is None else self._decoders.decoder(target, opts.decoder)
        table = self.model.language_table
        identify = decoder is None or (decoder.language is None and table is not None and bool(table.codes()))
        if identify:
            restrict = decoder is None  # "detect" and "multi": the text is restricted to the language found
            if opts.choice.is_multi and self.model.adapters is not None:
                raise LanguageError(f"model '{self.model.name}' has per-language adapters: each language needs its own "
                                    "forward pass, so language 'multi' cannot decode its stretches from one")
            base = decoder or self._decoders.decoder(language_target(self.model, None), opts.decoder)
            codes = self._candidates(opts.language_candidates)
            self.text_identifier()
            texts = _text_reducers(base, None if restrict else on_text)
            kept: deque[AudioInput] = deque()  # "multi": each input again, for its second pass
            found = inference_steps(
                self.model, remembered(audios, kept) if opts.choice.is_multi else audios,
                lambda: PairReducer(self.language_reducer(codes, keep_frames=restrict), texts()),
                opts.windows, self.batch, sampling_rate, detector, on_progress,
            )
            if opts.choice.is_multi:
                return (None if item is None else self._multi_outcome(item, kept.popleft(), base, opts, codes, sampling_rate,
                                                                      detector) for item in found)
            return (None if item is None else self._detected_outcome(item, base, opts, restrict) for item in found)
        assert decoder is not None
        results = inference_steps(
            decoder.model, audios, _text_reducers(decoder, on_text), opts.windows, self.batch, sampling_rate, detector,
            on_progress,
        )
        return (None if r is None else self._outcome(r, decoder, opts) for r in results)

    def align(
        self, audio: AudioInput, transcript: str, options: TranscribeOptions | None = None, *,
        sampling_rate: int | None = None, on_progress: ProgressCallback | None = None, **settings: Any,
    ) -> Transcription:
        """Times of every word of a known `transcript` in `audio` (CTC forced alignment).

        With a language, the text is matched to that language's characters only. Characters the
        model lacks are skipped and reported in `result.warnings`; so are words left with none.
        """
        opts = _options(options, settings)
        return align_transcript(self.model, self.batch, audio, transcript, opts, self._detector(opts.vad),
                                sampling_rate, on_progress)

    def align_segments(
        self, audio: AudioInput, segments: Sequence[Any], options: TranscribeOptions | None = None, *,
        search: SegmentAlignOptions | None = None, sampling_rate: int | None = None, **settings: Any,
    ) -> Transcription:
        """Re-time timed text (subtitles, another recogniser's segments) word by word, segment by segment.

        `segments`: TranscriptSegments (`polyasr.read_transcript`), Segments, or mappings/objects
        with start, end (seconds, or both None) and text. Each is aligned inside its own times
        plus a margin (see SegmentAlignOptions); the model runs over those spans only. The
        language: not chosen (None) uses each segment's own language (else every character);
        "auto", "detect" (per segment) or a language applies to all. Each result segment keeps
        its text and gets words and times.
        """
        opts = _options(options, settings)
        detect = opts.language is not None and opts.language.identifies
        candidates = self._candidates(opts.language_candidates) if detect else ()
        return align_segments(self.model, self.batch, audio, segments, opts, search or SegmentAlignOptions(),
                              sampling_rate, candidates, detector=self._detector(opts.vad),
                              text_identifier=self.text_identifier() if detect else None)

    def _diarized_iter(
        self, audios: Iterable[AudioInput], opts: TranscribeOptions, sampling_rate: int | None,
        on_progress: ProgressCallback | None,
    ) -> Iterator[Outcome]:
        key = opts.diarization
        assert key is not None
        detector = self._detector(key.vad)
        with self._detectors_lock:
            if key not in self._diarizers:
                self._diarizers[key] = Diarizer(detector, key)  # type: ignore[arg-type]
            diarizer = self._diarizers[key]
        sources = [rereadable(audio) for audio in audios]  # decoded once more for the speakers
        plain = replace(opts, diarization=None, word_timestamps=True)
        outcomes = self.transcribe_iter(sources, plain, sampling_rate=sampling_rate, on_progress=on_progress)
        for source, outcome in zip(sources, outcomes):
            if outcome.result is None:
                yield outcome
                continue
            try:
                turns = diarizer(source, sampling_rate)
            except PolyasrError as error:
                yield Outcome(outcome.source, None, error)
                continue
            yield Outcome(outcome.source, assign_speakers(outcome.result, turns, keep_words=opts.word_timestamps), None)

    def _outcome(self, item: InputResult, decoder: Decoder, opts: TranscribeOptions) -> Outcome:
        if item.error is not None:
            return Outcome(item.source, None, item.error)
        decoded = decoder.decode(item.value)
        return Outcome(item.source, self._result(decoded, decoder, None, item, opts), None)

    def _detected_outcome(self, item: InputResult, base: Decoder, opts: TranscribeOptions, restrict: bool) -> Outcome:
        """The identified language with its probability; the text restricted to it ("detect") or not ("auto")."""
        if item.error is not None:
            return Outcome(item.source, None, item.error)
        assert item.value is not None
        frames, summary = item.value
        ranked = frames.probabilities(opts.calibration)
        if not ranked:  # no speech: no language, nothing to restrict
            return Outcome(item.source, self._result(base.decode(summary), base, None, item, opts), None)
        code, probability = ranked[0]
        if not restrict:
            result = self._result(base.decode(summary), base, probability, item, opts)
            return Outcome(item.source, replace(result, language=code), None)
        decoder = self._decoders.decoder(language_target(self.model, code), opts.decoder)
        decoded = decoder.decode(base.restricted_summary(summary, frames, code))
        return Outcome(item.source, self._result(decoded, decoder, probability, item, opts), None)

    def _multi_outcome(
        self, item: InputResult, source: AudioInput, base: Decoder, opts: TranscribeOptions, codes: Sequence[str],
        sampling_rate: int | None, detector: SpeechDetector | None,
    ) -> Outcome:
        """Language "multi" (recognizer/multi.py): every segment carries its own language and probability."""
        if item.error is not None:
            return Outcome(item.source, None, item.error)
        assert item.value is not None
        try:
            result = multi_result(self, item, source, base, opts, codes, sampling_rate, detector)
        except PolyasrError as error:  # the second pass reads the input again
            return Outcome(item.source, None, error)
        if result is None:  # no speech
            return Outcome(item.source, self._result(base.decode(item.value[1]), base, None, item, opts), None)
        return Outcome(item.source, result, None)

    def _result(
        self, decoded: Decoded, decoder: Decoder, probability: float | None, item: InputResult, opts: TranscribeOptions,
    ) -> Transcription:
        model = decoder.model
        segments = build_segments(decoded, model.vocabulary, model.frame_seconds, opts.segments, opts.word_timestamps,
                                  item.duration, decoder.word_score)
        return Transcription(
            text=decoded.text, language=decoder.language, duration=item.duration, source=item.source, segments=segments,
            language_probability=probability, warnings=(*item.warnings, *decoder.warnings),
        )


def _text_reducers(decoder: Decoder, on_text: TextCallback | None) -> Callable[[], Any]:
    """`decoder.reducer`; with `on_text` and greedy decoding, each input's reducer also reports its text so far."""
    if on_text is None or not isinstance(decoder, GreedyDecoder):
        return decoder.reducer
    inputs = itertools.count()

    def make() -> PrefixTextReducer:
        index = next(inputs)
        return PrefixTextReducer(decoder.reducer(), decoder.vocabulary, lambda text: on_text(index, text))

    return make


def _options(options: TranscribeOptions | None, settings: dict[str, Any]) -> TranscribeOptions:
    if options is not None and not isinstance(options, TranscribeOptions):
        raise TypeError(f"options must be TranscribeOptions, not {type(options).__name__} "
                        "(pass the language as language=...)")
    return (options or TranscribeOptions()).with_settings(**settings)


def load(
    model: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    threads: int | None = None,
    batch: BatchOptions = BatchOptions(),
) -> Recognizer:
    """Load a model (Hub id or local folder; default $POLYASR_MODEL or the 56-language checkpoint)."""
    return Recognizer(load_ctc_model(model, RuntimeOptions(device=device, dtype=dtype, threads=threads)), batch)
