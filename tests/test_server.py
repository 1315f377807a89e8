"""The HTTP service against a real uvicorn server on 127.0.0.1, with the real `openai` client and the tiny model."""

from __future__ import annotations

import datetime
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")
srt = pytest.importorskip("srt")
webvtt = pytest.importorskip("webvtt")
uvicorn = pytest.importorskip("uvicorn")

from audio_factory import write_audio  # noqa: E402
from polyasr.server import BatcherOptions, ServerOptions, create_app  # noqa: E402
from polyasr.server.app import page_html  # noqa: E402
from polyasr.server.batcher import BatcherClosedError  # noqa: E402
from live_server import live_server  # noqa: E402
from polyasr.output.writers import get_writer  # noqa: E402

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@contextmanager
def blocked(batcher: Any) -> Iterator[threading.Event]:
    """Keep the model worker busy with a job submitted through `batcher.submit` until the block ends."""
    started, gate = threading.Event(), threading.Event()
    future = batcher.submit(lambda: (started.set(), gate.wait(30)))
    assert started.wait(10)
    try:
        yield gate
    finally:
        gate.set()
        future.result(10)


@pytest.fixture(scope="module")
def app(recognizer):
    return create_app(recognizer, ServerOptions(api_keys=(KEY,), max_upload_mb=0.25, max_audio_seconds=10.0))


@pytest.fixture(scope="module")
def url(app) -> Iterator[str]:
    with live_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def client(url: str):
    return openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=60)


def transcribe(client, path: Path, **kwargs: Any) -> Any:
    with open(path, "rb") as handle:
        return client.audio.transcriptions.create(model="whisper-1", file=handle, **kwargs)


def test_every_response_format_through_the_openai_client(client, clips, recognizer) -> None:
    path = clips["a"]
    expected = recognizer.transcribe(path, language="en", word_timestamps=True)
    assert expected.text and expected.text == recognizer.transcribe(path, language="en").text

    assert transcribe(client, path, language="en").text == expected.text  # json (default)
    assert transcribe(client, path, language="en", response_format="text") == expected.text + "\n"

    subtitles = transcribe(client, path, language="en", response_format="srt")
    assert subtitles == get_writer("srt").format(expected)
    cues = list(srt.parse(subtitles))
    # cues hold the text's characters in order (a word too long for one cue is split across cues)
    assert cues and "".join("".join(c.content.split()) for c in cues) == "".join(expected.text.split())
    assert all(c.start < c.end <= datetime.timedelta(seconds=expected.duration) for c in cues)

    vtt = transcribe(client, path, language="en", response_format="vtt")
    assert vtt == get_writer("vtt").format(expected)
    captions = webvtt.from_string(vtt)
    assert "".join("".join(c.text.split()) for c in captions) == "".join(expected.text.split())

    verbose = transcribe(client, path, language="en", response_format="verbose_json", timestamp_granularities=["word", "segment"])
    assert (verbose.text, verbose.language, verbose.duration) == (expected.text, "english", pytest.approx(2.0))
    assert [w.word for w in verbose.words] == [w.word for w in expected.words] and verbose.words
    times = [(w.start, w.end) for w in verbose.words]
    assert all(0 <= start <= end <= verbose.duration for start, end in times)
    assert all(a[1] <= b[0] for a, b in zip(times, times[1:]))  # in order, not overlapping
    assert [s.text for s in verbose.segments] == [s.text for s in expected.segments]
    assert all(0 < w.probability <= 1 for w in verbose.words)  # our extra field

    only_words = transcribe(client, path, language="en", response_format="verbose_json", timestamp_granularities=["word"])
    assert only_words.words and only_words.segments is None
    plain = transcribe(client, path, language="en", response_format="verbose_json")
    assert plain.segments and plain.words is None


