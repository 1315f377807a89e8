"""``stream=true``: a transcription as OpenAI's server-sent events, sent while the upload is transcribed.

Each event is one SSE ``data:`` line: ``transcript.text.delta`` events whose deltas add up to the
text, then ``transcript.text.done`` with the whole text. With greedy decoding the worker reports
each upload's text so far as its windows finish (`Batcher.submit_transcription(on_text=...)`,
always a prefix of the final text), and a delta goes out for each growth. The response starts
with the first text, so an error before it (a language the model lacks, a full queue, the time
limit) is still an ordinary JSON error response; one after it is an SSE event ``{"type": "error",
"error": {...}}`` (the openai client raises it as an APIError). A client that leaves cancels the
job, which then stops before its next forward pass. Beam search (hotwords, an LM), "detect" and
diarization have no text before the end: their deltas are sent per segment once it is done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, AsyncIterator, Callable, Iterator

from fastapi.responses import StreamingResponse

from .errors import ApiError, error_body

logger = logging.getLogger("polyasr.server")
HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def event(kind: str, **fields: Any) -> str:
    """One server-sent event of `kind` (transcript.text.delta, transcript.text.done, error)."""
    return "data: " + json.dumps({"type": kind, **fields}, ensure_ascii=False) + "\n\n"


def result_events(result: Any) -> Iterator[str]:
    """A finished result's events: a delta per segment (the deltas add up to the text), then done."""
    text, position = result.text, 0
    for segment in result.segments:
        found = text.find(segment.text, position) if segment.text else -1
        if found < 0:
            continue
        end = found + len(segment.text)
        yield event("transcript.text.delta", delta=text[position:end])
        position = end
    if position < len(text):
        yield event("transcript.text.delta", delta=text[position:])
    yield event("transcript.text.done", text=text)


def events_response(events: Iterator[str] | AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream", headers=HEADERS)


class TextFeed:
    """The texts so far that the worker thread reports for one job, handed to the event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.texts: asyncio.Queue[str] = asyncio.Queue()

    def __call__(self, text: str) -> None:  # on the worker thread
        self.loop.call_soon_threadsafe(self.texts.put_nowait, text)

    async def first(self, result: "asyncio.Future[Any]") -> bool:
        """Wait until the first text or the result: True when a text came first (it stays queued)."""
        text = asyncio.ensure_future(self.texts.get())
        try:
            await asyncio.wait({text, result}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            text.cancel()
        if text.done() and not text.cancelled():
            self.texts.put_nowait(text.result())  # a queue of one reader: put back in front
            return not result.done()
        return False

    async def live(self, job: "asyncio.Future[Any]", end: float,
                   api_error: Callable[[BaseException], ApiError], on_done: Callable[[Any], None]) -> AsyncIterator[str]:
        """Deltas as the texts come, then the rest of the final text and done; an error event if the job
        fails or passes the deadline `end` (time.monotonic()). Leaving early cancels the job."""
        sent = ""
        try:
            while not job.done():
                text = asyncio.ensure_future(self.texts.get())
                try:
                    await asyncio.wait({text, job}, timeout=max(end - time.monotonic(), 0.0),
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    text.cancel()
                if text.done() and not text.cancelled() and text.result().startswith(sent):
                    delta, sent = text.result()[len(sent):], text.result()
                    if delta:
                        yield event("transcript.text.delta", delta=delta)
                if not job.done() and time.monotonic() >= end:
                    raise asyncio.TimeoutError
            result = job.result()
        except asyncio.TimeoutError:
            error = ApiError(408, "the request took longer than the server's time limit", "timeout")
            yield event("error", **error_body(error.status, error.message, error.code))
            return
        except Exception as failure:  # noqa: BLE001 - the job's error, as the JSON response would carry it
            error = api_error(failure)
            yield event("error", **error_body(error.status, error.message, error.code, error.param))
            return
        finally:
            job.cancel()  # a no-op once done; otherwise the worker stops before its next pass
        on_done(result)
        if not result.text.startswith(sent):  # cannot happen with greedy decoding; say so if it does
            logger.error("a streamed transcription's final text does not continue what was sent")
        elif len(result.text) > len(sent):
            yield event("transcript.text.delta", delta=result.text[len(sent):])
        yield event("transcript.text.done", text=result.text)
