"""polyasr: multilingual speech recognition with one wav2vec2 CTC model for 56 languages.

    import polyasr
    rec = polyasr.load()                  # voidful/wav2vec2-xlsr-multilingual-56, or $POLYASR_MODEL
    result = rec.transcribe("talk.mp3", language="fr")   # or "auto", or "detect"
    options = polyasr.TranscribeOptions(language="de", word_timestamps=True)
    rec.transcribe("talk.mp3", options)                  # one options object per call
    rec.detect_language("talk.mp3", top=3)
    rec.align("talk.mp3", "known transcript", language="fr").words
    rec.align_segments("talk.mp3", polyasr.read_transcript("talk.srt"))   # re-timed subtitles
    rec.transcribe("meeting.m4a", diarization=polyasr.DiarizationOptions())   # segments and words get .speaker

The pipeline, one folder per stage (see ARCHITECTURE.md): audio/ -> model/ -> engine/ ->
decoding/ -> output/ (segments, writers), with language/, align/, diarization/ beside it;
recognizer/ ties them together for every entry point: cli/, server/, streaming/, evaluation/,
batch/, training/.
"""

from .align.segments import SegmentAlignOptions
from .align.transcripts import TranscriptSegment, read_transcript
from .audio.decode import SAMPLE_RATE, load_audio
from .audio.vad import VadOptions
from .decoding.langid import LanguageCalibration
from .decoding.options import DecoderOptions
from .diarization import DiarizationOptions
from .engine.inference import BatchOptions
from .engine.windows import WindowOptions
from .errors import (
    AlignmentError,
    AudioError,
    AudioNotFoundError,
    AudioTooLongError,
    BatchJobError,
    CorruptAudioError,
    EmptyAudioError,
    HubUnreachableError,
    LanguageError,
    LanguageTableError,
    ModelLoadError,
    OptionsError,
    PolyasrError,
    TranscriptError,
    UnsupportedAudioError,
)
from .language.normalize import normalize_text
from .model.ctc_model import DEFAULT_MODEL
from .model.facts import ModelFacts
from .output.timing import SegmentOptions
from .options import TranscribeOptions
from .recognizer import Outcome, Recognizer, load
from .results import Char, Segment, SpeakerTurn, Transcription, Word
from .version import VERSION

__all__ = [
    "DEFAULT_MODEL",
    "SAMPLE_RATE",
    "AlignmentError",
    "AudioError",
    "AudioNotFoundError",
    "AudioTooLongError",
    "BatchJobError",
    "BatchOptions",
    "Char",
    "CorruptAudioError",
    "DecoderOptions",
    "DiarizationOptions",
    "EmptyAudioError",
    "HubUnreachableError",
    "LanguageCalibration",
    "LanguageError",
    "LanguageTableError",
    "ModelFacts",
    "ModelLoadError",
    "OptionsError",
    "Outcome",
    "PolyasrError",
    "Recognizer",
    "Segment",
    "SegmentAlignOptions",
    "SegmentOptions",
    "SpeakerTurn",
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
    "normalize_text",
    "read_transcript",
]
__version__ = VERSION
