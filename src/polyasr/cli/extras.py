"""Which optional parts (extras) are installed, read from polyasr's own package metadata, and the
exact command that installs one.

One definition for the CLI (a command or option whose extra is missing says so before the
arguments are parsed; every hint names the command for how polyasr was installed) and for
scripts/bootstrap.sh (`python -m polyasr.cli.extras EXTRA` exits 0 when every package the extra
requires is installed at a fitting version, so nothing is installed again).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

# The extra each command needs before it can even parse its options.
COMMAND_EXTRAS = {"serve": "server", "batch": "ray", "train": "train", "listen": "listen", "export": "onnx",
                  "evaluate": "eval", "lm": "lm"}
# The extra an option needs ("--decoder beam" counts as an option of its own).
OPTION_EXTRAS = {"--diarize": "diarize", "--vad": "vad", "--plot": "plot", "--lm": "lm", "--hotwords": "lm",
                 "--decoder beam": "lm"}
LAUNCHER_ENV = "POLYASR_LAUNCHER"  # set by scripts/polyasr: its extras are installed by POLYASR_EXTRAS=x
# how library code names an extra's install; not after "-m " (an install_hint already), so rewriting is idempotent
PIP_HINT = re.compile(r"(?<!-m )pip install 'polyasr\[([\w,-]+)\]'")


def _pip() -> str:
    """`pip` when the pip on PATH installs into this Python's environment, else this Python's `-m pip`."""
    found = shutil.which("pip")
    if found and Path(found).parent == Path(sys.executable).parent:
        return "pip"
    return f"{shlex.quote(sys.executable)} -m pip"


def _requirement(extra: str) -> str:
    """What pip installs: the source folder polyasr was installed from (editable or not), else the
    package by name (from an index or a wheel: pip reads the extra from the installed metadata)."""
    try:
        origin = json.loads(metadata.distribution("polyasr").read_text("direct_url.json") or "null")
    except (metadata.PackageNotFoundError, ValueError):
        origin = None
    if isinstance(origin, dict) and "dir_info" in origin and str(origin.get("url", "")).startswith("file://"):
        folder = unquote(urlparse(origin["url"]).path)
        editable = "-e " if origin["dir_info"].get("editable") else ""
        return f"{editable}{shlex.quote(f'{folder}[{extra}]')}"
    return shlex.quote(f"polyasr[{extra}]")


def install_hint(extra: str) -> str:
    """The one command that installs `extra` where this polyasr runs: under scripts/polyasr, running
    it with POLYASR_EXTRAS; else pip (this environment's) with the source polyasr was installed from."""
    launcher = os.environ.get(LAUNCHER_ENV)
    if launcher:
        return f"run it as POLYASR_EXTRAS={extra} {launcher} ..."
    return f"{_pip()} install {_requirement(extra)}"


def with_install_hints(text: str) -> str:
    """`text` (an error, a help page) with each "pip install 'polyasr[x]'" replaced by `install_hint(x)`."""
    return PIP_HINT.sub(lambda match: install_hint(match[1]), text)


def missing_packages(extra: str) -> list[str] | None:
    """The packages of `extra` that are not installed at a fitting version ([] when none); None for an
    unknown extra (or a polyasr without metadata, run from a source tree). An extra made of others
    (`all` = "polyasr[eval,vad,...]") is the union of theirs."""
    from packaging.requirements import Requirement

    try:
        declared = metadata.requires("polyasr") or []
    except metadata.PackageNotFoundError:
        return None
    needed = [r for r in map(Requirement, declared) if r.marker is not None and r.marker.evaluate({"extra": extra})]
    if not needed:
        return None
    missing: list[str] = []
    for requirement in needed:
        if requirement.name == "polyasr":
            missing += [m for part in sorted(requirement.extras) for m in missing_packages(part) or [] if m not in missing]
            continue
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(requirement.name)
            continue
        if installed not in requirement.specifier:
            missing.append(f"{requirement.name} {installed} (needs {requirement.specifier})")
    return missing


def _wanted(argv: list[str]) -> list[tuple[str, str]]:
    """(what, extra) for the command of `argv` and each option that needs an extra."""
    command = next((word for word in argv if not word.startswith("-")), "")
    wanted = [(command, COMMAND_EXTRAS[command])] if command in COMMAND_EXTRAS else []
    words: set[str] = set()  # each option, and each option with its value ("--decoder beam", "--decoder=beam")
    for word, following in zip(argv, [*argv[1:], ""]):
        name, equals, value = word.partition("=")
        words |= {name, f"{name} {value if equals else following}"}
    return wanted + [(option, extra) for option, extra in OPTION_EXTRAS.items() if option in words]


def missing_for_command(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """(command or option, extra, missing packages) for the first command or option in `argv` that needs
    an extra that is not installed."""
    for what, extra in _wanted(argv):
        missing = missing_packages(extra)
        if missing:
            return what, extra, missing
    return None


if __name__ == "__main__":  # scripts/bootstrap.sh: exit 0 when the extra is installed
    sys.exit(0 if missing_packages(sys.argv[1]) == [] else 1)