def test_languages_auto_detect_and_names(client, clips, recognizer) -> None:
    path = clips["b"]
    assert transcribe(client, path).text == recognizer.transcribe(path).text  # "auto" by default
    assert transcribe(client, path, language="German").text == recognizer.transcribe(path, language="de").text
    detected = recognizer.transcribe(path, language="detect")
    verbose = transcribe(client, path, language="detect", response_format="verbose_json").model_dump()
    assert (verbose["language_code"], verbose["text"]) == (detected.language, detected.text)
    assert verbose["language_probability"] == pytest.approx(detected.language_probability)


def test_concurrent_clients_get_their_own_results_from_shared_batches(url, app, clips, recognizer) -> None:
    jobs = [(clips[name], language) for name, language in zip("abcdefgh", ["en", "de", "ru", "auto"] * 2)]
    expected = [recognizer.transcribe(path, language=language).text for path, language in jobs]
    assert len(set(expected)) == len(jobs)  # every request has a different answer: a mix-up would show
    batcher = app.state.batcher
    before = batcher.stats()

    def request(job: tuple[Path, str]) -> str:
        own_client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=60)
        return transcribe(own_client, job[0], language=job[1]).text

    with ThreadPoolExecutor(len(jobs)) as pool:
        with blocked(batcher):  # the requests pile up while the worker is busy, then run together
            futures = [pool.submit(request, job) for job in jobs]
            wait_until(lambda: batcher.queue_length == len(jobs))
        assert [f.result(60) for f in futures] == expected
    after = batcher.stats()
    assert after.jobs - before.jobs == len(jobs)
    assert after.model_calls - before.model_calls == 4  # one transcribe_iter call per language
    assert after.recent_groups[-4:] == (2, 2, 2, 2) and after.largest_group >= 2


def test_parallel_requests_without_forced_batching(url, clips, recognizer) -> None:
    jobs = [(clips[name], language) for name, language in zip("defg", ["ru", "en", "auto", "de"])]
    expected = [recognizer.transcribe(path, language=language).text for path, language in jobs]
    with httpx.Client(base_url=url, headers=AUTH, timeout=60) as http, ThreadPoolExecutor(4) as pool:
        def post(job: tuple[Path, str]) -> str:
            response = http.post("/v1/audio/transcriptions", files={"file": job[0].read_bytes()}, data={"language": job[1]})
            assert response.status_code == 200, response.text
            return response.json()["text"]

        assert list(pool.map(post, jobs)) == expected


def post(url: str, path: Path | None = None, content: bytes | None = None, headers: dict = AUTH, **data: Any):
    files = {"file": ("upload.bin", content) if content is not None else (path.name, path.read_bytes())}
    return httpx.post(f"{url}/v1/audio/transcriptions", files=files, data=data, headers=headers, timeout=60)


def assert_error(response: Any, status: int, code: str | None = None, contains: str = "") -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert code is None or error["code"] == code
    assert contains in error["message"]
    return error


def test_bad_uploads(url, clips) -> None:  # every error about the upload names it by its file name
    assert_error(post(url, clips["text"]), 415, "unsupported_media", "'notes.txt': not a recognised audio or video format")
    assert_error(post(url, content=b"RIFF\x24\x00\x00\x00WAVEfmt "), 415, "unsupported_media", "'upload.bin': looks like WAV")
    assert_error(post(url, content=b""), 400, "empty_file", "'upload.bin' is empty")
    assert_error(post(url, content=b"\0" * 300_000), 413, "file_too_large", "'upload.bin' is larger")  # within the form margin
    assert_error(post(url, content=b"\0" * 400_000), 413, "request_too_large")  # refused from Content-Length

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        for _ in range(40):
            yield b"\0" * 10_000
        yield b"\r\n--xyz--\r\n"

    chunked = httpx.post(f"{url}/v1/audio/transcriptions", content=chunks(), timeout=60,
                         headers={**AUTH, "Content-Type": "multipart/form-data; boundary=xyz"})
    assert_error(chunked, 413, "request_too_large")
    assert_error(post(url, clips["long"]), 413, "audio_too_long", "'long.wav': the audio is longer than the server's limit of 10 s")


