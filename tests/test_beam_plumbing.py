"""--decoder beam through the CLI, evaluation, the server's `prompt` and streaming; `polyasr lm build`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ctc_beam_decoder", reason="beam search needs polyasr[lm]")
pytest.importorskip("kaldingram", reason="building language models needs polyasr[lm]")

from audio_factory import write_audio  # noqa: E402
from polyasr.cli.main import main  # noqa: E402
from polyasr.decoding import BeamOptions, DecoderOptions, LmBuildOptions, build_arpa, parse_hotwords  # noqa: E402
from polyasr.errors import OptionsError  # noqa: E402
from polyasr import TranscribeOptions  # noqa: E402

SR = 16_000


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(3)
    signal = np.clip(0.3 * rng.standard_normal((1, SR * 2)), -1, 1)
    return write_audio(tmp_path_factory.mktemp("beam") / "a.wav", "pcm_s16le", SR, signal)


def flipping_hotword(recognizer, clip: Path) -> tuple[str, str, str]:
    """(greedy text, a hotword, the beam's text with it), the two texts different: a near miss of
    the first greedy word (its first letter changed) pulls the search its way."""
    greedy = recognizer.transcribe(clip, language="en").text
    first = greedy.split()[0]
    hotword = ("e" if first[0] != "e" else "a") + first[1:]
    beamed = recognizer.transcribe(clip, language="en", options=TranscribeOptions(decoder=beam_with(hotword))).text
    assert beamed != greedy  # otherwise the plumbing tests below could not fail
    return greedy, hotword, beamed


def beam_with(hotwords: str = "", **kwargs) -> DecoderOptions:
    return DecoderOptions("beam", BeamOptions(hotwords=parse_hotwords(hotwords), **kwargs))


def test_cli_decoder_beam(recognizer, tiny_model_dir, clip, capsys) -> None:
    common = [str(clip), "--model", str(tiny_model_dir), "--dtype", "fp32", "--language", "en"]
    greedy, hotword, beamed = flipping_hotword(recognizer, clip)
    assert main(["transcribe", *common, "--decoder", "beam", "--beam-size", "1"]) == 0
    assert capsys.readouterr().out.strip() == greedy  # beam size 1 without LM: the greedy text
    assert main(["transcribe", *common, "--decoder", "beam", "--hotwords", hotword]) == 0
    assert capsys.readouterr().out.strip() == beamed
    assert main(["transcribe", *common, "--hotwords", hotword]) == 0  # a beam option implies --decoder beam
    assert capsys.readouterr().out.strip() == beamed
    assert main(["transcribe", *common, "--decoder", "greedy", "--hotwords", hotword]) == 1
    assert "--hotwords need --decoder beam, not greedy" in capsys.readouterr().err
    assert main(["transcribe", *common, "--decoder", "beam", "--lm", str(clip.parent / "missing.arpa")]) == 1
    assert "missing.arpa: no such language model" in capsys.readouterr().err


def test_evaluation_decodes_with_the_given_decoder(recognizer, clip, tmp_path) -> None:
    from polyasr.evaluation.data import read_manifest
    from polyasr.evaluation.run import EvalOptions, evaluate

    greedy, hotword, beamed = flipping_hotword(recognizer, clip)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio": str(clip), "text": greedy, "language": "en", "id": "a"}) + "\n", encoding="utf-8")
    result = evaluate(recognizer, read_manifest(manifest), tmp_path / "out", EvalOptions(decoder=beam_with(hotword)))
    assert [r.hypothesis for r in result.records] == [beamed]


def test_server_prompt_becomes_hotwords(recognizer, clip) -> None:
    pytest.importorskip("fastapi")
    import httpx

    from live_server import live_server
    from polyasr.server.app import create_app
    from polyasr.server.options import BatcherOptions, ServerOptions

    _, hotword, beamed = flipping_hotword(recognizer, clip)
    with live_server(create_app(recognizer, ServerOptions())) as base:
        def post(**fields: str) -> httpx.Response:
            with open(clip, "rb") as handle:
                return httpx.post(f"{base}/v1/audio/transcriptions", files={"file": handle}, data={"language": "en", **fields}, timeout=60)

        assert post(prompt=hotword).json()["text"] == beamed
        assert post().json()["text"] == recognizer.transcribe(clip, language="en").text  # no prompt: the server's own (greedy)
        too_many = post(prompt=",".join(f"w{i}" for i in range(101)))
        assert too_many.status_code == 400 and "at most 100" in too_many.json()["error"]["message"]


def test_serve_options_carry_the_decoder() -> None:
    import argparse

    from polyasr.cli.serve import add_serve_arguments, server_options

    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    options = server_options(parser.parse_args(["--decoder", "beam", "--beam-size", "8", "--hotwords", "zwickau"]))
    assert options.batcher.transcribe.decoder == beam_with("zwickau", beam_size=8)


def test_streaming_uses_the_same_decoder(recognizer, clip) -> None:
    from polyasr.audio.decode import load_audio
    from polyasr.streaming.events import FinalEvent
    from polyasr.streaming.session import StreamingOptions, StreamingSession

    _, hotword, beamed = flipping_hotword(recognizer, clip)
    samples = load_audio(clip)
    session = StreamingSession(recognizer, "en", StreamingOptions(max_buffer_seconds=20.0), beam_with(hotword))
    events = session.feed(samples) + session.finish()
    finals = [e.segment.text for e in events if isinstance(e, FinalEvent)]
    assert " ".join(finals) == beamed


def test_the_servers_stream_decodes_with_the_servers_decoder(recognizer, clip) -> None:
    """The WebSocket route built its sessions without the server's --decoder options: always greedy."""
    pytest.importorskip("fastapi")
    from websockets.sync.client import connect

    from live_server import live_server
    from polyasr.audio.decode import load_audio
    from polyasr.server.app import create_app
    from polyasr.server.options import BatcherOptions, ServerOptions

    greedy, hotword, beamed = flipping_hotword(recognizer, clip)
    data = (np.clip(load_audio(clip), -1, 1) * 32767).astype("<i2").tobytes()

    def stream(options: ServerOptions) -> str:
        with live_server(create_app(recognizer, options)) as base, \
                connect(base.replace("http", "ws") + "/v1/audio/stream?language=en", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "ready"
            ws.send(data)
            ws.send(json.dumps({"type": "end"}))
            events = []
            while not events or events[-1]["type"] != "done":
                events.append(json.loads(ws.recv(timeout=60)))
        return " ".join(e["segment"]["text"] for e in events if e["type"] == "final")

    pcm = np.frombuffer(data, "<i2").astype(np.float32) / 32768
    assert recognizer.transcribe(pcm, language="en", sampling_rate=SR).text == greedy  # 16-bit rounding changes nothing here
    assert stream(ServerOptions(batcher=BatcherOptions(transcribe=TranscribeOptions(decoder=beam_with(hotword))))) == beamed
    assert stream(ServerOptions()) == greedy


CORPUS = """Der Hund bellt. Die Katze schläft!
der Hund schläft, die Katze bellt nicht.
DER HUND BELLT LAUT
"""


def test_lm_build_normalises_and_adds_unk(tmp_path: Path, capsys) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    arpa = tmp_path / "de.arpa"
    assert main(["lm", "build", str(corpus), "--order", "3", "--language", "de", "--output", str(arpa)]) == 0
    # lines of 6 + 7 + 4 words; der hund bellt die katze schläft nicht laut
    assert "3 sentences, 17 words, 8 distinct" in capsys.readouterr().err
    sections = _arpa_sections(arpa.read_text(encoding="utf-8"))
    unigrams = {line.split("\t")[1]: float(line.split("\t")[0]) for line in sections[1]}
    assert set(unigrams) == {"<s>", "</s>", "<unk>", "der", "die", "hund", "katze", "bellt", "schläft", "nicht", "laut"}
    # the unigram distribution (with <unk>'s share) sums to one; <s> is never predicted
    assert math.fsum(10 ** p for w, p in unigrams.items() if w != "<s>") == pytest.approx(1.0, abs=1e-6)
    assert 0 < 10 ** unigrams["<unk>"] < 0.5
    assert "der hund bellt" in {line.split("\t")[1] for line in sections[3]}  # lower-cased, punctuation gone


def test_lm_build_errors(tmp_path: Path) -> None:
    from polyasr.decoding import LanguageModelError

    empty = tmp_path / "empty.txt"
    empty.write_text("!!!\n...\n", encoding="utf-8")
    with pytest.raises(LanguageModelError, match="no text left"):
        build_arpa(empty, tmp_path / "x.arpa", LmBuildOptions(language="de"))
    with pytest.raises(LanguageModelError, match="no such corpus"):
        build_arpa(tmp_path / "missing.txt", tmp_path / "x.arpa")
    (tmp_path / "latin1.txt").write_bytes("Grüße\n".encode("latin-1"))
    with pytest.raises(LanguageModelError, match="not UTF-8"):
        build_arpa(tmp_path / "latin1.txt", tmp_path / "x.arpa")
    with pytest.raises(OptionsError, match="order"):
        LmBuildOptions(order=7)
    with pytest.raises(OptionsError, match="without spaces"):
        LmBuildOptions(language="ja")


def _arpa_sections(text: str) -> dict[int, list[str]]:
    sections: dict[int, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.endswith("-grams:"):
            current = int(line[1:].split("-")[0])
            sections[current] = []
        elif current and line.strip() and not line.startswith("\\"):
            sections[current].append(line)
    return sections
