"""POST /v1/audio/transcriptions with language=multi on a real server (127.0.0.1): a mixed recording of
espeak-ng clips, each segment with its language and probability, split between the clips."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from audio_factory import write_audio  # noqa: E402
from live_server import live_server  # noqa: E402
from polyasr import TranscribeOptions, VadOptions  # noqa: E402
from polyasr.server import BatcherOptions, ServerOptions, create_app  # noqa: E402
from speech import say  # noqa: E402

SR = 16_000


def test_language_multi_gives_every_segment_its_language(recognizer, espeak, tmp_path) -> None:
    gap = np.zeros(SR * 6 // 5, np.float32)
    english, german = say(espeak, "hello world, how are you today", "en"), say(espeak, "guten Morgen, wie geht es dir", "de")
    audio = np.concatenate([gap, english, gap, german, gap])
    path = write_audio(tmp_path / "mixed.wav", "pcm_s16le", SR, audio[None].astype(np.float64))
    # the tiny random model writes characters in silence too: VAD makes the pauses it cuts at
    base = TranscribeOptions(vad=VadOptions(), language_candidates=("en", "de"))
    app = create_app(recognizer, ServerOptions(batcher=BatcherOptions(transcribe=base)))
    with live_server(app) as url, open(path, "rb") as handle:
        response = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("mixed.wav", handle, "audio/wav")},
                              data={"language": "multi", "response_format": "verbose_json"}, timeout=120)
    assert response.status_code == 200, response.text
    segments = response.json()["segments"]
    expected = recognizer.transcribe(str(path), base, language="multi").segments  # the library's own result
    assert [(s["start"], s["end"], s["text"], s["language"], s["language_probability"]) for s in segments] == [
        (s.start, s.end, s.text, s.language, s.language_probability) for s in expected]
    assert all(s["language"] in ("en", "de") and 0 < s["language_probability"] <= 1 for s in segments)
    middle = (len(gap) + len(english) + len(gap) / 2) / SR  # the middle of the pause between the clips
    first_end = (len(gap) + len(english)) / SR
    assert any(s["end"] <= middle for s in segments) and any(s["start"] >= middle for s in segments)
    assert not any(s["start"] < first_end and s["end"] > first_end + len(gap) / SR for s in segments)  # split there