def test_an_upload_with_nan_samples_is_transcribed_and_says_so(url, tmp_path, recognizer) -> None:
    """The server repaired NaN samples like every path, but dropped the warning."""
    signal = np.clip(0.3 * np.random.default_rng(5).standard_normal((1, 32000)), -1, 1).astype(np.float32)
    clean = write_audio(tmp_path / "clean.wav", "pcm_f32le", 16000, signal)
    signal[0, 16000] = np.nan
    broken = write_audio(tmp_path / "broken.wav", "pcm_f32le", 16000, signal)
    answers = [post(url, path, language="en", response_format="verbose_json").json() for path in (clean, broken)]
    assert answers[0]["text"] and answers[1]["text"] == answers[0]["text"] == recognizer.transcribe(clean, language="en").text
    assert answers[0]["warnings"] == []
    assert answers[1]["warnings"] == ["'broken.wav': 1 NaN or infinite sample was replaced by silence (first at 1.00 s)"]


def test_bad_parameters(url, clips) -> None:
    error = assert_error(post(url, clips["a"], language="klingon"), 400, "unsupported_language", "de, en, ja, ru")
    assert error["param"] == "language"
    assert_error(post(url, clips["a"], language="rw"), 400, "unsupported_language")  # a language without characters
    error = assert_error(post(url, clips["a"], response_format="xml"), 400, "invalid_parameter", "verbose_json")
    assert error["param"] == "response_format"
    assert_error(post(url, clips["a"], temperature="hot"), 400, "invalid_parameter")
    assert_error(post(url, clips["a"], **{"timestamp_granularities[]": "char"}), 400, "invalid_parameter")
    missing = httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "x"}, files={"other": b"1"}, headers=AUTH)
    assert assert_error(missing, 400, "invalid_parameter")["param"] == "file"
    language = httpx.post(f"{url}/v1/audio/language", files={"file": clips["a"].read_bytes()}, data={"top": "0"}, headers=AUTH)
    assert_error(language, 400, "invalid_parameter")
    language = httpx.post(f"{url}/v1/audio/language", files={"file": clips["a"].read_bytes()}, data={"candidates": "de,xx"}, headers=AUTH)
    assert_error(language, 400, "unsupported_language", "'xx'")


def test_api_keys(url, clips) -> None:
    bad = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        transcribe(bad, clips["a"])
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    missing = post(url, clips["a"], headers={})
    assert_error(missing, 401, "invalid_api_key", "missing API key")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert_error(httpx.get(f"{url}/v1/languages", headers={"Authorization": "Basic abc"}), 401, "invalid_api_key")
    # the page and the health check are open
    assert httpx.get(f"{url}/health").status_code == 200
    assert httpx.get(f"{url}/").status_code == 200


def test_queue_overflow_and_timeout(recognizer, clips) -> None:
    app = create_app(recognizer, ServerOptions(batcher=BatcherOptions(queue_size=1), timeout_seconds=1.0, retry_after_seconds=3))
    batcher = app.state.batcher
    with live_server(app) as base:
        with blocked(batcher):
            filler = batcher.submit(lambda: "queued")  # the one place in the queue
            busy = post(base, clips["d"], headers={})
            assert_error(busy, 503, "server_busy")
            assert busy.headers["retry-after"] == "3"
            assert httpx.get(f"{base}/health").json()["queue_length"] == 1
        assert filler.result(10) == "queued"

        before = batcher.stats()
        with blocked(batcher):
            started = time.monotonic()
            assert_error(post(base, clips["d"], headers={}), 408, "timeout", "1 s")
            assert 0.9 < time.monotonic() - started < 10
        wait_until(lambda: batcher.stats().cancelled > before.cancelled)  # the timed-out job never ran
        assert batcher.stats().jobs == before.jobs
        assert post(base, clips["d"], headers={}).json()["text"] == recognizer.transcribe(clips["d"]).text
    with pytest.raises(BatcherClosedError):  # the worker stopped with the server
        batcher.submit(lambda: None)


