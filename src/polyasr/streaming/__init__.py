"""Live transcription: a growing stream of audio decoded as it arrives, partial text while speech goes
on and final segments at pauses. Used by the server's WebSocket route and `polyasr listen`; it runs
the Recognizer's model and decoder over a bounded buffer, not the whole-file engine.

Modules:
    session.py  StreamingSession (feed samples, get partial and final events; finish), StreamingOptions,
                PcmDecoder (raw PCM bytes at any rate -> 16 kHz float32), PCM_FORMATS, Event

Used by other folders: StreamingSession, StreamingOptions, PcmDecoder, PCM_FORMATS, Event.
"""
