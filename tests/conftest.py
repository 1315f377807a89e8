from __future__ import annotations

from pathlib import Path

import pytest

from model_files import write_real_pickle
from speech import espeak_ng
from tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def recognizer(tiny_model_dir: Path):
    import polyasr

    return polyasr.load(str(tiny_model_dir), device="cpu", dtype="fp32")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Noise clips (the tiny random model emits characters for them) in several containers and rates: the server tests' uploads."""
    import numpy as np

    from audio_factory import MP3, write_audio

    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(3)
    specs = [("a.wav", "pcm_s16le", 16000, 2.0), ("b.flac", "flac", 22050, 1.5), ("c.wav", "pcm_s16le", 8000, 2.5),
             ("d.flac", "flac", 16000, 1.0), ("e.wav", "pcm_s16le", 16000, 3.0), ("f.flac", "flac", 44100, 1.2),
             ("g.wav", "pcm_s16le", 24000, 1.8), ("h.mp3" if MP3 else "h.wav", MP3 or "pcm_s16le", 16000, 2.2)]
    clips = {}
    for name, codec, rate, seconds in specs:
        signal = np.clip(0.3 * rng.standard_normal((1, int(rate * seconds))), -1, 1)
        clips[name.split(".")[0]] = write_audio(folder / name, codec, rate, signal)
    clips["long"] = write_audio(folder / "long.wav", "pcm_u8", 8000, np.clip(0.3 * rng.standard_normal((1, 8000 * 12)), -1, 1))
    (folder / "notes.txt").write_text("this is not audio\n" * 50)
    clips["text"] = folder / "notes.txt"
    return clips


@pytest.fixture(scope="session")
def real_lang_ids_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model's lang_ids.pk, rebuilt byte for byte from tests/data/lang_ids.json."""
    return write_real_pickle(tmp_path_factory.mktemp("real-table") / "lang_ids.pk")


@pytest.fixture(scope="session")
def espeak() -> str:
    """The espeak-ng program, installed with apt when missing; the test is skipped with the reason otherwise."""
    program, why = espeak_ng()
    if program is None:
        pytest.skip(why)
    return program
