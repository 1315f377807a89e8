"""The package's layout as ARCHITECTURE.md draws it: stage folders, imports only downwards, small modules."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "polyasr"

# Each folder and the folders (or root modules, as "root:NAME") it may import: ARCHITECTURE.md's table.
ROOT = {"root:errors", "root:results", "root:version"}
ALLOWED: dict[str, set[str]] = {
    **{unit: set() for unit in ROOT},  # the ground floor imports nothing of the package
    "language": ROOT,
    "audio": ROOT,
    "decoding": ROOT | {"language"},
    "model": ROOT | {"audio", "decoding", "language"},
    "output": ROOT | {"decoding", "language"},
    "engine": ROOT | {"audio", "decoding", "model"},
    "diarization": ROOT | {"audio", "output"},
    "root:options": ROOT | {"audio", "decoding", "diarization", "engine", "language", "output"},
    "align": ROOT | {"root:options", "audio", "decoding", "engine", "language", "model", "output"},
    "recognizer": ROOT | {"root:options", "align", "audio", "decoding", "diarization", "engine", "language", "model", "output"},
}
for upper, below in {
    "streaming": {"recognizer"},
    "evaluation": {"recognizer"},
    "batch": {"recognizer"},
    "server": {"recognizer", "streaming"},
    "training": {"recognizer", "evaluation"},
}.items():
    ALLOWED[upper] = ALLOWED["recognizer"] | {"recognizer"} | below
TOP = {"cli", "root:__init__", "root:__main__"}  # may import anything


def _unit(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return f"root:{path.stem}" if len(parts) == 1 else parts[0]


def _imported_units(path: Path) -> set[str]:
    """The folders and root modules a module imports (relative imports; absolute polyasr ones too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = list(path.relative_to(PACKAGE).parent.parts)
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
            target = base + (node.module.split(".") if node.module else [])
        elif node.module and node.module.split(".")[0] == "polyasr":
            target = node.module.split(".")[1:]
        else:
            continue
        if not target:  # `from . import x` at the root, or `from .. import x`
            names = [alias.name for alias in node.names]
            found |= {f"root:{name}" if (PACKAGE / f"{name}.py").exists() else name for name in names}
            continue
        head = target[0]
        found.add(head if (PACKAGE / head).is_dir() else f"root:{head}")
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_the_root_keeps_at_most_ten_modules() -> None:
    assert len(list(PACKAGE.glob("*.py"))) <= 10


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_folder_imports_one_above_it(path: Path) -> None:
    unit = _unit(path)
    if unit in TOP:
        return
    assert unit in ALLOWED, f"{unit} is not in ARCHITECTURE.md's table"
    foreign = {u for u in _imported_units(path) if u != unit} - ALLOWED[unit]
    assert not foreign, f"{path.relative_to(PACKAGE)} imports {sorted(foreign)}, above or beside its floor"


def test_every_folder_says_what_it_owns_and_lists_its_modules() -> None:
    for folder in sorted(p for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc) > 80, f"{folder.name}/__init__.py has no docstring"
        if folder.name in {"server", "batch", "training", "diarization"}:
            continue  # their docstrings name their modules in prose
        missing = [m.name for m in folder.glob("*.py") if m.name != "__init__.py" and m.name not in doc]
        assert not missing, f"{folder.name}/__init__.py does not name {missing}"


def test_no_module_is_over_400_lines_except_data_tables() -> None:
    data_tables = {"language/normalizer_tables.py"}
    long = [str(p.relative_to(PACKAGE)) for p in _modules()
            if len(p.read_text(encoding="utf-8").splitlines()) > 400 and str(p.relative_to(PACKAGE)) not in data_tables]
    assert long == []


def test_nothing_below_the_entry_points_compares_language_choice_strings() -> None:
    comparison = re.compile(r"""(==|!=|\bin\s*\()\s*["'](auto|detect)["']|["'](auto|detect)["']\s*(==|!=)|\.lower\(\)\s*in\s*\(""")
    offenders = []
    for path in _modules():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if comparison.search(line) and "dtype" not in line and "device" not in line and "precision" not in line:
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert offenders == []
