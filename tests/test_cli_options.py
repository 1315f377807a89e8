"""Every command keeps its options, shared options are declared once (cli/groups.py), and every
value, and the window against its contexts, is refused by the parser with one line and exit status 2."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from polyasr.cli.groups import window_options
from polyasr.cli.main import build_parser
from polyasr.errors import OptionsError
from polyasr.language.choice import AUTO

CLI = Path(__file__).resolve().parents[1] / "src" / "polyasr" / "cli"

VERBOSE = {"--verbose", "-v"}
RUNTIME = {"--model", "--device", "--dtype", "--threads"}
WINDOWS = {"--window-seconds", "--context-seconds", "--vad"}
OUTPUT = {"--output-format", "-f", "--output-dir", "-o", "--max-line-width", "--max-line-count"}
DECODER = {"--decoder", "--lm", "--no-checkpoint-lm", "--beam-size", "--lm-weight", "--word-score", "--hotwords", "--hotword-weight"}

# (positional arguments, option strings) of every command as at commit f9cf077, before the groups
EXPECTED: dict[str, tuple[list[str], set[str]]] = {
    "transcribe": (["files"], VERBOSE | RUNTIME | WINDOWS | OUTPUT | DECODER | {
        "--batch-seconds", "--language", "-l", "--candidates", "--word-timestamps", "--diarize", "--min-speakers",
        "--max-speakers"}),
    "detect-language": (["files"], VERBOSE | RUNTIME | WINDOWS | {
        "--batch-seconds", "--top", "--candidates", "--output-format", "-f"}),
    "align": (["audio", "transcript"], VERBOSE | RUNTIME | WINDOWS | OUTPUT | {"--batch-seconds", "--language", "-l"}),
    "evaluate": ([], VERBOSE | RUNTIME | DECODER | {
        "--batch-seconds", "--dataset", "--manifest", "--split", "--languages", "--max-per-language", "--language",
        "--decode", "--output-dir", "-o", "--restart", "--compare-card", "--plot"}),
    "export": (["model"], VERBOSE | {"--format", "--quantize", "--no-optimize", "--output", "-o"}),
    "serve": ([], VERBOSE | RUNTIME | DECODER | {
        "--host", "--port", "--api-key", "--model-alias", "--max-upload-mb", "--max-audio-seconds", "--timeout-seconds",
        "--queue-size", "--max-queued-audio-seconds", "--decode-slots", "--upload-timeout-seconds", "--max-connections",
        "--keep-alive-seconds", "--cors-origins", "--max-streams", "--stream-message-kb", "--stream-backlog-seconds",
        "--stream-idle-seconds", "--stream-max-seconds", "--max-batch", "--batch-wait-ms", "--log-level"}),
    "listen": ([], VERBOSE | RUNTIME | DECODER | {
        "--language", "-l", "--input-device", "--sample-rate", "--update-seconds", "--pause-seconds",
        "--max-buffer-seconds", "--json"}),
    "batch": (["inputs"], VERBOSE | RUNTIME | WINDOWS | DECODER | {
        "--batch-seconds", "--output", "-o", "--format", "--language", "-l", "--candidates", "--word-timestamps",
        "--ray-address", "--actors", "--gpus-per-worker", "--cpus-per-worker", "--num-cpus", "--object-store-mb",
        "--shards", "--files-per-batch", "--inline-seconds"}),
    "train": ([], VERBOSE | {
        "--base", "--dataset", "--manifest", "--output", "-o", "--languages", "--language", "--split",
        "--max-per-language", "--dev", "--dev-split", "--dev-languages", "--dev-max-per-language", "--no-dev",
        "--check-only", "--resume", "--cache-dir", "--min-seconds", "--max-seconds", "--batch-seconds",
        "--max-batch-size", "--balance-languages", "--vocabulary", "--epochs", "--max-steps", "--learning-rate", "--lr",
        "--warmup-steps", "--weight-decay", "--grad-accum", "--max-grad-norm", "--precision", "--loss", "--focal-gamma",
        "--train-feature-encoder", "--mask-time-prob", "--mask-time-length", "--mask-feature-prob",
        "--mask-feature-length", "--layerdrop", "--dropout", "--save-every", "--keep-checkpoints", "--eval-dtype",
        "--seed", "--device", "--threads"}),
    "languages": ([], VERBOSE | {"--model"}),
    "convert-lang-ids": (["source", "target"], VERBOSE),
    "lm build": (["corpus"], VERBOSE | {"--output", "-o", "--order", "--language", "-l", "--min-count"}),
}

# defaults of the shared options, per command (as at commit f9cf077)
DEFAULTS: dict[str, dict[str, object]] = {
    "transcribe": {"--model": None, "--device": "auto", "--dtype": "auto", "--threads": None, "--batch-seconds": 160.0,
                   "--window-seconds": 30.0, "--context-seconds": 3.0, "--vad": False, "--language": AUTO,
                   "--candidates": None},
    "detect-language": {"--batch-seconds": 160.0, "--window-seconds": 30.0, "--context-seconds": 3.0, "--candidates": None},
    "align": {"--language": None, "--window-seconds": 30.0, "--context-seconds": 3.0, "--batch-seconds": 160.0},
    "evaluate": {"--device": "auto", "--threads": None, "--batch-seconds": 160.0, "--language": None},
    "serve": {"--model": None, "--device": "auto", "--dtype": "auto", "--threads": None},
    "listen": {"--language": AUTO, "--device": "auto", "--threads": None},
    "batch": {"--language": AUTO, "--candidates": None, "--window-seconds": 30.0, "--context-seconds": 3.0,
              "--batch-seconds": 160.0, "--device": "auto", "--dtype": "auto", "--threads": None},
    "train": {"--batch-seconds": 200.0, "--device": "auto", "--threads": None},
    "languages": {"--model": None},
}


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    for word in name.split():
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return parser


def _actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


@pytest.mark.parametrize("command", sorted(EXPECTED))
def test_every_command_keeps_its_options(command: str) -> None:
    parser = _subparser(command)
    assert parser.get_default("missing_extra") is None  # its extra is installed in the test environment
    positionals, options = EXPECTED[command]
    assert [a.dest for a in _actions(parser) if not a.option_strings] == positionals
    assert {o for a in _actions(parser) for o in a.option_strings} == options


@pytest.mark.parametrize("command", sorted(DEFAULTS))
def test_shared_options_keep_their_defaults(command: str) -> None:
    by_option = {o: a for a in _actions(_subparser(command)) for o in a.option_strings}
    assert {option: by_option[option].default for option in DEFAULTS[command]} == DEFAULTS[command]


SHARED = ["--model", "--device", "--dtype", "--threads", "--batch-seconds", "--window-seconds", "--context-seconds",
          "--vad", "--candidates", "--decoder"]


@pytest.mark.parametrize("option", SHARED)
def test_each_shared_option_is_declared_once(option: str) -> None:
    declarations = [
        f"{path.name}:{number}"
        for path in sorted(CLI.glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(rf"add_argument\(\s*\"{re.escape(option)}\"", line)
    ]
    assert len(declarations) == 1, declarations


@pytest.mark.parametrize(("argv", "message"), [
    (["serve", "--threads", "0"], "argument --threads: 0 is out of range: it must be at least 1"),
    (["listen", "--threads", "0"], "argument --threads: 0 is out of range: it must be at least 1"),
    (["batch", "x", "--output", "o", "--threads", "0"], "argument --threads: 0 is out of range: it must be at least 1"),
    (["train", "--manifest", "m.jsonl", "-o", "o", "--threads", "-2"], "argument --threads: -2 is out of range: it must be at least 1"),
    (["evaluate", "--manifest", "m.jsonl", "--threads", "0"], "argument --threads: 0 is out of range: it must be at least 1"),
    (["train", "--manifest", "m.jsonl", "-o", "o", "--batch-seconds", "0"], "argument --batch-seconds: 0 is out of range: it must be greater than 0"),
    (["transcribe", "x", "--window-seconds", "4", "--context-seconds", "2"], "argument --window-seconds: 4 must exceed twice --context-seconds (2)"),
    (["detect-language", "x", "--window-seconds", "6"], "argument --window-seconds: 6 must exceed twice --context-seconds (3)"),
    (["align", "a.wav", "t.srt", "--context-seconds", "15"], "argument --window-seconds: 30 must exceed twice --context-seconds (15)"),
    (["batch", "x", "--output", "o", "--window-seconds", "4", "--context-seconds", "2"], "argument --window-seconds: 4 must exceed twice --context-seconds (2)"),
    (["transcribe", "x", "--candidates", " , "], "argument --candidates: ' , ' names no language; give codes such as de,fr,it"),
])
def test_bad_values_are_one_line_parser_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert errors == [f"polyasr {argv[0]}: error: {message}"]


def test_values_are_parsed_once_into_what_the_library_takes() -> None:
    args = build_parser().parse_args(["transcribe", "a.wav", "--candidates", "de, fr,,it", "--threads", "2",
                                      "--window-seconds", "6.5", "--context-seconds", "3"])
    assert args.candidates == ("de", "fr", "it") and args.threads == 2
    assert (args.window_seconds, args.context_seconds) == (6.5, 3.0)
    args = build_parser().parse_args(["batch", "in/", "-o", "out/", "--candidates", "de,ru", "--threads", "3"])
    assert args.candidates == ("de", "ru") and args.threads == 3


def test_window_options_check_arguments_that_no_parser_checked() -> None:
    args = argparse.Namespace(window_seconds=4.0, context_seconds=2.0)
    with pytest.raises(OptionsError, match="--window-seconds: 4 must exceed twice --context-seconds"):
        window_options(args)
