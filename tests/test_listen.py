"""`polyasr listen`: the error without a sound device, and the printing with a fake audio source."""

from __future__ import annotations

import argparse
import io
import json
from typing import Iterator

import numpy as np
import pytest

from audio_factory import voiced
from polyasr.cli.listen import LivePrinter, add_listen_arguments, run_listen, timestamp
from polyasr.streaming.events import FinalEvent, PartialEvent, StreamSegment


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_listen_arguments(parser)
    return parser.parse_args(list(argv))


class FakeSource:
    """Yields an array in blocks at its rate; optionally 'presses Ctrl-C' after the last block."""

    name = "fake input"

    def __init__(self, samples: np.ndarray, sample_rate: int, interrupt: bool) -> None:
        self.samples, self.sample_rate, self.interrupt = samples, sample_rate, interrupt
        self.closed = False

    def blocks(self) -> Iterator[np.ndarray]:
        step = self.sample_rate // 10
        for i in range(0, len(self.samples), step):
            yield self.samples[i : i + step]
        if self.interrupt:
            raise KeyboardInterrupt

    def close(self) -> None:
        self.closed = True


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def has_sound_input() -> bool:
    try:
        import sounddevice

        sounddevice.query_devices(kind="input")
        return True
    except Exception:  # no sounddevice, no PortAudio, or no input device
        return False


def test_without_a_sound_device_it_says_so_in_one_line_and_exits_1() -> None:
    if has_sound_input():
        pytest.skip("this machine has a sound input device")
    err = io.StringIO()
    assert run_listen(parse(), out=io.StringIO(), err=err) == 1
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("polyasr: error: ")
    assert any(word in lines[0] for word in ("PortAudio", "sound input device", "sounddevice"))


def test_a_bad_language_is_a_one_line_error(recognizer) -> None:
    err = io.StringIO()
    source = FakeSource(np.zeros(1600, np.float32), 16_000, False)
    assert run_listen(parse("--language", "xx"), source, recognizer, io.StringIO(), err) == 1
    assert err.getvalue().count("\n") == 1 and "xx" in err.getvalue()


def test_ctrl_c_finalises_and_prints_every_final_on_its_own_line(recognizer) -> None:
    samples = voiced(4.0, rate=44_100)
    source = FakeSource(samples, 44_100, interrupt=True)
    out, err = Terminal(), io.StringIO()
    assert run_listen(parse("--max-buffer-seconds", "2"), source, recognizer, out, err) == 0
    assert source.closed and "listening to fake input (44100 Hz" in err.getvalue()
    text = out.getvalue()
    assert "\r\x1b[K" in text  # partials were rewritten in place
    finals = [line.rsplit("\r\x1b[K", 1)[-1] for line in text.split("\n") if "-->" in line]
    assert len(finals) >= 2 and all(line.startswith("[00:0") for line in finals)
    assert text.endswith("\n")


def test_json_lines_and_no_partials_when_not_a_terminal(recognizer) -> None:
    samples = voiced(1.0)
    out = io.StringIO()
    assert run_listen(parse("--json"), FakeSource(samples, 16_000, False), recognizer, out, io.StringIO()) == 0
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[-1]["type"] == "final" and events[-1]["segment"]["text"]
    plain = io.StringIO()
    run_listen(parse(), FakeSource(samples, 16_000, False), recognizer, plain, io.StringIO())
    assert "\r" not in plain.getvalue() and plain.getvalue().count("\n") == 1


def test_printer_keeps_a_long_partial_on_one_line() -> None:
    out = Terminal()
    printer = LivePrinter(out, live=True, width=20)
    printer.show(PartialEvent("x" * 50, 0.0, 1.0))
    assert out.getvalue() == "…" + "x" * 18
    printer.show(FinalEvent(StreamSegment(id=0, start=3661.5, end=3662.0, text="done", words=())))
    assert out.getvalue().endswith("\r\x1b[K[1:01:01.50 --> 1:01:02.00] done\n")
    assert timestamp(75.25) == "01:15.25"