def test_language_detection_models_languages_health(url, client, clips, recognizer) -> None:
    path = clips["e"]
    response = httpx.post(f"{url}/v1/audio/language", files={"file": path.read_bytes()},
                          data={"top": "2", "candidates": "de,en"}, headers=AUTH)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = recognizer.detect_language(path, top=2, language_candidates=("de", "en",))
    assert [(d["language"], d["probability"]) for d in body["languages"]] == [(c, pytest.approx(p)) for c, p in expected]
    assert {d["name"] for d in body["languages"]} <= {"German", "English"} and body["duration"] == pytest.approx(3.0)

    languages = httpx.get(f"{url}/v1/languages", headers=AUTH).json()
    assert languages == [{"code": c, "name": n} for c, n in [("de", "German"), ("en", "English"), ("ja", "Japanese"), ("ru", "Russian")]]
    assert [c["code"] for c in languages] == recognizer.languages()

    alias = Path(recognizer.model.name).name  # a local model is listed by its folder's name
    models = client.models.list().data
    assert [m.id for m in models] == [alias] and models[0].model_dump()["model_name"] == recognizer.model.name
    assert client.models.retrieve(alias).id == alias
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4")

    health = httpx.get(f"{url}/health", headers=AUTH).json()  # the model only with a key
    assert health["status"] == "ok" and health["model"] == recognizer.model.name and health["device"] == "cpu"
    assert {"dtype", "queue_length", "queue_size", "max_batch"} <= set(health)


def test_page_static_and_unknown_routes(url, recognizer) -> None:
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text == page_html(recognizer, Path(recognizer.model.name).name)
    assert_error(httpx.get(f"{url}/static/no-such-file.js"), 404)
    assert_error(httpx.get(f"{url}/v2/nothing"), 404, "not_found")


def test_openapi_schema_matches_the_routes(url) -> None:
    schema = httpx.get(f"{url}/openapi.json").json()
    paths = schema["paths"]
    assert {"/v1/audio/transcriptions", "/v1/audio/language", "/v1/models", "/v1/languages", "/health"} <= set(paths)
    operation = paths["/v1/audio/transcriptions"]["post"]
    ref = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].split("/")[-1]
    form = schema["components"]["schemas"][ref]
    assert {"file", "model", "language", "prompt", "response_format", "temperature", "timestamp_granularities[]"} <= set(form["properties"])
    assert form["required"] == ["file"]
    assert form["properties"]["response_format"]["enum"] == ["json", "text", "srt", "vtt", "verbose_json"]
    responses = operation["responses"]
    assert {"200", "400", "401", "408", "413", "415", "503"} <= set(responses) and "422" not in responses
    assert {"application/json", "text/plain", "text/vtt"} <= set(responses["200"]["content"])
    for name in ("TranscriptionJson", "TranscriptionVerbose", "VerboseSegment", "VerboseWord", "ErrorResponse"):
        assert name in schema["components"]["schemas"]
    assert "HTTPValidationError" not in json.dumps(schema)
    assert "HTTPBearer" in schema["components"]["securitySchemes"]  # keys are configured on this server


def test_websocket_stream_route_is_wired(url) -> None:
    sync_client = pytest.importorskip("websockets.sync.client")
    ws_url = url.replace("http://", "ws://") + f"/v1/audio/stream?api_key={KEY}"
    with sync_client.connect(ws_url, open_timeout=10, close_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        ws.send((3000 * np.random.default_rng(0).standard_normal(8000)).astype("<i2").tobytes())
        ws.send(json.dumps({"type": "end"}))
        events = []
        while not events or events[-1]["type"] != "done":
            events.append(json.loads(ws.recv(timeout=20)))
            assert len(events) < 100
