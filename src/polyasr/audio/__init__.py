"""The pipeline's first step: any audio input (path, bytes, file object, numpy array) becomes
16 kHz mono float32 samples, and, optionally, the stretches of it that hold speech.

Modules:
    decode.py     load_audio (the whole input, under an optional duration budget), stream_audio
                  (fixed-size blocks), numpy input
    resample.py   SAMPLE_RATE (16 kHz), resample (one-shot) and StreamResampler (live audio in
                  pieces), one soxr quality for both
    container.py  PyAV: open a path, bytes or file object, decode its first audio stream to mono at
                  the stream's own rate, skip isolated bad packets, refuse a container that declares
                  more than the budget before decoding
    sources.py    AudioInput (the accepted input types), source_name (what messages call an input),
                  unreadable_error (the error for bytes that do not decode, from their first bytes)
    repairs.py    SampleRepairs: NaN and infinite samples replaced by silence, counted for warnings
    levels.py     AudioStats, LevelMeter, measure_audio: a whole input's length, mean and variance
    prefetch.py   prefetch_audio: load_audio over many inputs in threads, ahead of use, in order
    vad.py        VadOptions, SpeechDetector, SileroDetector (Silero VAD), merge_regions,
                  region_blocks: speech regions, so silence costs no model time

Used by other folders: SAMPLE_RATE, load_audio, stream_audio; resample, StreamResampler; AudioInput, source_name;
SampleRepairs; AudioStats, LevelMeter; prefetch_audio; VadOptions, SpeechDetector, SileroDetector,
merge_regions, region_blocks. Nothing here knows about models or text.
"""
