"""Which optional parts (extras) are installed, read from polyasr's own package metadata.

One definition for the CLI (a command whose extra is missing says so before its arguments are
parsed) and for scripts/bootstrap.sh (`python -m polyasr.cli.extras EXTRA` exits 0 when every
package the extra requires is installed at a fitting version, so nothing is installed again).
"""

from __future__ import annotations

import sys
from importlib import metadata

# The extra each command needs before it can even parse its options.
COMMAND_EXTRAS = {"serve": "server", "batch": "ray", "train": "train", "listen": "listen", "export": "onnx",
                  "evaluate": "eval"}


def missing_packages(extra: str) -> list[str] | None:
    """The packages of `extra` that are not installed at a fitting version ([] when none); None for an
    unknown extra (or a polyasr without metadata, run from a source tree)."""
    from packaging.requirements import Requirement

    try:
        declared = metadata.requires("polyasr") or []
    except metadata.PackageNotFoundError:
        return None
    needed = [r for r in map(Requirement, declared) if r.marker is not None and r.marker.evaluate({"extra": extra})]
    if not needed:
        return None
    missing = []
    for requirement in needed:
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(requirement.name)
            continue
        if installed not in requirement.specifier:
            missing.append(f"{requirement.name} {installed} (needs {requirement.specifier})")
    return missing


def missing_for_command(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """(command, extra, missing packages) when the command in `argv` needs an extra that is not installed."""
    command = next((word for word in argv if not word.startswith("-")), "")
    extra = COMMAND_EXTRAS.get(command)
    if extra is None:
        return None
    missing = missing_packages(extra)
    return (command, extra, missing) if missing else None


if __name__ == "__main__":  # scripts/bootstrap.sh: exit 0 when the extra is installed
    sys.exit(0 if missing_packages(sys.argv[1]) == [] else 1)
