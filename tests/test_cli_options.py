"""Every command keeps its options, shared options are declared once (cli/groups.py), and every
value out of range (the window against its contexts, the data source of evaluate and train, batch's
and serve's numbers) is refused by the parser with one line and exit status 2."""

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
OUTPUT = {"--output-format", "-f", "--output-dir", "-o", "--max-line-width", "--max-line-count", "--highlight-below"}
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
        "--decode", "--output-dir", "-o", "--restart", "--compare-card", "--plot", "--verbalize-numbers"}),
    "export": (["model"], VERBOSE | {"--model", "--format", "--quantize", "--no-optimize", "--output", "-o"}),  # --model: #28
    "serve": ([], VERBOSE | RUNTIME | DECODER | {
        "--host", "--port", "--api-key", "--model-alias", "--max-upload-mb", "--max-audio-seconds", "--timeout-seconds",
        "--queue-size", "--max-queued-audio-seconds", "--decode-slots", "--upload-timeout-seconds", "--max-connections",
        "--keep-alive-seconds", "--cors-origins", "--max-streams", "--stream-message-kb", "--stream-backlog-seconds",
        "--stream-idle-seconds", "--stream-max-seconds", "--max-batch", "--batch-wait-ms", "--log-level",
        "--stream-auth-seconds", "--allowed-hosts", "--header-timeout-seconds", "--max-header-kb", "--max-sockets",
        "--shutdown-timeout-seconds", "--max-spool-mb", "--log-format",
        "--ray", "--replicas", "--min-replicas", "--max-replicas", "--target-ongoing-requests", "--replica-cpus",
        "--replica-gpus", "--ray-cpus", "--ray-address", "--replica-resource", "--upscale-delay-seconds",
        "--downscale-delay-seconds", "--scaling-look-back-seconds"}),
    "listen": ([], VERBOSE | RUNTIME | DECODER | {
        "--language", "-l", "--input-device", "--sample-rate", "--update-seconds", "--pause-seconds",
        "--max-buffer-seconds", "--json", "--left-context-seconds", "--endpoint-seconds"}),
    "batch": (["inputs"], VERBOSE | RUNTIME | WINDOWS | DECODER | {
        "--batch-seconds", "--output", "-o", "--format", "--language", "-l", "--candidates", "--word-timestamps",
        "--ray", "--ray-address", "--actors", "--gpus-per-worker", "--cpus-per-worker", "--num-cpus", "--object-store-mb",
        "--shards", "--files-per-batch", "--inline-seconds"}),
    "train": ([], VERBOSE | {
        "--base", "--dataset", "--manifest", "--output", "-o", "--languages", "--language", "--split",
        "--max-per-language", "--dev", "--dev-split", "--dev-languages", "--dev-max-per-language", "--no-dev",
        "--check-only", "--resume", "--cache-dir", "--min-seconds", "--max-seconds", "--batch-seconds",
        "--max-batch-size", "--balance-languages", "--vocabulary", "--epochs", "--max-steps", "--learning-rate", "--lr",
        "--warmup-steps", "--weight-decay", "--grad-accum", "--max-grad-norm", "--precision", "--loss", "--focal-gamma",
        "--train-feature-encoder", "--mask-time-prob", "--mask-time-length", "--mask-feature-prob",
        "--mask-feature-length", "--layerdrop", "--dropout", "--save-every", "--keep-checkpoints", "--eval-dtype",
        "--seed", "--device", "--threads", "--verbalize-numbers"}),
    "languages": ([], VERBOSE | {"--model"}),
    "convert-lang-ids": (["source", "target"], VERBOSE),
    "lm build": (["corpus"], VERBOSE | {"--output", "-o", "--order", "--language", "-l", "--min-count"}),
}

