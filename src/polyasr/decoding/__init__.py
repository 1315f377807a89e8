"""Logits to text: the CTC decoding core, the decoding strategies (greedy, beam search with an
n-gram LM and hotwords) behind one interface, language identification and forced alignment.

    from polyasr.decoding import DecoderOptions, BeamOptions, parse_hotwords
    options = TranscribeOptions(decoder=DecoderOptions("beam", BeamOptions(lm="de.arpa", hotwords=parse_hotwords("Zwickau"))))
    recognizer.transcribe("talk.mp3", language="de", options=options)

    from polyasr.decoding import build_arpa, LmBuildOptions
    build_arpa("corpus_de.txt", "de.arpa", LmBuildOptions(order=4, language="de"))

Modules:
    ctc.py             pure CTC over one utterance's logits (numpy): Vocabulary, frame_tokens (the
                       model card's per-frame choice), collapse_repeats, spans_to_text, spans_to_pieces, GreedyReducer,
                       Decoded, decode_frames, greedy_decode, skipped_logits, stitch_frames
    prefix.py          PrefixTextReducer: the text of an input's frames decoded so far
                       (greedy), always a prefix of its final text
    engine.py          Decoder = strategy + language filter (reducer, decode, decode_logits):
                       GreedyDecoder, BeamDecoder, DecoderCache (searches and LMs per Recognizer)
    filters.py         LanguageFilter: the blank and a language's columns, the card's rule in scores
    frames.py          TopTokensReducer: per frame the best token and the top-k a beam search needs
    beam.py            ctc-beam-decoder search per stretch, its text aligned back to frames; DecoderError
    language_model.py  LM files, and a checkpoint's language_model/ folder
    native_output.py   native_stderr_kept: what C/C++ code prints to fd 2 (KenLM's banner), kept
    lm_build.py        `polyasr lm build`: build_arpa (Kneser-Ney + <unk> on normalised text),
                       LmBuildOptions, LmBuildReport, LanguageModelError
    options.py         DecoderOptions, BeamOptions, Hotword, parse_hotwords, GREEDY, BEAM, STRATEGIES
    langid.py          LanguageReducer, LanguageFrames, LanguageCalibration: spoken-language
                       identification from the same logits, fused with the text's language
    text_langid.py     TextLanguageIdentifier (py3langid restricted to the candidates), text_log_probabilities,
                       load_text_identifier: the language of the unrestricted transcript's text
    transcript_samples.py  sample_frames, sampled_texts: transcripts drawn from the per-frame distributions,
                       whose mean text language is langid's text evidence
    language_spans.py  language "multi": language_spans (where the language changes, from langid's
                       per-frame rows, with a sliding span and hysteresis; language_cuts, then
                       piece_spans over each piece's own frames), SpanOptions, LanguageSpan,
                       frames_between, joined, sliced
    forced_align.py    CTC Viterbi forced alignment of a known token sequence (anchors, banded
                       fallback), pure numpy: forced_align, Alignment

Used by other folders: the names below (__all__); Vocabulary, Decoded, FrameChoices, TokenSpan,
decode_frames, skipped_logits, log_normalizer, stitch_frames (ctc); PrefixTextReducer (prefix); LanguageReducer, LanguageFrames,
LanguageCalibration (langid); TextLanguageIdentifier, load_text_identifier (text_langid); language_spans,
frames_between, sliced, language_cuts, piece_spans (language_spans); forced_align, Alignment (forced_align).
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
