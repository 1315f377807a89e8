"""The language catalogue and the lookup of user-typed language codes."""

from __future__ import annotations

from dataclasses import FrozenInstanceError

import pytest

from polyasr.errors import LanguageError
from polyasr.language.catalogue import ALIASES, CATALOGUE, Language, language_name, normalize_code

# The 60 codes of the model's lang_ids.pk (56 with characters, plus ab, kab, rw, vot).
TABLE_CODES = (
    "ab ar as br ca cnh cs cv cy de dv el en eo es et eu fa fi fr fy-NL ga-IE hi hsb hu ia id it "
    "ja ka kab ky lg lt lv mn mt nl or pa-IN pl pt rm-sursilv rm-vallader ro ru rw sah sl sv-SE "
    "ta th tr tt uk vi vot zh-CN zh-HK zh-TW"
).split()


def test_catalogue_holds_exactly_the_table_codes_each_with_name_and_script():
    assert len(TABLE_CODES) == 60
    assert sorted(CATALOGUE) == sorted(TABLE_CODES)
    for code, language in CATALOGUE.items():
        assert language.code == code
        assert language.name and language.script


def test_catalogue_values():
    assert CATALOGUE["sv-SE"] == Language("sv-SE", "Swedish", "Latin")
    assert CATALOGUE["zh-CN"].name == "Chinese (China)"
    assert CATALOGUE["rm-sursilv"].name == "Romansh (Sursilvan)"
    assert CATALOGUE["as"].script == "Bengali"
    assert CATALOGUE["dv"].script == "Thaana"
    assert CATALOGUE["pa-IN"].script == "Gurmukhi"
    assert CATALOGUE["ja"].script == "Japanese"
    assert CATALOGUE["ru"].script == "Cyrillic"
    assert {CATALOGUE[c].name for c in ("ab", "kab", "rw", "vot")} == {
        "Abkhaz", "Kabyle", "Kinyarwanda", "Votic",
    }


def test_catalogue_and_aliases_are_read_only():
    with pytest.raises(TypeError):
        CATALOGUE["xx"] = Language("xx", "X", "Latin")  # type: ignore[index]
    with pytest.raises(TypeError):
        ALIASES["xx"] = "en"  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        CATALOGUE["en"].name = "Anglais"  # type: ignore[misc]


def test_aliases_are_lower_case_point_into_the_catalogue_and_shadow_nothing():
    folded_codes = {code.lower() for code in CATALOGUE}
    folded_names = {language.name.lower() for language in CATALOGUE.values()}
    for alias, code in ALIASES.items():
        assert alias == alias.lower()
        assert code in CATALOGUE
        assert alias not in folded_codes
        assert alias not in folded_names
    assert "rm" not in ALIASES  # Sursilvan or Vallader: ambiguous
    # English names are unique, so a name never picks between two codes
    assert len(folded_names) == len(CATALOGUE)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("sv-SE", "sv-SE"),
        ("SV", "sv-SE"),
        ("sv_se", "sv-SE"),
        ("sy-SE", "sv-SE"),  # model card's misspelling
        ("pa", "pa-IN"),
        ("fy", "fy-NL"),
        ("ga", "ga-IE"),
        ("zh", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("zh-Hant", "zh-TW"),
        ("zh-hk", "zh-HK"),
        ("ly", "lv"),  # model card's misspelling
        ("german", "de"),
        ("  German ", "de"),
        ("Chinese (Hong Kong)", "zh-HK"),
        ("romansh (vallader)", "rm-vallader"),
        ("farsi", "fa"),
        ("rw", "rw"),  # empty in the model's table, still a known code
    ],
)
def test_normalize_code_against_the_catalogue(typed, expected):
    assert normalize_code(typed, CATALOGUE) == expected


def test_normalize_code_returns_the_spelling_of_available():
    assert normalize_code("sv", ["en", "sv-se"]) == "sv-se"
    assert normalize_code("SWEDISH", ["SV-SE"]) == "SV-SE"
    assert normalize_code("xx", ["xx", "en"]) == "xx"  # codes outside the catalogue still match


def test_alias_only_counts_when_its_target_is_available():
    with pytest.raises(LanguageError, match=r"^unknown language 'sv'; choose one of: de, en$"):
        normalize_code("sv", ["en", "de"])


@pytest.mark.parametrize("typed", ["xx", "rm", "", "romansh", "xx-SE", "rm-FR"])
def test_unknown_code_lists_the_valid_codes_sorted(typed):
    with pytest.raises(LanguageError) as info:
        normalize_code(typed, ["sv-SE", "ar", "en"])
    assert str(info.value) == f"unknown language {typed!r}; choose one of: ar, en, sv-SE"
    assert isinstance(info.value, ValueError)


def test_language_name():
    assert language_name("sv-SE") == "Swedish"
    assert language_name("sv") == "Swedish"
    assert language_name("zh-TW") == "Chinese (Taiwan)"
    assert language_name("xx") == "xx"


@pytest.mark.parametrize(("typed", "code"), [("fr-FR", "fr"), ("en_US", "en"), ("EN-us", "en"), ("pt-BR", "pt"),
                                             ("sv-FI", "sv-SE"), ("de-CH", "de"), ("zh-HK", "zh-HK"), ("zh-SG", "zh-CN")])
def test_a_region_tag_falls_back_to_its_language(typed: str, code: str) -> None:
    assert normalize_code(typed, CATALOGUE) == code


def test_an_unknown_language_with_a_region_is_still_unknown() -> None:
    with pytest.raises(LanguageError, match=r"^unknown language 'xx-YY'; choose one of: ab, ar"):
        normalize_code("xx-YY", CATALOGUE)
