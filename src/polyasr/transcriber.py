"""The Recognizer: audio in, Transcription out. Ties audio.py, model.py and decoding.py together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np

from .audio import SAMPLE_RATE, AudioInput, load_audio, source_name
from .batching import plan_batches
from .decoding import greedy_decode
from .errors import LanguageError, PolyasrError
from .model import CTCModel, load_ctc_model
from .results import Transcription
from .runtime import Runtime, RuntimeOptions

AUTO = "auto"  # decode with every token of the vocabulary (the card's `predict`)


@dataclass(frozen=True)
class BatchOptions:
    """How inputs are grouped into forward passes."""

    batch_seconds: float = 160.0  # padded audio seconds per forward pass (batch size x longest input)
    max_batch_size: int = 32  # inputs per forward pass at most
    files_in_flight: int = 32  # files decoded ahead of the model (bounds memory for many files)


@dataclass(frozen=True)
class Outcome:
    """What became of one input of `Recognizer.transcribe_iter`: a result or the error it raised."""

    source: str
    result: Transcription | None
    error: PolyasrError | None


class Recognizer:
    """Speech recognition with one wav2vec2 CTC model. Create it with `polyasr.load()`."""

    def __init__(self, model: CTCModel, batch: BatchOptions = BatchOptions()) -> None:
        self.model = model
        self.batch = batch

    @property
    def runtime(self) -> Runtime:
        """Device, dtype and threads the model runs with."""
        return self.model.runtime

    def languages(self) -> list[str]:
        """Codes of the languages decoding can be restricted to."""
        table = self.model.language_table
        return table.codes() if table is not None else []

    def resolve_language(self, language: str | None) -> str | None:
        """The table's code for `language`, or None for "auto" (unrestricted decoding)."""
        if language is None or language.lower() == AUTO:
            return None
        if self.model.language_table is None:
            raise LanguageError(
                f"model '{self.model.name}' ships no lang_ids.json or lang_ids.pk, so decoding cannot be "
                f"restricted to '{language}'; use language='auto'"
            )
        return self.model.language_table.resolve(language)

    def transcribe(self, audio: AudioInput, language: str | None = AUTO, sampling_rate: int | None = None) -> Transcription:
        """Transcribe one input: a path, bytes, a binary file object, or a numpy array with `sampling_rate`."""
        return self.transcribe_batch([audio], language=language, sampling_rate=sampling_rate)[0]

    def transcribe_batch(
        self, audios: Sequence[AudioInput], language: str | None = AUTO, sampling_rate: int | None = None
    ) -> list[Transcription]:
        """Transcribe several inputs in length-grouped batches; raises the first input's error, if any."""
        results = []
        for outcome in self.transcribe_iter(audios, language=language, sampling_rate=sampling_rate):
            if outcome.error is not None:
                raise outcome.error
            assert outcome.result is not None
            results.append(outcome.result)
        return results

    def transcribe_iter(
        self, audios: Iterable[AudioInput], language: str | None = AUTO, sampling_rate: int | None = None
    ) -> Iterator[Outcome]:
        """Transcribe inputs lazily, in input order; a bad input yields an Outcome with its error.

        The language is checked before anything is decoded, so a bad language raises at once.
        """
        code = self.resolve_language(language)
        allowed = None if code is None else self.model.language_table.token_ids(code)  # type: ignore[union-attr]
        return self._iter_outcomes(audios, code, allowed, sampling_rate)

    def _iter_outcomes(
        self, audios: Iterable[AudioInput], code: str | None, allowed: np.ndarray | None, sampling_rate: int | None
    ) -> Iterator[Outcome]:
        group: list[tuple[str, np.ndarray | PolyasrError]] = []
        for audio in audios:
            name = source_name(audio)
            try:
                group.append((name, load_audio(audio, sampling_rate)))
            except PolyasrError as error:
                group.append((name, error))
            if len(group) == self.batch.files_in_flight:
                yield from self._transcribe_group(group, code, allowed)
                group = []
        yield from self._transcribe_group(group, code, allowed)

    def _transcribe_group(
        self, group: list[tuple[str, np.ndarray | PolyasrError]], code: str | None, allowed: np.ndarray | None
    ) -> Iterator[Outcome]:
        loaded = [i for i, (_, item) in enumerate(group) if isinstance(item, np.ndarray)]
        arrays = [group[i][1] for i in loaded]
        logits: dict[int, np.ndarray] = {}
        max_samples = max(1, int(self.batch.batch_seconds * SAMPLE_RATE))
        for batch in plan_batches([len(a) for a in arrays], max_samples, self.batch.max_batch_size):
            for position, output in zip(batch, self.model.logits([arrays[b] for b in batch])):  # type: ignore[misc]
                logits[loaded[position]] = output
        for index, (name, item) in enumerate(group):
            if isinstance(item, PolyasrError):
                yield Outcome(source=name, result=None, error=item)
                continue
            decoded = greedy_decode(logits[index], self.model.vocabulary, allowed)
            result = Transcription(text=decoded.text, language=code, duration=len(item) / SAMPLE_RATE, source=name)
            yield Outcome(source=name, result=result, error=None)


def load(
    model: str | None = None,
    device: str = "auto",
    dtype: str = "auto",
    threads: int | None = None,
    batch: BatchOptions = BatchOptions(),
) -> Recognizer:
    """Load a model (Hub id or local folder; default $POLYASR_MODEL or the 56-language checkpoint)."""
    return Recognizer(load_ctc_model(model, RuntimeOptions(device=device, dtype=dtype, threads=threads)), batch)
