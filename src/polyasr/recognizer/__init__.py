"""The Recognizer: the one object every entry point calls (CLI, server, streaming, evaluation, batch jobs).

    rec = polyasr.load()
    rec.transcribe("talk.mp3", TranscribeOptions(language="de", word_timestamps=True))

Owns: a loaded model with its caches (speech detectors, diarizers, beam searches), and the choice
of reducers and decoders for one call's `TranscribeOptions`. Inference, decoding, alignment and
diarization are the folders below it.

Modules:
    recognizer.py  Recognizer (transcribe, transcribe_batch, transcribe_iter, detect_language, align,
                   align_segments, decoder), Outcome, load
    multi.py       language "multi": the first pass's cuts, each piece run through the model alone
                   (a second pass), judged and decoded on its own frames (multi_result)

Used by other folders: Recognizer, load, Outcome (re-exported here, with TranscribeOptions).
"""

from ..options import TranscribeOptions
from .recognizer import Outcome, Recognizer, load

__all__ = ["Outcome", "Recognizer", "TranscribeOptions", "load"]
