"""CLI edges a user meets on day one: name collisions, output checks before loading, progress,
the language "auto" reports, region tags, --verbose, --help defaults and out-of-range values."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from audio_factory import write_audio
from polyasr.cli import extras, output as cli_output, recognize
from polyasr.cli.main import build_parser, main
from polyasr.engine.windows import WindowOptions
from polyasr.output.base import WriterOptions
from polyasr.output.writers import get_writer

SR = 16_000


def _noise(seconds: float, seed: int) -> np.ndarray:
    return np.clip(0.3 * np.random.default_rng(seed).standard_normal((1, int(seconds * SR))), -1, 1)


@pytest.fixture(scope="module")
def same_stems(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """d1/a.wav and d2/a.wav, en.wav and en.flac: four inputs, two stems."""
    root = tmp_path_factory.mktemp("stems")
    (root / "d1").mkdir()
    (root / "d2").mkdir()
    return [
        write_audio(root / "d1" / "a.wav", "pcm_s16le", SR, _noise(1.0, 1)),
        write_audio(root / "d2" / "a.wav", "pcm_s16le", SR, _noise(1.2, 2)),
        write_audio(root / "en.wav", "pcm_s16le", SR, _noise(0.8, 3)),
        write_audio(root / "en.flac", "flac", SR, _noise(1.1, 4)),
    ]


def test_inputs_sharing_a_stem_never_overwrite_each_other_and_every_file_written_is_named(
    recognizer, tiny_model_dir, same_stems, tmp_path, capsys
) -> None:
    """d1/a.wav and d2/a.wav both wrote a.srt: one was lost, exit 0, nothing said."""
    out = tmp_path / "out"
    code = main(["transcribe", *map(str, same_stems), "--model", str(tiny_model_dir), "--dtype", "fp32", "-f", "srt", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0
    names = ["d1_a.srt", "d2_a.srt", "en.wav.srt", "en.flac.srt"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert re.findall(r"polyasr: wrote (\S+)", err) == [str(out / name) for name in names]
    for path, name in zip(same_stems, names):
        expected = get_writer("srt", WriterOptions()).format(recognizer.transcribe(str(path)))
        assert (out / name).read_text(encoding="utf-8") == expected


def _model_never_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the outputs were checked")

    monkeypatch.setattr(recognize, "load", refuse)
    import polyasr.model.export

    monkeypatch.setattr(polyasr.model.export, "export_onnx", refuse)


def test_unusable_outputs_are_one_line_errors_before_the_model_loads(tiny_model_dir, same_stems, tmp_path, capsys, monkeypatch) -> None:
    _model_never_loads(monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    audio = str(same_stems[0])
    cases = [
        (["transcribe", audio, "-o", str(blocker)], f"--output-dir {blocker}: the folder is a file, not a folder"),
        (["transcribe", audio, "-f", "srt", "-o", str(blocker / "sub")],
         f"--output-dir {blocker / 'sub'}: the folder lies under '{blocker}', which is a file, not a folder"),
        (["align", audio, str(blocker), "-f", "json", "-o", str(blocker)], f"--output-dir {blocker}: the folder is a file, not a folder"),
        (["evaluate", "--manifest", str(tmp_path / "none.jsonl"), "-o", str(blocker)], f"--output-dir {blocker}: the folder is a file, not a folder"),
        (["export", "--output", str(blocker / "onnx")],
         f"--output {blocker / 'onnx'}: the folder lies under '{blocker}', which is a file, not a folder"),
        (["convert-lang-ids", str(tmp_path / "missing.pk"), str(tmp_path / "no" / "t.json")],
         f"target {tmp_path / 'no' / 't.json'}: its folder '{tmp_path / 'no'}' does not exist"),
        (["convert-lang-ids", str(tmp_path / "missing.pk"), str(tmp_path)], f"target {tmp_path}: is a folder; name the file to write"),
        (["lm", "build", str(tmp_path / "corpus.txt"), "--output", str(blocker / "de.arpa")],
         f"--output {blocker / 'de.arpa'}: its folder '{blocker}' is a file"),
        (["batch", str(tmp_path), "--output", str(blocker)], f"--output {blocker}: the folder is a file, not a folder"),
        (["train", "--manifest", str(tmp_path / "none.jsonl"), "--output", str(blocker / "run")],
         f"--output {blocker / 'run'}: the folder lies under '{blocker}', which is a file, not a folder"),
    ]
    for argv, message in cases:
        assert main(argv) == 1, argv
        err = capsys.readouterr().err.strip()
        assert err == f"polyasr: error: {message}", argv


def test_a_long_file_shows_a_bar_of_audio_seconds(recognizer, tiny_model_dir, tmp_path, capsys, monkeypatch) -> None:
    path = write_audio(tmp_path / "long.wav", "pcm_s16le", SR, _noise(40.0, 5))
    monkeypatch.setattr(cli_output, "BAR_DELAY_SECONDS", 0.0)  # the tiny model is fast; a real one takes minutes
    seen: list[tuple[float, float]] = []
    original = cli_output.Progress.audio
    monkeypatch.setattr(cli_output.Progress, "audio", lambda self, s, done, total: (seen.append((done, total)), original(self, s, done, total)))
    code = main(["transcribe", str(path), "--model", str(tiny_model_dir), "--dtype", "fp32", "--batch-seconds", "12",
                 "--window-seconds", "10", "--language", "en"])
    err = capsys.readouterr().err
    assert code == 0 and "audio:" in err and "40/40 s" in err
    dones = [done for done, _ in seen]
    assert len(seen) >= 4 and dones == sorted(dones) and dones[0] == 0.0 and dones[-1] == 40.0
    assert {total for _, total in seen} == {40.0}


def test_auto_and_detect_say_which_language_was_identified(recognizer, tiny_model_dir, same_stems, capsys) -> None:
    from polyasr.language.catalogue import language_name

    audio = str(same_stems[2])
    expected = recognizer.transcribe(audio)
    for language in ("auto", "detect"):
        assert main(["transcribe", audio, "--model", str(tiny_model_dir), "--dtype", "fp32", "--language", language]) == 0
        err = capsys.readouterr().err.strip()
        assert err == f"Detected language: {language_name(expected.language)} ({expected.language_probability:.2f})"
    assert main(["transcribe", audio, "--model", str(tiny_model_dir), "--dtype", "fp32", "--language", "en-US", "-f", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["language"] == "en" and captured.err == ""  # a region tag falls back; nothing detected


def _minimal(command: str, tmp_path: Path) -> list[str]:
    return {
        "transcribe": ["transcribe", "a.wav"], "detect-language": ["detect-language", "a.wav"],
        "align": ["align", "a.wav", "t.txt"], "evaluate": ["evaluate", "--manifest", "m.jsonl"],
        "export": ["export", "--output", "x"], "serve": ["serve"], "listen": ["listen"], "languages": ["languages"],
        "convert-lang-ids": ["convert-lang-ids", "a.pk", "a.json"], "batch": ["batch", "a.wav", "-o", "x"],
        "lm": ["lm", "build", "corpus.txt", "-o", "x.arpa"], "train": ["train", "--manifest", "m.jsonl", "-o", "x"],
    }[command]


def test_every_command_takes_verbose_and_its_help_shows_defaults(tmp_path, capsys) -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert set(commands) == {"transcribe", "detect-language", "align", "evaluate", "export", "serve", "listen", "languages",
                             "convert-lang-ids", "batch", "lm", "train"}
    for command in commands:
        assert parser.parse_args([*_minimal(command, tmp_path), "--verbose"]).verbose is True, command
    with pytest.raises(SystemExit) as exit_:
        main(["transcribe", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert exit_.value.code == 0
    assert "padded audio seconds per forward pass (default: 160.0)" in text
    assert "subtitle characters per line (default: 42)" in text and "(default: None)" not in text
    with pytest.raises(SystemExit):
        main(["detect-language", "--help"])
    assert "(default: 5)" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["transcribe", "a.wav", "--batch-seconds", "0"], "argument --batch-seconds: 0 is out of range: it must be greater than 0"),
    (["transcribe", "a.wav", "--window-seconds", "nan"], "argument --window-seconds: nan is out of range: it must be greater than 0"),
    (["transcribe", "a.wav", "--max-line-width", "0"], "argument --max-line-width: 0 is out of range: it must be at least 1"),
    (["transcribe", "a.wav", "--threads", "two"], "argument --threads: 'two' is not an integer"),
    (["detect-language", "a.wav", "--top", "0"], "argument --top: 0 is out of range: it must be at least 1"),
    (["transcribe", "a.wav", "--context-seconds", "-1"], "argument --context-seconds: -1 is out of range: it must be at least 0"),
    (["batch", "in/", "-o", "out/", "--batch-seconds", "0"], "argument --batch-seconds: 0 is out of range: it must be greater than 0"),
    (["evaluate", "--manifest", "m.jsonl", "--max-per-language", "-3"], "argument --max-per-language: -3 is out of range: it must be at least 1"),
])
def test_out_of_range_values_are_refused_by_the_parser(argv, message, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(f"error: {message}")


def test_a_missing_extra_names_the_command_that_installs_it(tiny_model_dir, tmp_path, capsys, monkeypatch) -> None:
    """`scripts/polyasr evaluate` died with ModuleNotFoundError: jiwer."""
    monkeypatch.setitem(sys.modules, "jiwer", None)  # import jiwer raises ImportError
    for name in ("polyasr.evaluation.run", "polyasr.evaluation.scoring", "polyasr.evaluation.report"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setenv(extras.LAUNCHER_ENV, "scripts/polyasr")
    assert main(["evaluate", "--manifest", str(tmp_path / "m.jsonl"), "--model", str(tiny_model_dir)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("polyasr: error: evaluate needs jiwer (") and err.endswith("run it as POLYASR_EXTRAS=eval scripts/polyasr ...")
    monkeypatch.delenv(extras.LAUNCHER_ENV)
    assert main(["evaluate", "--manifest", str(tmp_path / "m.jsonl"), "--model", str(tiny_model_dir)]) == 1
    assert capsys.readouterr().err.strip().endswith(extras.install_hint("eval"))


def test_under_scripts_polyasr_every_install_hint_names_the_launcher(tiny_model_dir, same_stems, capsys, monkeypatch) -> None:
    """A library's "pip install 'polyasr[lm]'" would not reach scripts/polyasr's own environment."""
    monkeypatch.setitem(sys.modules, "ctc_beam_decoder", None)  # as without the lm extra
    monkeypatch.setenv(extras.LAUNCHER_ENV, "scripts/polyasr")
    argv = ["transcribe", str(same_stems[0]), "--model", str(tiny_model_dir), "--dtype", "fp32", "--decoder", "beam", "-l", "de"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("beam search needs ctc-beam-decoder: run it as POLYASR_EXTRAS=lm scripts/polyasr ...")


def test_window_and_context_reach_the_options(tmp_path: Path) -> None:
    from polyasr.cli.batch import options_from

    args = build_parser().parse_args(["transcribe", "a.wav", "--window-seconds", "15", "--context-seconds", "1.5"])
    assert recognize.transcribe_options(args).windows == WindowOptions(window_seconds=15.0, context_seconds=1.5)
    args = build_parser().parse_args(["batch", "in/", "-o", str(tmp_path), "--window-seconds", "20", "--context-seconds", "2"])
    assert options_from(args)[0].transcribe.windows == WindowOptions(window_seconds=20.0, context_seconds=2.0)


def test_a_command_whose_extra_is_missing_says_so_before_parsing(monkeypatch, capsys) -> None:
    """The packages are looked up in polyasr's metadata; here the ray extra's are made to look absent."""
    from importlib import metadata

    real = metadata.version

    def version(name: str) -> str:
        if name == "ray":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(extras.metadata, "version", version)
    assert main(["batch", "in/", "--output", "out/", "--actors", "2"]) == 1  # not 'unrecognized arguments'
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["polyasr: error: 'batch' needs the ray extra, which is not installed (missing: ray); "
                   f"{extras.install_hint('ray')}"]
    assert extras.missing_packages("server") == [] and extras.missing_packages("no-such-extra") is None