# defaults of the shared options, per command (as at commit f9cf077)
DEFAULTS: dict[str, dict[str, object]] = {
    "transcribe": {"--model": None, "--device": "auto", "--dtype": "auto", "--threads": None, "--batch-seconds": 160.0,
                   "--window-seconds": 15.0, "--context-seconds": 1.5, "--vad": False, "--language": AUTO,
                   "--candidates": None},
    "detect-language": {"--batch-seconds": 160.0, "--window-seconds": 15.0, "--context-seconds": 1.5, "--candidates": None},
    "align": {"--language": None, "--window-seconds": 15.0, "--context-seconds": 1.5, "--batch-seconds": 160.0},
    "evaluate": {"--device": "auto", "--threads": None, "--batch-seconds": 160.0, "--language": None},
    "serve": {"--model": None, "--device": "auto", "--dtype": "auto", "--threads": None},
    "listen": {"--language": AUTO, "--device": "auto", "--threads": None},
    "batch": {"--language": AUTO, "--candidates": None, "--window-seconds": 15.0, "--context-seconds": 1.5,
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
          "--vad", "--candidates", "--decoder", "--dataset", "--manifest", "--split", "--languages", "--max-per-language",
          "--ray", "--ray-address"]
# an option that means different things on different commands is declared once per meaning
# (--language: lm build's text rules; the language group; the data source's rows without a language column)
PER_MEANING = {"--language": ["decoder.py", "groups.py", "groups.py"]}
DATA_SOURCE = {"--dataset", "--manifest", "--split", "--languages", "--max-per-language", "--language"}
BATCH = ["batch", "in/", "-o", "out/"]
TRAIN = ["train", "--manifest", "m.jsonl", "-o", "o"]


def _declarations(option: str) -> list[str]:
    return [
        f"{path.name}:{number}"
        for path in sorted(CLI.glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(rf"add_argument\(\s*\"{re.escape(option)}\"", line)
    ]


@pytest.mark.parametrize("option", SHARED)
def test_each_shared_option_is_declared_once(option: str) -> None:
    declarations = _declarations(option)
    assert len(declarations) == 1, declarations


@pytest.mark.parametrize("option", sorted(PER_MEANING))
def test_an_option_with_several_meanings_is_declared_once_per_meaning(option: str) -> None:
    assert [where.split(":")[0] for where in _declarations(option)] == PER_MEANING[option]


def test_evaluate_and_train_share_one_data_source() -> None:
    """The same actions (type, default, required group) on both commands; only help and --split's default differ."""
    def described(command: str) -> dict[str, tuple]:
        parser = _subparser(command)
        group = next(g for g in parser._mutually_exclusive_groups if any("--dataset" in a.option_strings for a in g._group_actions))
        return {a.option_strings[0]: (a.type, a.default, a.metavar, a in group._group_actions, group.required)
                for a in _actions(parser) if a.option_strings[0] in DATA_SOURCE}

    evaluate, train = described("evaluate"), described("train")
    assert evaluate.pop("--split")[1:] == ("test", None, False, True) and train.pop("--split")[1:] == ("train", None, False, True)
    assert evaluate == train and set(evaluate) == DATA_SOURCE - {"--split"}



@pytest.mark.parametrize(("argv", "message"), [
    (["serve", "--threads", "0"], "argument --threads: 0 is out of range: it must be at least 1"),
    (["listen", "--threads", "0"], "argument --threads: 0 is out of range: it must be at least 1"),
    (["batch", "x", "--output", "o", "--threads", "0"], "argument --threads: 0 is out of range: it must be at least 1"),
    (["train", "--manifest", "m.jsonl", "-o", "o", "--threads", "-2"], "argument --threads: -2 is out of range: it must be at least 1"),
    (["evaluate", "--manifest", "m.jsonl", "--threads", "0"], "argument --threads: 0 is out of range: it must be at least 1"),
    (["train", "--manifest", "m.jsonl", "-o", "o", "--batch-seconds", "0"], "argument --batch-seconds: 0 is out of range: it must be greater than 0"),
    (["transcribe", "x", "--window-seconds", "4", "--context-seconds", "2"], "argument --window-seconds: 4 must exceed twice --context-seconds (2)"),
    (["detect-language", "x", "--window-seconds", "3"], "argument --window-seconds: 3 must exceed twice --context-seconds (1.5)"),
    (["align", "a.wav", "t.srt", "--context-seconds", "7.5"], "argument --window-seconds: 15 must exceed twice --context-seconds (7.5)"),
    (["batch", "x", "--output", "o", "--window-seconds", "4", "--context-seconds", "2"], "argument --window-seconds: 4 must exceed twice --context-seconds (2)"),
    (["transcribe", "x", "--candidates", " , "], "argument --candidates: ' , ' names no language; give codes such as de,fr,it"),
    # the data source of evaluate and train
    ([*TRAIN, "--max-per-language", "0"], "argument --max-per-language: 0 is out of range: it must be at least 1"),
    (["evaluate", "--dataset", "cv", "--max-per-language", "-3"], "argument --max-per-language: -3 is out of range: it must be at least 1"),
    (["train", "--dataset", "cv", "-o", "o", "--max-per-language", "ten"], "argument --max-per-language: 'ten' is not an integer"),
    ([*TRAIN, "--languages", ","], "argument --languages: ',' names no language; give codes such as de,fr,it"),
    (["evaluate", "--dataset", "cv", "--languages", ""], "argument --languages: '' names no language; give codes such as de,fr,it"),
    (["evaluate", "--dataset", "cv", "--manifest", "m.jsonl"], "argument --manifest: not allowed with argument --dataset"),
    (["train", "-o", "o"], "one of the arguments --dataset --manifest is required"),
    (["evaluate"], "one of the arguments --dataset --manifest is required"),
    # batch-only numbers, as BatchJobOptions and ClusterOptions allow them
    ([*BATCH, "--actors", "0"], "argument --actors: 0 is out of range: it must be at least 1"),
    ([*BATCH, "--files-per-batch", "0"], "argument --files-per-batch: 0 is out of range: it must be at least 1"),
    ([*BATCH, "--shards", "-1"], "argument --shards: -1 is out of range: it must be at least 1"),
    ([*BATCH, "--num-cpus", "0"], "argument --num-cpus: 0 is out of range: it must be at least 1"),
    ([*BATCH, "--object-store-mb", "0"], "argument --object-store-mb: 0 is out of range: it must be at least 1"),
    ([*BATCH, "--actors", "2.5"], "argument --actors: '2.5' is not an integer"),
    ([*BATCH, "--inline-seconds", "0"], "argument --inline-seconds: 0 is out of range: it must be greater than 0"),
    ([*BATCH, "--inline-seconds", "inf"], "argument --inline-seconds: inf is out of range: it must be greater than 0"),
    ([*BATCH, "--gpus-per-worker", "-0.5"], "argument --gpus-per-worker: -0.5 is out of range: it must be at least 0"),
    ([*BATCH, "--cpus-per-worker", "-1"], "argument --cpus-per-worker: -1 is out of range: it must be at least 0"),
    ([*BATCH, "--cpus-per-worker", "nan"], "argument --cpus-per-worker: nan is out of range: it must be at least 0"),
    # serve's numbers, as ServerOptions and StreamLimits allow them
    (["serve", "--port", "65536"], "argument --port: 65536 is out of range: it must be from 0 to 65535"),
    (["serve", "--port", "-1"], "argument --port: -1 is out of range: it must be from 0 to 65535"),
    (["serve", "--queue-size", "0"], "argument --queue-size: 0 is out of range: it must be at least 1"),
    (["serve", "--decode-slots", "0"], "argument --decode-slots: 0 is out of range: it must be at least 1"),
    (["serve", "--max-connections", "0"], "argument --max-connections: 0 is out of range: it must be at least 1"),
    (["serve", "--max-streams", "0"], "argument --max-streams: 0 is out of range: it must be at least 1"),
    (["serve", "--max-batch", "0"], "argument --max-batch: 0 is out of range: it must be at least 1"),
    (["serve", "--max-upload-mb", "0"], "argument --max-upload-mb: 0 is out of range: it must be greater than 0"),
    (["serve", "--max-audio-seconds", "-5"], "argument --max-audio-seconds: -5 is out of range: it must be greater than 0"),
    (["serve", "--timeout-seconds", "0"], "argument --timeout-seconds: 0 is out of range: it must be greater than 0"),
    (["serve", "--max-queued-audio-seconds", "0"], "argument --max-queued-audio-seconds: 0 is out of range: it must be greater than 0"),
    (["serve", "--upload-timeout-seconds", "0"], "argument --upload-timeout-seconds: 0 is out of range: it must be greater than 0"),
    (["serve", "--keep-alive-seconds", "0"], "argument --keep-alive-seconds: 0 is out of range: it must be greater than 0"),
    (["serve", "--stream-message-kb", "0"], "argument --stream-message-kb: 0 is out of range: it must be greater than 0"),
    (["serve", "--stream-backlog-seconds", "0"], "argument --stream-backlog-seconds: 0 is out of range: it must be greater than 0"),
    (["serve", "--stream-idle-seconds", "0"], "argument --stream-idle-seconds: 0 is out of range: it must be greater than 0"),
    (["serve", "--stream-max-seconds", "0"], "argument --stream-max-seconds: 0 is out of range: it must be greater than 0"),
    (["serve", "--batch-wait-ms", "-1"], "argument --batch-wait-ms: -1 is out of range: it must be at least 0"),
    (["serve", "--ray", "--replica-resource", "slot"],
     "argument --replica-resource: 'slot' is not NAME=AMOUNT with a custom resource name (not CPU or GPU)"),
    (["serve", "--ray", "--replica-resource", "GPU=1"],
     "argument --replica-resource: 'GPU=1' is not NAME=AMOUNT with a custom resource name (not CPU or GPU)"),
    (["serve", "--ray", "--replica-resource", "slot=0"], "argument --replica-resource: 0 is out of range: it must be greater than 0"),
    (["batch", "--ray", "in/", "-o", "out"],
     "argument --ray: 'in/' is not a Ray address (auto, local, HOST:PORT or ray://HOST:PORT); a bare --ray takes the next "
     "word as its address: put --ray after the inputs"),
    (["serve", "--ray", "--downscale-delay-seconds", "0"],
     "argument --downscale-delay-seconds: 0 is out of range: it must be greater than 0"),
    (["serve", "--decoder", "beam", "--hotwords", "Müller,x:nan"],
     "argument --hotwords: hotword 'x:nan': the weight must be a finite number between -100 and 100, not nan"),
    (["transcribe", "a.wav", "--decoder", "beam", "--hotwords", "x:inf"],
     "argument --hotwords: hotword 'x:inf': the weight must be a finite number between -100 and 100, not inf"),
    (["serve", "--decoder", "beam", "--hotword-weight", "1e9"],
     "argument --hotword-weight: --hotword-weight: the weight must be a finite number between -100 and 100, not 1e+09"),
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


def test_data_source_values_are_parsed_once() -> None:
    args = build_parser().parse_args([*TRAIN, "--languages", "rw, kab,", "--max-per-language", "5", "--language", "rw"])
    assert (args.languages, args.max_per_language, args.language, args.split) == (("rw", "kab"), 5, "rw", "train")
    args = build_parser().parse_args(["evaluate", "--dataset", "cv", "--languages", "de,fr,ja"])
    assert (args.dataset, args.manifest, args.languages, args.max_per_language, args.split) == ("cv", None, ("de", "fr", "ja"), None, "test")


def test_the_smallest_numbers_the_parser_takes_are_valid_options() -> None:
    """The parser's bounds are the options dataclasses' own: what it accepts, they accept."""
    from polyasr.cli.batch import options_from
    from polyasr.cli.serve import server_options

    args = build_parser().parse_args([*BATCH, "--actors", "1", "--files-per-batch", "1", "--shards", "1", "--num-cpus", "1",
                                      "--object-store-mb", "1", "--inline-seconds", "0.001", "--gpus-per-worker", "0",
                                      "--cpus-per-worker", "0"])
    job, cluster = options_from(args)
    assert (job.shards, job.files_per_batch, job.inline_seconds) == (1, 1, 0.001)
    assert (cluster.actors, cluster.local_cpus, cluster.object_store_mb, cluster.gpus_per_actor, cluster.cpus_per_actor) == (1, 1, 1, 0, 0)
    args = build_parser().parse_args(["serve", "--port", "0", "--queue-size", "1", "--decode-slots", "1", "--max-connections", "1",
                                      "--max-streams", "1", "--max-batch", "1", "--max-upload-mb", "0.01", "--max-audio-seconds", "0.5",
                                      "--timeout-seconds", "0.5", "--max-queued-audio-seconds", "0.5", "--upload-timeout-seconds", "0.5",
                                      "--keep-alive-seconds", "0.5", "--stream-message-kb", "0.5", "--stream-backlog-seconds", "0.5",
                                      "--stream-idle-seconds", "0.5", "--stream-max-seconds", "0.5", "--batch-wait-ms", "0"])
    options = server_options(args)
    assert (args.port, options.batcher.queue_size, options.batcher.max_batch, options.batcher.batch_wait_ms, options.streams.max_streams) == (0, 1, 1, 0, 1)


def test_window_options_check_arguments_that_no_parser_checked() -> None:
    args = argparse.Namespace(window_seconds=4.0, context_seconds=2.0)
    with pytest.raises(OptionsError, match="--window-seconds: 4 must exceed twice --context-seconds"):
        window_options(args)


def test_serve_and_batch_name_the_ray_address_alike(capsys: pytest.CaptureFixture[str]) -> None:
    """--ray [ADDRESS] on both (groups.add_ray_argument); batch's old --ray-address still works, hidden, with a warning."""
    from polyasr.cli.batch import options_from
    from polyasr.cli.serve import scaling_options

    for argv, address in ((["--ray", "10.0.0.5:6379"], "10.0.0.5:6379"), (["--ray"], None), ([], None)):
        assert options_from(build_parser().parse_args([*BATCH, *argv]))[1].address == address
    scaling = scaling_options(build_parser().parse_args(["serve", "--ray", "10.0.0.5:6379", "--replicas", "2"]))
    assert scaling is not None and scaling.address == "10.0.0.5:6379"
    assert capsys.readouterr().err == ""
    old = options_from(build_parser().parse_args([*BATCH, "--ray-address", "auto"]))[1]
    assert old.address == "auto"
    assert capsys.readouterr().err == "polyasr: warning: --ray-address is deprecated; use --ray ADDRESS\n"
    scaling = scaling_options(build_parser().parse_args(["serve", "--ray-address", "auto"]))
    assert scaling is not None and scaling.address == "auto" and "deprecated" in capsys.readouterr().err
    for command in (["serve"], BATCH):
        helped = _subparser(command[0]).format_help()
        assert "--ray [ADDRESS]" in helped and "--ray-address" not in helped


def test_serve_scaling_options_reach_ray_serve() -> None:
    from polyasr.cli.serve import scaling_options

    args = build_parser().parse_args(["serve", "--ray", "--min-replicas", "1", "--max-replicas", "3", "--replica-resource",
                                      "asr_slot=1", "--replica-resource", "big=0.5", "--upscale-delay-seconds", "2",
                                      "--downscale-delay-seconds", "5", "--scaling-look-back-seconds", "4"])
    scaling = scaling_options(args)
    assert scaling is not None and scaling.replica_resources == (("asr_slot", 1.0), ("big", 0.5))
    assert scaling.autoscaling_config() == {"min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 4.0,
                                            "upscale_delay_s": 2.0, "downscale_delay_s": 5.0, "look_back_period_s": 4.0}
    assert scaling_options(build_parser().parse_args(["serve", "--ray", "--replicas", "2"])).autoscaling_config() is None
