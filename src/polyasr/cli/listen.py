"""`polyasr listen`: transcribe the microphone live.

Partial text is shown on one updating terminal line, after its lag (seconds from capturing the audio
up to its end to showing it); each final segment gets its own line with its times. Ctrl-C stops: what was said up to then is finalised and printed. The microphone is read
with `sounddevice` (``pip install 'polyasr[listen]'``, which needs the PortAudio library), at the
device's own rate, and resampled to 16 kHz. The audio source is injectable (`AudioSource`), so the
loop runs the same on a file or in tests.
"""

from __future__ import annotations

import argparse
import json
import queue
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any, Iterator, Protocol, TextIO

import numpy as np

from .decoder import add_decoder_arguments, decoder_options
from .groups import add_language_arguments, add_runtime_arguments, runtime_options
from ..errors import PolyasrError
from ..audio.resample import StreamResampler
from ..streaming.events import Event, FinalEvent, PartialEvent
from ..streaming.endpoint import EndpointOptions
from ..streaming.session import StreamingOptions, StreamingSession

if TYPE_CHECKING:
    from ..recognizer import Recognizer

BLOCK_SECONDS = 0.1  # microphone audio per callback


class ListenError(PolyasrError):
    """The microphone cannot be used (no sounddevice, no PortAudio, no input device, ...)."""


class AudioSource(Protocol):
    """Mono float32 blocks at `sample_rate`, until the source ends or Ctrl-C."""

    sample_rate: int
    name: str

    def blocks(self) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...


