"""The per-language text normaliser used for scoring and training targets."""

from __future__ import annotations

import dataclasses
import unicodedata

import pytest

from polyasr.errors import LanguageError
from polyasr.language.catalogue import CATALOGUE
from polyasr.language.normalize import STEPS, normalize_text, text_for_wer, tokens_for_wer
from polyasr.language.normalizer_rules import NormalizerRules, has_special_rules, is_character_level, rules_for, rules_table
from polyasr.language.normalizer_tables import LANGUAGE_RULES, SCRIPT_DEFAULTS

# One example (at least) per script family: (language, input, expected).
SCRIPT_EXAMPLES = [
    # Latin
    ("es", "¿Qué tal, Señor?", "qué tal señor"),
    ("es", "¡Hola! ¿Cómo estás?", "hola cómo estás"),
    ("fr", "L’homme «libre» — d'accord !", "l'homme libre d'accord"),
    ("de", "Straße", "straße"),
    ("de", "STRASSE „Größe“", "strasse größe"),
    ("en", "'Hello,' she said: \"don´t\" stop.", "hello she said don't stop"),
    ("en", "A well-known 3–4 day trip", "a well known 3 4 day trip"),
    ("br", "C’hoant am eus", "c'hoant am eus"),
    ("nl", "Zo’n mooie dag!", "zo'n mooie dag"),
    ("vi", "Tiếng Việt, xin chào!", "tiếng việt xin chào"),
    ("eo", "Ĉu vi parolas Esperanton?", "ĉu vi parolas esperanton"),
    (None, "Hello — WORLD!!", "hello world"),
    # Cyrillic
    ("ru", "Ёлка, ёж — «ещё»!", "ёлка ёж ещё"),
    ("uk", "М’ята, пʼять і п'ять.", "м'ята п'ять і п'ять"),
    ("sah", "Саха тыла, ҺҮӨ!", "саха тыла һүө"),
    # Greek
    ("el", "Καλημέρα, ΚΌΣΜΕ!", "καλημέρα κόσμε"),
    # Arabic
    ("ar", "مَرْحَباً بِكُمْ؛ شُكْراً!", "مرحبا بكم شكرا"),
    # Thaana
    ("dv", "ދިވެހި ބަސް، ރާއްޖެ؟", "ދިވެހި ބަސް ރާއްޖެ"),
    # Devanagari: composed क़ (U+0958) and decomposed क + nukta give the same (decomposed) text
    ("hi", "नमस्ते, दुनिया। \u0958लम", "नमस्ते दुनिया \u0915\u093cलम"),
    # Bengali (Assamese): য় (U+09DF) comes out as য + nukta
    ("as", "অসম\u09dfা ভাষা।", "অসম\u09af\u09bcা ভাষা"),
    # Odia
    ("or", "ଓ\u0b5cିଆ ଭାଷା।", "ଓ\u0b21\u0b3cିଆ ଭାଷା"),
    # Gurmukhi
    ("pa-IN", "ਪੰਜਾਬੀ, ਭਾ\u0a36ਾ।", "ਪੰਜਾਬੀ ਭਾ\u0a38\u0a3cਾ"),
    # Tamil
    ("ta", "தமிழ், மொழி!", "தமிழ் மொழி"),
    # Thai: character level (spaces go), SARA AM stays one character
    ("th", "สวัสดีครับ ทำงาน!", "สวัสดีครับทำงาน"),
    # Georgian: Mtavruli capitals become Mkhedruli
    ("ka", "გამარჯობა, სამყარო! ᲡᲐᲥᲐᲠᲗᲕᲔᲚᲝ", "გამარჯობა სამყარო საქართველო"),
    # Han: no simplified/traditional conversion
    ("zh-CN", "你好，世界！", "你好世界"),
    ("zh-TW", "臺灣，你好。", "臺灣你好"),
    ("zh-HK", "佢哋話：「好嘢！」", "佢哋話好嘢"),
    # Japanese: NFKC, kana untouched, half-width katakana widened
    ("ja", "ＡＢＣ１２３", "abc123"),
    ("ja", "ひらがな、カタカナ。ｶﾞｲﾄﾞ", "ひらがなカタカナガイド"),
]

