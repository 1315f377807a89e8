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
