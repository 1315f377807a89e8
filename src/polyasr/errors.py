"""Exceptions raised by polyasr. Library code raises these; only the CLI prints them.

Every message is one sentence that names the input and says what was expected.
"""

from __future__ import annotations


class PolyasrError(Exception):
    """Base class of every error polyasr raises on purpose."""


class AudioError(PolyasrError):
    """The audio input could not be turned into 16 kHz mono samples."""


class AudioNotFoundError(AudioError, FileNotFoundError):
    """The audio path does not exist or is not a file."""


class UnsupportedAudioError(AudioError):
    """The input is not audio, or holds no audio stream we can decode."""


class EmptyAudioError(AudioError):
    """The input decodes to zero samples."""


class CorruptAudioError(AudioError):
    """The input starts as audio but is truncated or damaged."""


class AudioTooLongError(AudioError):
    """The input decodes to more audio than the caller's limit (decoding stopped there)."""


class LanguageError(PolyasrError, ValueError):
    """An unknown language code, or one whose language table is empty."""


class LanguageTableError(PolyasrError):
    """A language table file (lang_ids.pk / lang_ids.json) is missing, malformed or unsafe."""


class ModelLoadError(PolyasrError):
    """A model or its processor could not be loaded."""


class HubUnreachableError(ModelLoadError):
    """A file had to come from the Hugging Face Hub, which cannot be reached, and is not in the local cache."""


class AlignmentError(PolyasrError):
    """A transcript cannot be aligned to the audio (e.g. more characters than the audio has frames)."""


class OptionsError(PolyasrError, ValueError):
    """An option has a value it cannot take (a window shorter than its context, a zero line width)."""


class TranscriptError(PolyasrError, ValueError):
    """A subtitle or transcript file to align is unreadable or malformed (the message names the line)."""


class BatchJobError(PolyasrError):
    """A batch job cannot start or go on: unreadable inputs, an output folder of another job, no cluster."""