# One example (at least) for every language with rules beyond its script's defaults.
SPECIAL_EXAMPLES = [
    ("ar", "أَهْلاً وَسَهْلاً، إلى آمنة كـتاب ـ ی ک ٣", "اهلا وسهلا الي امنة كتاب ي ك 3"),
    ("ar", "ٱلْقُرْآن", "القران"),
    ("fa", "مي\u200cخواهم كتاب يك ۴ تا آب", "میخواهم کتاب یک 4 تا آب"),
    ("tr", "İSTANBUL'da Işık", "istanbul'da ışık"),
    ("tr", "Türkiye’nin İzmir’i", "türkiye'nin izmir'i"),
    ("ro", "ŞTEFAN ţară", "ștefan țară"),
    ("hu", "Õrült tûz", "őrült tűz"),
    ("ca", "Col·lecció, l’home i ŀl ·", "col·lecció l'home i l·l"),
    ("ga-IE", "An t-Uisce, i n-Éirinn - slán", "an t-uisce i n-éirinn slán"),
    ("mt", "Il-kelb ta’ Ħanna ġie -", "il-kelb ta' ħanna ġie"),
    ("el", "ΟΔΟΣ. Σ’ αγαπώ, λόγοσ", "οδος σ' αγαπώ λόγος"),
    ("cv", "ЧĂВАШ çĕр", "чӑваш ҫӗр"),
    ("tt", "Татарстан, сəлам!", "татарстан сәлам"),
    ("mn", "Монгол хэл ѳндѳр ѵг", "монгол хэл өндөр үг"),
]

ALL_EXAMPLES = SCRIPT_EXAMPLES + SPECIAL_EXAMPLES


@pytest.mark.parametrize(("language", "text", "expected"), SCRIPT_EXAMPLES)
def test_script_examples(language, text, expected):
    assert normalize_text(text, language=language) == expected


@pytest.mark.parametrize(("language", "text", "expected"), SPECIAL_EXAMPLES)
def test_special_rule_examples(language, text, expected):
    assert normalize_text(text, language=language) == expected


def test_every_special_language_has_an_example_and_every_script_one_too():
    special = {code for code, language in CATALOGUE.items() if has_special_rules(code)}
    assert special == set(LANGUAGE_RULES)
    assert special <= {language for language, _, _ in SPECIAL_EXAMPLES}
    scripts = {CATALOGUE[language].script for language, _, _ in SCRIPT_EXAMPLES if language}
    assert scripts == {language.script for language in CATALOGUE.values()}


@pytest.mark.parametrize(("language", "text", "expected"), ALL_EXAMPLES)
def test_idempotent(language, text, expected):
    once = normalize_text(text, language=language)
    assert normalize_text(once, language=language) == once


def test_required_examples():
    assert normalize_text("¿Qué tal, Señor?", language="es") == "qué tal señor"
    assert normalize_text("İSTANBUL'da Işık", language="tr") == "istanbul'da ışık"
    assert normalize_text("L’homme «libre» — d'accord !", language="fr") == "l'homme libre d'accord"
    assert normalize_text("Straße", language="de") == "straße"
    assert normalize_text("ＡＢＣ１２３", language="ja") == "abc123"
    assert normalize_text("你好，世界！", language="zh-CN") == "你好世界"


def test_turkish_i_only_for_turkish():
    assert normalize_text("Işık İzmir", language="tr") == "ışık izmir"
    assert normalize_text("Işık İzmir", language="en") == "işık izmir"  # no "i" + U+0307


def test_vietnamese_decomposed_equals_composed():
    composed = unicodedata.normalize("NFC", "Tiếng Việt có dấu: ạ ả ã ầ ở ữ")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert normalize_text(decomposed, "vi") == normalize_text(composed, "vi")
    assert normalize_text(decomposed, "vi") == "tiếng việt có dấu ạ ả ã ầ ở ữ"


def test_arabic_harakat_and_variants():
    assert normalize_text("كِتَابٌ", "ar") == "كتاب"
    assert normalize_text("أ إ آ ٱ ى ی ک", "ar") == "ا ا ا ا ي ي ك"
    assert normalize_text("مدرسة", "ar") == "مدرسة"  # ta marbuta kept
    # the same letters go the other way in Persian; آ is kept there
    assert normalize_text("ي ى ك آ", "fa") == "ی ی ک آ"
    # decomposed alef + hamza is composed before mapping
    assert normalize_text("\u0627\u0654", "ar") == "ا"


def test_persian_zwnj_is_removed():
    assert normalize_text("می\u200cخواهم", "fa") == normalize_text("میخواهم", "fa") == "میخواهم"


def test_format_characters_removed():
    assert normalize_text("a\u200bb\u00adc\ufeff\u200ed\u200de", "en") == "abcde"
    assert normalize_text("क्\u200dष", "hi") == "क्ष"


def test_apostrophes_and_hyphens():
    assert normalize_text("'hello' ‘world’ `x´", "en") == "hello world x"
    assert normalize_text("rock'n'roll don’t", "en") == "rock'n'roll don't"
    assert normalize_text("e-mail — well–known", "en") == "e mail well known"
    assert normalize_text("an t-uisce -", "ga") == "an t-uisce"
    assert normalize_text("peut-être", "fr") == "peut être"


