from __future__ import annotations

from pathlib import Path

import pytest

from tiny_model import build_tiny_model

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def recognizer(tiny_model_dir: Path):
    import polyasr

    return polyasr.load(str(tiny_model_dir), device="cpu", dtype="fp32")


@pytest.fixture(scope="session")
def real_lang_ids_path() -> Path:
    path = SHARED / "fixtures" / "lang_ids.pk"
    if not path.is_file():
        pytest.skip(f"the real language table is not at {path}")
    return path
