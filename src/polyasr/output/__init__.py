"""The pipeline's last steps: timestamps from CTC frames (characters, words, segments), and results
written as txt, json, srt, vtt, tsv or rttm for the CLI and the server.

Modules:
    timing.py        SegmentOptions; characters, words (score = mean frame probability) and segments
                     cut at pauses, from decoded frames (build_segments, words_from_spans, join_words)
    writers.py       the writer registry: WRITERS, FORMATS, get_writer, get_writers ("srt,json", "all")
    base.py          WriterOptions, ResultWriter (format, write as <stem>.<extension>), timed_texts
    text_formats.py  WriteTXT, WriteJSON, WriteTSV
    subtitles.py     WriteSRT, WriteVTT over the shared cue builder
    cues.py          build_cues, Cue: segments split, wrapped and timed into subtitle cues
    lines.py         text cut into unbreakable atoms and wrapped into lines
    timestamps.py    to_ms, format_timestamp (HH:MM:SS.mmm)
    rttm.py          WriteRTTM: a diarized result's speaker turns
    stems.py         output_stem, output_stems: distinct file names for inputs sharing a stem

Used by other folders: SegmentOptions, build_segments, words_from_spans, join_words, group_segments,
make_word, frame_time (timing); get_writer, get_writers, FORMATS (writers); WriterOptions (base);
output_stems (stems).
"""
