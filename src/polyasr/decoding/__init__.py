"""Decoding strategies (greedy, beam search with an n-gram LM and hotwords) behind one interface.

    from polyasr.decoding import DecoderOptions, BeamOptions, parse_hotwords
    options = TranscribeOptions(decoder=DecoderOptions("beam", BeamOptions(lm="de.arpa", hotwords=parse_hotwords("Zwickau"))))
    recognizer.transcribe("talk.mp3", language="de", options=options)

    from polyasr.decoding import build_arpa, LmBuildOptions
    build_arpa("corpus_de.txt", "de.arpa", LmBuildOptions(order=4, language="de"))
"""

from .beam import DecoderError
from .engine import Decoder, DecoderCache
from .filters import LanguageFilter
from .lm_build import LanguageModelError, LmBuildOptions, LmBuildReport, build_arpa
from .options import BEAM, GREEDY, BeamOptions, DecoderOptions, Hotword, parse_hotwords

__all__ = [
    "BEAM",
    "GREEDY",
    "BeamOptions",
    "Decoder",
    "DecoderCache",
    "DecoderError",
    "DecoderOptions",
    "Hotword",
    "LanguageFilter",
    "LanguageModelError",
    "LmBuildOptions",
    "LmBuildReport",
    "build_arpa",
    "parse_hotwords",
]
