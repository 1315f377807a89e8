"""The web page, driven by Playwright in headless Debian Chromium against a real server with the tiny model.

Chromium comes from the Debian package (`/usr/bin/chromium`): the session fixture installs it with
apt-get when it is missing and the tests run as root, and skips with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
srt = pytest.importorskip("srt")
webvtt = pytest.importorskip("webvtt")
sync_api = pytest.importorskip("playwright.sync_api")

from audio_factory import MP3, voiced, write_audio  # noqa: E402
from live_server import live_server  # noqa: E402
from polyasr.server import ServerOptions, create_app  # noqa: E402

expect = sync_api.expect
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = "/tmp/polyasr-page.png"
KEY = "page-key"
# The machine has no internet: without these flags Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _apt_install() -> str | None:
    """Install Debian's chromium; None on success, else why not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"{CHROMIUM} is missing and installing it needs root (apt-get install chromium)"
    if shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and there is no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    for attempt in ([], [["apt-get", "update"]]):  # the package lists may be missing or stale
        for command in attempt + [install]:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode == 0 and Path(CHROMIUM).exists():
            return None
    return f"could not install chromium: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        problem = _apt_install()
        if problem:
            pytest.skip(problem)
    return CHROMIUM


@pytest.fixture(scope="module")
def fake_microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wav that Chromium's fake capture device plays as the microphone."""
    return write_audio(tmp_path_factory.mktemp("mic") / "mic.wav", "pcm_s16le", 48_000, voiced(3.0, rate=48_000)[None].astype(np.float64))


@pytest.fixture(scope="module")
def browser(chromium: str, fake_microphone: Path) -> Iterator[object]:
    args = CHROMIUM_ARGS + [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={fake_microphone}",
    ]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=args)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(recognizer) -> Iterator[str]:
    with live_server(create_app(recognizer)) as url:
        yield url


@pytest.fixture()
def page(browser) -> Iterator[object]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1000, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert not problems, f"JavaScript errors on the page: {problems}"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("page-clips")
    signal = np.r_[voiced(1.5, 44_100), np.zeros(30_000), voiced(1.2, 44_100)][None].astype(np.float64)
    if MP3:
        return write_audio(folder / "talk.mp3", MP3, 44_100, signal)
    return write_audio(folder / "talk.wav", "pcm_s16le", 44_100, signal)


