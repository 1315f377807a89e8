"""Uploads against real servers on 127.0.0.1 (issue 23): a Matroska/WebM declared length, a WAV header
that disagrees with its data, and the spool of all uploads in progress."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from test_server_limits import _raw_upload, serving  # noqa: E402
from audio_factory import remux, silent_flac, without_length  # noqa: E402


@pytest.fixture(scope="module")
def six_hour_mka() -> bytes:
    return remux(silent_flac(6.0), "matroska")  # 6 MB; Matroska declares the length in its segment, not per stream


def test_a_matroska_file_that_declares_six_hours_is_refused_at_once(recognizer, six_hour_mka: bytes) -> None:
    # before: stream.duration is None in Matroska and container.duration was not read: decoded up to
    # the budget, 413 after 21 s with RSS +663 MiB
    with serving(recognizer) as (url, app), httpx.Client(timeout=60) as client:
        started = time.perf_counter()
        response = client.post(f"{url}/v1/audio/transcriptions", files={"file": ("six.mka", six_hour_mka)})
        seconds = time.perf_counter() - started
        assert response.status_code == 413 and response.json()["error"]["code"] == "audio_too_long", response.text
        assert seconds < 1.5 and app.state.batcher.stats().jobs == 0


def _short_header_wav(declared_seconds: float, held_seconds: float, rate: int = 16000) -> bytes:
    samples = (np.random.default_rng(0).standard_normal(int(held_seconds * rate)) * 1000).astype("<i2").tobytes()
    data_bytes = int(declared_seconds * rate) * 2
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data_bytes) + samples)


def test_a_wav_whose_header_declares_less_than_it_holds_gets_a_warning(recognizer, tmp_path: Path) -> None:
    # before: 200 with a 1 s transcript and no warning
    wav = _short_header_wav(1.0, 60.0)
    with serving(recognizer) as (url, _):
        response = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("long.wav", wav)},
                              data={"response_format": "verbose_json"}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["duration"] == pytest.approx(1.0, abs=0.05)
    assert any("'long.wav': the WAV header declares 1.0 s of audio, but the file holds 1.9 MB more" in w
               for w in body["warnings"]), body["warnings"]
    path = tmp_path / "long.wav"
    path.write_bytes(wav)
    assert any("WAV header declares 1.0 s" in w for w in recognizer.transcribe(path).warnings)  # what the CLI prints
    ok = recognizer.transcribe(_short_header_wav(1.0, 1.0))
    assert not ok.warnings


def test_the_spool_of_all_uploads_in_progress_is_bounded(recognizer) -> None:
    # before: up to ~10 GB of /tmp with defaults (100 connections x 100 MB), in no documented ceiling
    with serving(recognizer, max_upload_mb=1, max_spool_mb=1.5, retry_after_seconds=4) as (url, _):
        stalled = _raw_upload(url, sent=900_000, total=1_000_000)  # 0.9 MB held while it stalls
        time.sleep(0.3)
        refused = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("b.wav", b"\0" * 900_000)}, timeout=30)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "4", refused.text
        assert "limit for all of them is 1.5 MB" in refused.json()["error"]["message"]
        stalled.close()
        time.sleep(0.3)
        accepted = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("b.wav", b"\0" * 900_000)}, timeout=30)
        assert accepted.status_code != 503, accepted.text  # (415: zeros are not audio)


def test_a_short_upload_does_not_wait_behind_long_undeclared_ones(recognizer, tmp_path: Path) -> None:
    # before: 10 uploads of undeclared length (4 MB FLAC each) made a 5 s request wait 57.6 s (0.29 s idle):
    # decode slots were FIFO. Now the smallest upload waiting gets the next free slot.
    from concurrent.futures import ThreadPoolExecutor

    from load_clients import wav_bytes

    bomb = without_length(silent_flac(1.0))  # decodes up to the budget
    finished: list[str] = []

    def post(name: str, data: bytes) -> int:
        response = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": (name, data)}, timeout=120)
        finished.append(name)
        return response.status_code

    with serving(recognizer, decode_slots=1, max_audio_seconds=1800) as (url, app), ThreadPoolExecutor(5) as pool:
        long = [pool.submit(post, f"long{i}.flac", bomb) for i in range(4)]
        deadline = time.monotonic() + 20
        while app.state.decode_slots.waiters < 3:  # one decoding, three waiting
            assert time.monotonic() < deadline
            time.sleep(0.01)
        short = pool.submit(post, "short.wav", wav_bytes(5.0))
        assert short.result() == 200 and all(f.result() == 413 for f in long)
    assert finished.index("short.wav") <= 2, finished  # right after the decode that was running (FIFO: last, 4)
