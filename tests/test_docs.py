"""The docs' language table (docs/languages.md) says what the code does."""

from __future__ import annotations

from pathlib import Path

from polyasr.language.table import read_language_table
from polyasr.language.normalizer_rules import rules_table

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES_PAGE = ROOT / "docs" / "languages.md"


def test_docs_language_table_matches_catalogue_table_and_normaliser(real_lang_ids_path) -> None:
    table = read_language_table(real_lang_ids_path)
    rows = {}
    for line in LANGUAGES_PAGE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in table.ids:
            rows[cells[0]] = cells
    assert set(rows) == set(table.ids)  # every code of the model's table, nothing else
    for rule in rules_table():
        code, name, script, characters, normaliser = rows[rule.code]
        count = len(table.ids[rule.code])
        assert (name, script) == (rule.name, rule.script)
        assert characters == (str(count) if count else "0 (cannot restrict)")
        assert normaliser.startswith("special") == rule.special


def test_tests_and_benchmarks_read_nothing_outside_the_repository() -> None:
    """A fresh clone must run every test: no path to the workspace's shared folder or above the repo."""
    root = ROOT
    markers = ("/" + "work/", '"' + 'shared"', "parents" + "[2]")  # spelled apart so this test does not find itself
    offenders = [
        f"{path.relative_to(root)}:{number}"
        for folder in ("tests", "benchmarks")
        for path in sorted((root / folder).glob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if any(marker in line for marker in markers)
    ]
    assert offenders == []
