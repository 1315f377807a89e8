"""Live transcription: a growing stream of audio decoded as it arrives, partial text while speech goes
on and final segments at pauses. Used by the server's WebSocket route and `polyasr listen`; it runs
the Recognizer's model and decoder over a bounded buffer, not the whole-file engine.

    session = polyasr.streaming.StreamingSession(rec, language="de")
    for event in session.feed(samples_16k): print(event.to_json())   # PartialEvent / FinalEvent
    session.finish()

Modules:
    session.py  StreamingSession (feed samples, get partial and final events; finish; or begin_update /
                end_update around a shared pass), StreamingOptions, Update
    endpoint.py EndpointOptions, EnergyEndpoint: a pause of the audio's level ends a segment
    passes.py   update_together: the due updates of many sessions in shared forward passes
    pcm.py      PcmDecoder (raw PCM bytes at any rate -> 16 kHz float32), PCM_FORMATS
    events.py   the typed events (PartialEvent, FinalEvent with StreamSegment and StreamWord,
                ReadyEvent, DoneEvent, ErrorEvent), each with to_json(): the WebSocket's messages

Used by other folders: StreamingSession, StreamingOptions, EndpointOptions, update_together, PcmDecoder,
PCM_FORMATS and the events.
"""

from .events import DoneEvent, ErrorEvent, Event, FinalEvent, PartialEvent, ReadyEvent, StreamSegment, StreamWord
from .endpoint import EndpointOptions
from .passes import update_together
from .pcm import PCM_FORMATS, PcmDecoder
from .session import StreamingOptions, StreamingSession

__all__ = [
    "PCM_FORMATS", "DoneEvent", "EndpointOptions", "ErrorEvent", "Event", "FinalEvent", "PartialEvent", "PcmDecoder", "ReadyEvent",
    "StreamSegment", "StreamWord", "StreamingOptions", "StreamingSession", "update_together",
]