class Microphone:
    """A sound input device read through sounddevice (imported here, not at module import)."""

    def __init__(self, device: str | int | None = None, sample_rate: int | None = None) -> None:
        try:
            import sounddevice
        except ImportError:
            raise ListenError("listening needs the sounddevice package: pip install 'polyasr[listen]'") from None
        except OSError as error:  # sounddevice imports, but PortAudio is missing
            raise ListenError(f"listening needs the PortAudio library ({error}): install libportaudio2 or portaudio") from None
        self._sd = sounddevice
        try:
            info = sounddevice.query_devices(device, kind="input")
        except (ValueError, sounddevice.PortAudioError) as error:
            if device is None:
                raise ListenError("no sound input device found") from None
            raise ListenError(f"no sound input device {device!r}: {error}") from None
        self.device = device if device is not None else info["index"]
        self.name = str(info["name"])
        self.sample_rate = int(sample_rate or info["default_samplerate"])
        self._queue: queue.Queue[np.ndarray] = queue.Queue()
        self._stream: Any = None

    def blocks(self) -> Iterator[np.ndarray]:
        def callback(indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
            self._queue.put(indata[:, 0].copy())

        try:
            self._stream = self._sd.InputStream(
                device=self.device, samplerate=self.sample_rate, channels=1, dtype="float32",
                blocksize=int(self.sample_rate * BLOCK_SECONDS), callback=callback,
            )
            self._stream.start()
        except self._sd.PortAudioError as error:
            raise ListenError(f"cannot record from {self.name} at {self.sample_rate} Hz: {error}") from None
        while True:
            yield self._queue.get()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


def timestamp(seconds: float) -> str:
    """mm:ss.ss, with hours when needed."""
    minutes, secs = divmod(max(0.0, seconds), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:05.2f}" if hours else f"{minutes:02d}:{secs:05.2f}"


class LivePrinter:
    """Shows events: partials on one rewritten line (terminals only), finals on lines of their own."""

    def __init__(self, out: TextIO, live: bool, as_json: bool = False, width: int = 80) -> None:
        self.out, self.live, self.as_json, self.width = out, live, as_json, max(width, 10)
        self._shown = False  # a partial is on the current line

    def _clear(self) -> None:
        if self._shown:
            self.out.write("\r\x1b[K")
            self._shown = False

    def show(self, event: Event, lag: float | None = None) -> None:
        """Print `event`; `lag`: seconds from capturing the audio up to a partial's end to showing it."""
        if self.as_json:
            self.out.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
        elif isinstance(event, FinalEvent):
            segment = event.segment
            self._clear()
            self.out.write(f"[{timestamp(segment.start)} --> {timestamp(segment.end)}] {segment.text}\n")
        elif isinstance(event, PartialEvent) and self.live:
            self._clear()
            text = event.text if lag is None else f"({lag:.1f} s) {event.text}"
            room = self.width - 1
            if event.text:
                self.out.write(text if len(text) <= room else "…" + text[-(room - 1):])
                self._shown = True
        self.out.flush()

    def close(self) -> None:
        self._clear()
        self.out.flush()


def add_listen_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `polyasr listen`."""
    add_language_arguments(parser, language_help="auto, multi (each utterance's own language, identified when it ends), or a language code or name to restrict decoding to, e.g. de")
    parser.add_argument("--input-device", default=None, help="sound input device: index or part of its name (default: the system's)")
    parser.add_argument("--sample-rate", type=int, default=None, help="recording rate (default: the device's own); resampled to 16 kHz")
    parser.add_argument("--update-seconds", type=float, default=StreamingOptions.update_seconds, help="decode again after this much new audio")
    parser.add_argument("--pause-seconds", type=float, default=StreamingOptions.pause_seconds, help="a pause this long ends a line")
    parser.add_argument("--left-context-seconds", type=float, default=StreamingOptions.context_seconds,
                        help="audio before the new audio that each update decodes again")
    parser.add_argument("--endpoint-seconds", type=float, default=EndpointOptions.silence_seconds,
                        help="silence after speech that ends a line (0: only the model's pauses)")
    parser.add_argument("--max-buffer-seconds", type=float, default=StreamingOptions.max_buffer_seconds, help="longest unfinished line")
    parser.add_argument("--json", action="store_true", help="print every event as a JSON line")
    add_decoder_arguments(parser)
    add_runtime_arguments(parser, batch_seconds=False)


def _device(value: str | None) -> str | int | None:
    return int(value) if value is not None and value.isdigit() else value


def run_listen(args: argparse.Namespace, source: AudioSource | None = None, recognizer: Recognizer | None = None,
               out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run `polyasr listen`; 0 when stopped with Ctrl-C or at the source's end, 1 on an error."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        options = StreamingOptions(update_seconds=args.update_seconds, pause_seconds=args.pause_seconds,
                                   context_seconds=args.left_context_seconds, max_buffer_seconds=args.max_buffer_seconds,
                                   endpoint=EndpointOptions(silence_seconds=args.endpoint_seconds))
        source = source or Microphone(_device(args.input_device), args.sample_rate)
        resample = StreamResampler(source.sample_rate)
        if recognizer is None:
            from ..recognizer import load

            runtime = runtime_options(args)
            recognizer = load(args.model, runtime.device, runtime.dtype, runtime.threads)
        session = StreamingSession(recognizer, args.language, options, decoder_options(args))
    except (PolyasrError, ValueError) as error:
        print(f"polyasr: error: {error}", file=err)
        return 1
    live = not args.json and out.isatty()
    printer = LivePrinter(out, live, args.json, shutil.get_terminal_size().columns)
    print(f"polyasr: listening to {source.name} ({source.sample_rate} Hz, language {session.language or 'auto'}); "
          "Ctrl-C to stop", file=err)
    started: float | None = None  # when the first block was captured: audio at t s was captured at started + t
    try:
        for block in source.blocks():
            started = time.monotonic() - len(block) / source.sample_rate if started is None else started
            for event in session.feed(resample(block)):
                lag = time.monotonic() - started - event.end if isinstance(event, PartialEvent) else None
                printer.show(event, lag)
        events = session.feed(resample.flush()) + session.finish()
    except KeyboardInterrupt:
        events = session.finish()
    except PolyasrError as error:
        printer.close()
        print(f"polyasr: error: {error}", file=err)
        return 1
    finally:
        source.close()
    for event in events:
        printer.show(event)
    printer.close()
    return 0
