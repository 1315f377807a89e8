"""polyasr: multilingual speech recognition with one wav2vec2 CTC model for 56 languages.

    import polyasr
    rec = polyasr.load()                  # voidful/wav2vec2-xlsr-multilingual-56, or $POLYASR_MODEL
    result = rec.transcribe("talk.mp3", language="fr")
"""

from .audio import SAMPLE_RATE, load_audio
from .errors import (
    AudioError,
    AudioNotFoundError,
    CorruptAudioError,
    EmptyAudioError,
    LanguageError,
    LanguageTableError,
    ModelLoadError,
    PolyasrError,
    UnsupportedAudioError,
)
from .model import DEFAULT_MODEL
from .results import Transcription
from .transcriber import BatchOptions, Outcome, Recognizer, load

__all__ = [
    "DEFAULT_MODEL",
    "SAMPLE_RATE",
    "AudioError",
    "AudioNotFoundError",
    "BatchOptions",
    "CorruptAudioError",
    "EmptyAudioError",
    "LanguageError",
    "LanguageTableError",
    "ModelLoadError",
    "Outcome",
    "PolyasrError",
    "Recognizer",
    "Transcription",
    "UnsupportedAudioError",
    "load",
    "load_audio",
]
__version__ = "0.1.0"