def test_greek_keeps_tonos_and_fixes_final_sigma():
    assert normalize_text("ΆΝΘΡΩΠΟΣ άνθρωποσ", "el") == "άνθρωπος άνθρωπος"
    assert normalize_text("Σ", "el") == "σ"  # one letter: not a word-final form


def test_russian_keeps_yo():
    assert normalize_text("ЁЖИК и ежик", "ru") == "ёжик и ежик"


def test_indic_combining_marks_kept():
    text = "हिन्दी में लिखा गया"
    assert normalize_text(text, "hi") == text
    assert normalize_text("ਪੰਜਾਬੀ", "pa") == "ਪੰਜਾਬੀ"


def test_thai_sara_am_not_split():
    assert normalize_text("ทำ", "th") == "\u0e17\u0e33"


def test_digits_policy():
    assert normalize_text("Room 101, ٣", "en") == "room 101 ٣"
    assert normalize_text("٠١٢٣ ۴۵۶", "ar") == "0123 456"
    rules = dataclasses.replace(rules_for("en"), digits="remove")
    assert normalize_text("Room 101b", rules=rules) == "room b"


def test_character_level_languages():
    character_level = {code for code in CATALOGUE if is_character_level(code)}
    assert character_level == {"ja", "th", "zh-CN", "zh-HK", "zh-TW"}
    assert tokens_for_wer("你好，世界！", "zh") == ["你", "好", "世", "界"]
    assert tokens_for_wer("กิน ข้าว", "th") == ["กิ", "น", "ข้", "า", "ว"]
    assert text_for_wer("ＡＢ、か", "ja") == "a b か"
    assert tokens_for_wer("Hello, World!", "en") == ["hello", "world"]
    assert text_for_wer("Hello, World!") == "hello world"


def test_language_lookup():
    assert rules_for("sv") == rules_for("sv-SE") == rules_for("SWEDISH")
    assert rules_for("pa_in") == rules_for("pa-IN")
    assert rules_for(None) == rules_for("auto") == NormalizerRules(
        pre_map={"´": "'"},
        casefold_map={"İ": "i"},
        char_map=dict(rules_for(None).char_map),
    )
    assert rules_for("ar").char_map["أ"] == "ا"
    assert rules_for("ar").digits == "ascii"
    assert has_special_rules("Turkish") and not has_special_rules("en")
    assert not has_special_rules("auto")


@pytest.mark.parametrize("bad", ["xx", "rm", "klingon", ""])
def test_unknown_language_raises(bad):
    with pytest.raises(LanguageError):
        rules_for(bad)
    with pytest.raises(LanguageError):
        normalize_text("text", bad)
    with pytest.raises(LanguageError):
        has_special_rules(bad)


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_catalogue_language_has_rules_and_a_script(code):
    assert CATALOGUE[code].script in SCRIPT_DEFAULTS
    rules = rules_for(code)
    assert isinstance(rules, NormalizerRules)
    normalize_text("Some text, 123!", code)
    # every mapping is idempotent: no value is changed by the map again
    for mapping in (rules.pre_map, rules.casefold_map, rules.char_map, rules.word_final_map):
        for value in mapping.values():
            assert all(mapping.get(char, char) == char for char in value)


def test_rules_table():
    rows = rules_table()
    assert [row.code for row in rows] == list(CATALOGUE)
    for row in rows:
        assert row.name == CATALOGUE[row.code].name
        assert row.script == CATALOGUE[row.code].script
        assert row.special == has_special_rules(row.code)
        if row.special:
            assert row.notes
    by_code = {row.code: row for row in rows}
    assert by_code["tr"].special and not by_code["de"].special


def test_rules_are_frozen_and_validated():
    rules = rules_for("fr")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.lowercase = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        rules.char_map["x"] = "y"  # type: ignore[index]
    with pytest.raises(ValueError):
        NormalizerRules(digits="words")
    with pytest.raises(ValueError):
        NormalizerRules(unicode_form="NFX")
    with pytest.raises(ValueError):
        NormalizerRules(char_map={"ab": "c"})
    with pytest.raises(ValueError):
        NormalizerRules(keep_chars="'", keep_word_final="-")


def test_custom_rules_compose():
    keep_hyphen = dataclasses.replace(rules_for("en"), keep_chars="'-")
    assert normalize_text("A well-known fact", rules=keep_hyphen) == "a well-known fact"
    cased = dataclasses.replace(rules_for("en"), lowercase=False, remove_punctuation=False)
    assert normalize_text("Hello,  World!", rules=cased) == "Hello, World!"
    assert [name for name, _ in STEPS][0] == "ignorable"
    assert [name for name, _ in STEPS][-1] == "join"


def test_empty_and_whitespace():
    assert normalize_text("", "en") == ""
    assert normalize_text("  \t\n ", "zh-CN") == ""
    assert normalize_text(" «—» ", "fr") == ""
