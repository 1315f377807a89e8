"""The installed polyasr version, read from the package metadata (pyproject.toml is the one place it is written)."""

from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("polyasr")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "0+unknown"
