"""polyasr: multilingual speech recognition with one wav2vec2 CTC model for 56 languages.

    import polyasr
    rec = polyasr.load()                  # voidful/wav2vec2-xlsr-multilingual-56, or $POLYASR_MODEL
    result = rec.transcribe("talk.mp3", language="fr")   # or "auto", or "detect"
    rec.detect_language("talk.mp3", top=3)
    rec.align("talk.mp3", "known transcript", language="fr").words
    rec.align_segments("talk.mp3", polyasr.read_transcript("talk.srt"))   # re-timed subtitles
    rec.transcribe("meeting.m4a", diarize=True)                          # segments and words get .speaker
"""

from .audio import SAMPLE_RATE, load_audio
from .errors import (
    AlignmentError,
    AudioError,
    AudioNotFoundError,
    CorruptAudioError,
    EmptyAudioError,
    HubUnreachableError,
    LanguageError,
    LanguageTableError,
    ModelLoadError,
    PolyasrError,
    TranscriptError,
    UnsupportedAudioError,
)
from .langid import LanguageCalibration
from .model import DEFAULT_MODEL
from .model_facts import ModelFacts
from .normalize import normalize_text
from .inference import BatchOptions
from .results import Char, Segment, Transcription, Word
from .segment_align import SegmentAlignOptions
from .transcripts import TranscriptSegment, read_transcript
from .timing import SegmentOptions
from .transcriber import Outcome, Recognizer, TranscribeOptions, load
from .vad import VadOptions
from .windows import WindowOptions

__all__ = [
    "DEFAULT_MODEL",
    "SAMPLE_RATE",
    "AudioError",
    "AlignmentError",
    "AudioNotFoundError",
    "BatchOptions",
    "Char",
    "CorruptAudioError",
    "EmptyAudioError",
    "HubUnreachableError",
    "LanguageCalibration",
    "LanguageError",
    "LanguageTableError",
    "ModelFacts",
    "ModelLoadError",
    "Outcome",
    "PolyasrError",
    "Recognizer",
    "Segment",
    "SegmentAlignOptions",
    "SegmentOptions",
    "TranscribeOptions",
    "TranscriptError",
    "TranscriptSegment",
    "Transcription",
    "UnsupportedAudioError",
    "VadOptions",
    "WindowOptions",
    "Word",
    "load",
    "load_audio",
    "read_transcript",
    "normalize_text",
]
__version__ = "0.1.0"
