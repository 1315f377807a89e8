"""`polyasr serve`'s command line and ServerOptions: every limit an option, bad values refused, the batcher's options handed on."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("uvicorn")

from live_server import live_server  # noqa: E402
from polyasr.cli.serve import add_serve_arguments, run_serve, server_options, uvicorn_settings  # noqa: E402
from polyasr.errors import OptionsError  # noqa: E402
from polyasr.server import BatcherOptions, ServerOptions, StreamLimits, create_app  # noqa: E402
from polyasr.server.http import GuardedServer  # noqa: E402
from test_server import post  # noqa: E402


def test_serve_command_line(monkeypatch, tiny_model_dir, clips) -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args(["--model", str(tiny_model_dir), "--port", "0", "--device", "cpu", "--dtype", "fp32", "--api-key", "k1",
                              "--api-key", "k2", "--max-upload-mb", "2", "--queue-size", "3", "--max-batch", "4"])
    options = server_options(args)
    assert (options.api_keys, options.max_upload_mb, options.batcher.queue_size, options.batcher.max_batch) == (("k1", "k2"), 2.0, 3, 4)
    monkeypatch.setenv("POLYASR_API_KEYS", "e1, e2")
    assert server_options(parser.parse_args([])).api_keys == ("e1", "e2")

    served: dict[str, Any] = {}

    def fake_run(self: Any) -> None:  # run_serve's GuardedServer(uvicorn.Config(...)).run()
        config, app = self.config, self.config.app
        served.update(host=config.host, port=config.port, options=app.state.options, log_config=config.log_config,
                      settings=(config.timeout_keep_alive, config.timeout_graceful_shutdown, config.h11_max_incomplete_event_size,
                                config.ws_max_size, config.limit_concurrency, config.http.header_timeout))
        with live_server(app, **uvicorn_settings(app.state.options)) as base:
            served["response"] = post(base, clips["a"], headers={"Authorization": "Bearer k2"})
        served["expected"] = app.state.recognizer.transcribe(clips["a"]).text  # the model run_serve loaded

    monkeypatch.setattr(GuardedServer, "run", fake_run)
    assert run_serve(args) == 0
    served_alias = replace(options, model_alias=tiny_model_dir.name)  # no --model-alias: the folder's name
    assert (served["host"], served["port"], served["options"]) == ("127.0.0.1", 0, served_alias)
    assert served["settings"] == (5.0, 30.0, 64 * 1024, 256 * 1024 + 4096, None, 10.0)
    assert all("redact_secrets" in handler["filters"] for handler in served["log_config"]["handlers"].values())
    assert served["response"].json()["text"] == served["expected"]


def test_every_limit_is_an_option_of_serve() -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args([
        "--max-queued-audio-seconds", "7200", "--decode-slots", "3", "--upload-timeout-seconds", "30", "--max-connections", "50",
        "--keep-alive-seconds", "2", "--cors-origins", "https://a.example, https://b.example", "--cors-origins", "http://c.example:8080",
        "--max-streams", "2", "--stream-message-kb", "64", "--stream-backlog-seconds", "10", "--stream-idle-seconds", "5",
        "--stream-max-seconds", "60", "--max-audio-seconds", "3600"])
    options = server_options(args)
    assert (options.batcher.max_queued_audio_seconds, options.decode_slots, options.upload_timeout_seconds, options.max_connections,
            options.keep_alive_seconds) == (7200, 3, 30, 50, 2)
    assert options.cors_origins == ("https://a.example", "https://b.example", "http://c.example:8080")
    assert options.streams == StreamLimits(max_streams=2, message_kb=64, backlog_seconds=10, idle_seconds=5, max_seconds=60)
    settings = uvicorn_settings(options)
    assert (settings["timeout_keep_alive"], settings["ws_max_size"], settings["http"].header_timeout) == (2.0, 65536 + 4096, 10.0)
    defaults = server_options(parser.parse_args([]))
    assert replace(defaults, batcher=replace(defaults.batcher, transcribe=None)) == ServerOptions() and defaults.cors_origins == ()  # no other origin by default


@pytest.mark.parametrize("bad", [{"batcher": {"queue_size": 0}}, {"batcher": {"max_batch": 0}}, {"timeout_seconds": 0},
                                 {"max_upload_mb": -1}, {"api_keys": "one-string"}, {"decode_slots": 0}, {"upload_timeout_seconds": 0},
                                 {"batcher": {"max_queued_audio_seconds": 60.0}}, {"cors_origins": ("example.com",)},
                                 {"cors_origins": "https://example.com"}, {"streams": {"max_streams": 0}},
                                 {"streams": {"idle_seconds": 0}}, {"streams": {"message_kb": -1}}])
def test_server_options_are_checked(bad: dict) -> None:
    nested = {"streams": StreamLimits, "batcher": BatcherOptions}
    with pytest.raises(OptionsError):
        ServerOptions(**{k: nested[k](**v) if k in nested else v for k, v in bad.items()})


def test_the_server_hands_its_batcher_options_to_its_batcher(recognizer) -> None:
    """One definition of the queue and batching options: the server's are its batcher's, defaults included."""
    assert ServerOptions().batcher == BatcherOptions()
    options = ServerOptions(batcher=BatcherOptions(queue_size=5, max_batch=2, batch_wait_ms=0.0))
    assert create_app(recognizer, options).state.batcher.options is options.batcher
