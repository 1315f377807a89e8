"""What the server's own pages say and need: /docs and /redoc without internet access (their scripts
were on a CDN, so the pages were blank offline), and the web page naming the model that is served
and its real number of languages (it said "56 languages" and sent "xlsr-56" for any model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from live_server import live_server  # noqa: E402
from polyasr.model.ctc_model import DEFAULT_MODEL  # noqa: E402
from polyasr.server import ServerOptions, create_app  # noqa: E402


@pytest.fixture(scope="module")
def url(recognizer):
    with live_server(create_app(recognizer, ServerOptions(api_keys=("k",)))) as url:
        yield url


def _assets(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", page)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_their_scripts_from_this_server(url: str, path: str) -> None:
    page = httpx.get(url + path)
    assert page.status_code == 200
    assets = _assets(page.text)
    scripts = [a for a in assets if a.endswith(".js")]
    assert scripts and [a for a in assets if "://" in a] == []  # was: https://cdn.jsdelivr.net/...
    for asset in assets:
        response = httpx.get(url + asset)  # open without an API key, like /docs itself
        assert response.status_code == 200, asset
    assert max(len(httpx.get(url + a).content) for a in scripts) > 500_000  # the real Swagger UI / ReDoc bundle


def test_page_names_the_model_and_its_languages(url: str, recognizer) -> None:
    page = httpx.get(url + "/").text
    alias = Path(recognizer.model.name).name
    count = len(recognizer.languages())
    assert count == 4  # the tiny model's table: de en ja ru
    assert "<title>polyasr: speech recognition in 4 languages</title>" in page
    assert f"Speech recognition in 4 languages with the model {alias}." in page
    assert f'<meta name="polyasr-model" content="{alias}">' in page
    assert "56" not in page and "{{" not in page
    assert httpx.get(url + "/health").json()["model_alias"] == alias
    models = httpx.get(url + "/v1/models", headers={"Authorization": "Bearer k"}).json()["data"]
    assert [m["id"] for m in models] == [alias]
    assert "4 languages" in httpx.get(url + "/openapi.json").json()["info"]["description"]


def test_the_alias_of_a_model() -> None:
    from polyasr.server.app import model_alias

    assert model_alias(DEFAULT_MODEL) == "xlsr-56"  # what OpenAI-style clients of the default model send
    assert model_alias("facebook/mms-1b-all") == "mms-1b-all"
    assert model_alias("/srv/models/ctc-de/") == "ctc-de"  # never the server's whole path