def api_transcription(site: str, path: Path, **form: str) -> dict:
    data = {"model": "xlsr-56", "language": "auto", "response_format": "verbose_json",
            "timestamp_granularities[]": ["segment", "word"], **form}
    response = httpx.post(f"{site}/v1/audio/transcriptions", data=data, files={"file": (path.name, path.read_bytes())}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_languages(page) -> None:
    page.wait_for_function("document.querySelectorAll('#language optgroup option').length > 0")


def squeeze(text: str) -> str:
    return "".join(text.split())


def test_upload_shows_the_apis_transcript_and_downloads_valid_subtitles(page, site: str, clip: Path, tmp_path: Path) -> None:
    expected = api_transcription(site, clip)
    page.goto(site + "/")
    expect(page).to_have_title("polyasr: speech recognition in 4 languages")  # the tiny model's; was "56 languages"
    wait_for_languages(page)
    assert page.locator("#language option[value=de]").inner_text() == "German (de)"
    page.set_input_files("#file", str(clip))
    expect(page.locator("#file-name")).to_contain_text(clip.name)
    page.get_by_role("button", name="Transcribe").click()
    expect(page.locator("#transcript")).to_have_text(expected["text"], timeout=30_000)
    expect(page.locator("#status")).to_contain_text("Done")
    assert page.locator("#segments li").count() == len(expected["segments"])
    first_word = expected["words"][0]
    title = page.locator("#segments .word").first.get_attribute("title")
    assert title.startswith(f"{first_word['start']:.2f}–{first_word['end']:.2f} s")
    assert page.locator("#words tr").count() == len(expected["words"])
    page.screenshot(path=SCREENSHOT, full_page=True)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download .srt").click()
    assert download.value.suggested_filename == clip.stem + ".srt"
    cues = list(srt.parse(Path(download.value.path()).read_text(encoding="utf-8")))
    assert cues and all(c.start < c.end for c in cues) and all(a.end <= b.start for a, b in zip(cues, cues[1:]))
    assert squeeze("".join(c.content for c in cues)) == squeeze(expected["text"])
    assert all(len(line) <= 42 for c in cues for line in c.content.splitlines())

    with page.expect_download() as download:
        page.get_by_role("button", name="Download .vtt").click()
    vtt = tmp_path / "page.vtt"
    download.value.save_as(vtt)
    captions = webvtt.read(str(vtt))
    assert squeeze("".join(c.text for c in captions)) == squeeze(expected["text"])

    with page.expect_download() as download:
        page.get_by_role("button", name="Download .txt").click()
    assert Path(download.value.path()).read_text(encoding="utf-8") == expected["text"] + "\n"


def test_the_apis_error_message_is_shown(page, site: str, tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp3"
    bad.write_bytes(b"this is not audio at all, " * 40)
    response = httpx.post(f"{site}/v1/audio/transcriptions", data={"model": "xlsr-56"}, files={"file": (bad.name, bad.read_bytes())})
    message = response.json()["error"]["message"]
    page.goto(site + "/")
    page.set_input_files("#file", str(bad))
    page.get_by_role("button", name="Transcribe").click()
    expect(page.get_by_role("alert")).to_have_text(message)


def test_a_file_can_be_dropped_on_the_drop_zone(page, site: str, clip: Path) -> None:
    page.goto(site + "/")
    data = list(clip.read_bytes())
    transfer = page.evaluate_handle(
        """([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "audio/mpeg" }));
            return transfer;
        }""",
        [clip.name, data],
    )
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
    expect(page.locator("#file-name")).to_contain_text(clip.name)
    expect(page.get_by_role("button", name="Transcribe")).to_be_enabled()


def test_recording_with_live_text_over_the_websocket(page, site: str) -> None:
    page.goto(site + "/")
    wait_for_languages(page)
    page.select_option("#language", "en")
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    record = page.get_by_role("button", name="Record from microphone")
    record.click()
    expect(page.get_by_role("button", name="Stop recording")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function("document.querySelectorAll('#segments li').length > 0 || "
                           "document.querySelector('#live-partial').textContent.length > 0", timeout=30_000)
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="Stop recording").click()
    expect(page.locator("#status")).to_contain_text("Done", timeout=30_000)
    assert any('"type":"ready"' in f and '"language":"en"' in f for f in frames)
    assert any('"type":"final"' in f for f in frames)
    text = page.locator("#transcript").inner_text()
    assert text and set(text) <= set("abcdefghijklmnopqrstuvwxyz' ")
    assert page.locator("#player").get_attribute("src").startswith("blob:")


def test_a_server_with_api_keys_asks_for_one_and_uses_it(browser, recognizer, clip: Path) -> None:
    with live_server(create_app(recognizer, ServerOptions(api_keys=(KEY,)))) as url:
        context = browser.new_context()
        page = context.new_page()
        page.goto(url + "/")
        expect(page.get_by_role("alert")).to_contain_text("API key")
        assert page.locator("#key-box").get_attribute("open") is not None
        page.get_by_label("Key for this server").fill(KEY)
        page.get_by_role("button", name="Use key").click()
        wait_for_languages(page)
        assert page.evaluate("sessionStorage.getItem('polyasr-api-key')") == KEY
        page.set_input_files("#file", str(clip))
        page.get_by_role("button", name="Transcribe").click()
        expect(page.locator("#status")).to_contain_text("Done", timeout=30_000)
        context.close()


def test_live_text_on_a_server_with_api_keys_sends_the_key_in_the_first_message_not_the_url(browser, recognizer) -> None:
    with live_server(create_app(recognizer, ServerOptions(api_keys=(KEY,)))) as url:
        context = browser.new_context()
        page = context.new_page()
        sockets: list[object] = []
        sent: list[str] = []
        received: list[str] = []

        def watch(ws: object) -> None:
            sockets.append(ws)
            ws.on("framesent", lambda payload: sent.append(payload if isinstance(payload, str) else "<binary>"))
            ws.on("framereceived", lambda payload: received.append(str(payload)))

        page.on("websocket", watch)
        page.goto(url + "/")
        page.get_by_label("Key for this server").fill(KEY)
        page.get_by_role("button", name="Use key").click()
        wait_for_languages(page)
        page.select_option("#language", "en")
        page.get_by_role("button", name="Record from microphone").click()
        page.wait_for_function("document.querySelectorAll('#segments li').length > 0 || "
                               "document.querySelector('#live-partial').textContent.length > 0", timeout=30_000)
        page.get_by_role("button", name="Stop recording").click()
        expect(page.locator("#status")).to_contain_text("Done", timeout=30_000)
        context.close()
    assert len(sockets) == 1 and KEY not in sockets[0].url and "api_key" not in sockets[0].url
    assert sent[0] == json.dumps({"type": "auth", "api_key": KEY}, separators=(",", ":"))  # before any audio
    assert any('"type":"ready"' in frame for frame in received) and any('"type":"done"' in frame for frame in received)
    assert not any('"type":"error"' in frame for frame in received)


def test_api_docs_render_offline(page, site: str) -> None:
    """Swagger UI's scripts came from a CDN, so /docs was blank without internet (as in this test's browser)."""
    page.goto(site + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("polyasr", timeout=20_000)
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert page.locator(".opblock-summary-path[data-path='/v1/audio/transcriptions']").count() == 1
