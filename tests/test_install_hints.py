"""Every "this needs an extra" hint names the one command that installs it where polyasr runs: under
scripts/polyasr, POLYASR_EXTRAS=x scripts/polyasr ...; else this environment's pip with the source
polyasr came from. (`--diarize` named the vad extra and `pip install --no-deps resemblyzer`; --help
said pip install under the launcher; a plain `pip install 'polyasr[x]'` reaches neither a source
checkout's install nor a venv that is not on PATH.)"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

import pytest

from polyasr.cli import extras
from polyasr.cli.main import build_parser, main


class _Installed:
    """polyasr's distribution as pip left it: its direct_url.json (None: installed from an index)."""

    def __init__(self, direct_url: dict | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        return json.dumps(self.direct_url) if name == "direct_url.json" and self.direct_url else None


@pytest.mark.parametrize("direct_url, requirement", [
    (None, "'polyasr[vad]'"),  # from an index
    ({"url": "file:///tmp/polyasr-0.1.0-py3-none-any.whl", "archive_info": {}}, "'polyasr[vad]'"),  # a wheel file
    ({"url": "file:///home/me/polyasr", "dir_info": {"editable": True}}, "-e '/home/me/polyasr[vad]'"),
    ({"url": "file:///home/me/my%20polyasr", "dir_info": {}}, "'/home/me/my polyasr[vad]'"),  # pip install .
])
def test_the_hint_names_how_polyasr_was_installed(monkeypatch, direct_url, requirement) -> None:
    monkeypatch.delenv(extras.LAUNCHER_ENV, raising=False)
    monkeypatch.setattr(extras.metadata, "distribution", lambda name: _Installed(direct_url))
    monkeypatch.setattr(extras.shutil, "which", lambda name: str(Path(sys.executable).parent / name))  # a venv on PATH
    assert extras.install_hint("vad") == f"pip install {requirement}"
    monkeypatch.setattr(extras.shutil, "which", lambda name: "/usr/bin/pip")  # another Python's pip
    assert extras.install_hint("vad") == f"{sys.executable} -m pip install {requirement}"
    monkeypatch.setenv(extras.LAUNCHER_ENV, "scripts/polyasr")
    assert extras.install_hint("vad") == "run it as POLYASR_EXTRAS=vad scripts/polyasr ..."


def test_rewriting_hints_twice_changes_nothing(monkeypatch) -> None:
    monkeypatch.delenv(extras.LAUNCHER_ENV, raising=False)
    monkeypatch.setattr(extras.shutil, "which", lambda name: None)
    once = extras.with_install_hints("beam search needs ctc-beam-decoder: pip install 'polyasr[lm]'")
    assert once == f"beam search needs ctc-beam-decoder: {extras.install_hint('lm')}"
    assert extras.with_install_hints(once) == once


def test_help_under_the_launcher_names_the_launcher(monkeypatch, capsys) -> None:
    monkeypatch.setenv(extras.LAUNCHER_ENV, "scripts/polyasr")
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    pages = [parser.format_help()] + [sub.format_help() for sub in commands.values()]
    text = "\n".join(" ".join(page.split()) for page in pages)  # the help wraps lines
    assert "pip install" not in text
    for extra in ("listen", "ray", "lm", "train", "vad", "diarize", "plot"):
        assert f"run it as POLYASR_EXTRAS={extra} scripts/polyasr ..." in text


@pytest.mark.parametrize("argv, what, extra, package", [
    (["transcribe", "a.wav", "--diarize"], "--diarize", "diarize", "scikit-learn"),  # was: the vad extra, then resemblyzer
    (["transcribe", "a.wav", "--decoder=beam"], "--decoder beam", "lm", "ctc-beam-decoder"),
    (["transcribe", "a.wav", "--lm", "x.arpa"], "--lm", "lm", "ctc-beam-decoder"),
    (["transcribe", "a.wav", "--vad"], "--vad", "vad", "silero-vad"),
])
def test_an_option_whose_extra_is_missing_says_so_before_parsing(monkeypatch, capsys, argv, what, extra, package) -> None:
    real = metadata.version

    def version(name: str) -> str:
        if name == package:
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(extras.metadata, "version", version)
    monkeypatch.setenv(extras.LAUNCHER_ENV, "scripts/polyasr")
    assert main(argv) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"polyasr: error: '{what}' needs the {extra} extra, which is not installed (missing: {package}); "
        f"run it as POLYASR_EXTRAS={extra} scripts/polyasr ..."]
    assert extras.missing_for_command(["transcribe", "a.wav", "--decoder", "greedy"]) is None


def test_all_is_every_runtime_extra_and_counts_as_their_union(monkeypatch) -> None:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    from packaging.requirements import Requirement

    declared = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (everything,) = map(Requirement, declared["all"])
    assert everything.name == "polyasr" and everything.extras == set(declared) - {"all", "dev", "benchmarks", "docs"}
    requires = ['jiwer>=3.0; extra == "eval"', 'silero-vad>=5.1; extra == "vad"', 'polyasr[eval,vad]; extra == "all"']
    monkeypatch.setattr(extras.metadata, "requires", lambda name: requires)
    monkeypatch.setattr(extras.metadata, "version", lambda name: {"jiwer": "3.1.0"}.get(name) or (_ for _ in ()).throw(
        metadata.PackageNotFoundError(name)))
    assert extras.missing_packages("all") == ["silero-vad"]  # not [] because polyasr itself is installed
