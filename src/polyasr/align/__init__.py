"""Alignment: known text timed against the audio (`Recognizer.align`, `Recognizer.align_segments`),
by CTC forced alignment (decoding/forced_align.py) of the text's tokens through the model's
emissions.

Modules:
    job.py          align_transcript (one transcript over the whole input) and align_segments
                    (segment languages, the model over the segments' spans, then segments.py)
    segments.py     SegmentAlignOptions; each segment aligned inside its own span plus a margin,
                    a wider search for suspicious ones, untimed runs aligned together
    text.py         a transcript as model tokens (tokenize_transcript), EmissionReducer (the
                    log-probabilities of a few columns), aligned tokens back to the transcript's words
    transcripts.py  read_transcript: SRT, WebVTT, whisper-family JSON or plain text ->
                    TranscriptSegment list

Used by other folders: align_transcript, align_segments (the Recognizer); SegmentAlignOptions,
TranscriptSegment, read_transcript (the package's API and the CLI).
"""
