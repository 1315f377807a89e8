"""Reading and writing language tables, and refusing pickles that would run code."""

from __future__ import annotations

import builtins
import collections
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from polyasr.errors import LanguageError, LanguageTableError
from polyasr.language.table import (
    LanguageTable,
    read_lang_ids_pickle,
    read_language_table,
    write_language_table_json,
)


@pytest.fixture(scope="module")
def real_pickle(real_lang_ids_path) -> Path:
    return real_lang_ids_path


@pytest.fixture(scope="module")
def real_table(real_pickle) -> LanguageTable:
    return read_language_table(real_pickle)


def _write_pickle(path: Path, obj: object, protocol: int = 3) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


# numpy's scalar reconstructor, numpy.core.multiarray.scalar (numpy._core in numpy 2)
_NUMPY_SCALAR = np.int64(0).__reduce__()[0]


class _Reduce:
    """Pickles as a call of ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


# --- the real table ------------------------------------------------------------------------


def test_real_pickle_reads_to_60_codes_56_with_characters(real_pickle):
    ids = read_lang_ids_pickle(real_pickle)
    assert len(ids) == 60
    assert sorted(code for code, values in ids.items() if not values) == ["ab", "kab", "rw", "vot"]
    assert len(ids["en"]) == 91
    assert len(ids["ja"]) == 1424
    assert ids["ar"][0] == 510
    assert all(type(i) is int for values in ids.values() for i in values)


def test_real_pickle_equals_plain_pickle_load_of_this_trusted_file(real_pickle):
    with open(real_pickle, "rb") as file:
        trusted = pickle.load(file)  # trusted fixture only: this would run any code in it
    assert read_lang_ids_pickle(real_pickle) == {
        code: [int(i) for i in values] for code, values in trusted.items()
    }


def test_real_table(real_table):
    assert len(real_table.ids) == 60
    assert len(real_table.codes()) == 56
    assert real_table.codes()[:3] == ["ar", "as", "br"]
    assert "rw" not in real_table.codes()
    assert real_table.ids["rw"] == ()
    en = real_table.token_ids("EN")
    assert en.dtype == np.int64 and len(en) == 91
    assert np.all(np.diff(en) > 0)  # sorted and unique
    assert real_table.token_ids("ar")[0] == 510
    assert len(real_table.token_ids("ja")) == 1424


@pytest.mark.parametrize(
    ("typed", "code"),
    [("SV", "sv-SE"), ("pa", "pa-IN"), ("fy", "fy-NL"), ("ga", "ga-IE"), ("EN", "en"),
     ("german", "de"), ("ly", "lv"), ("zh-tw", "zh-TW")],
)
def test_resolve_aliases_and_case(real_table, typed, code):
    assert real_table.resolve(typed) == code


def test_resolve_unknown_lists_the_codes_with_characters(real_table):
    expected = r"^unknown language 'xx'; choose one of: ar, as, br, "
    with pytest.raises(LanguageError, match=expected) as info:
        real_table.resolve("xx")
    assert "rw" not in str(info.value).split(": ", 1)[1].split(", ")


@pytest.mark.parametrize("typed", ["rw", "RW", "Kinyarwanda", "ab", "kab", "vot"])
def test_resolve_empty_language(real_table, typed):
    with pytest.raises(
        LanguageError,
        match=r"^language '(rw|ab|kab|vot)' has no characters in this model's language table; "
        r"choose one of: ar, as, ",
    ):
        real_table.token_ids(typed)


# --- refusing pickles that would run code ----------------------------------------------------


def test_pickle_calling_os_system_is_refused_without_running(tmp_path):
    pwned = tmp_path / "pwned"
    path = _write_pickle(tmp_path / "lang_ids.pk", {"en": _Reduce(os.system, f"touch {pwned}")})
    with pytest.raises(LanguageTableError) as info:
        read_lang_ids_pickle(path)
    assert not pwned.exists()
    assert str(info.value) == (
        f"{path}: refused to unpickle '{os.system.__module__}.system' (a language table "
        "holds only lists of integers; this pickle would run code)"
    )


def test_pickle_calling_eval_is_refused(tmp_path):
    path = _write_pickle(tmp_path / "lang_ids.pk", _Reduce(builtins.eval, "1 + 1"))
    with pytest.raises(LanguageTableError, match=r"refused to unpickle 'builtins\.eval'"):
        read_language_table(path)


@pytest.mark.parametrize(
    "payload",
    [
        _Reduce(np.dtype, "O"),  # object dtype
        _Reduce(np.dtype, "f8"),  # not an integer
        _Reduce(np.dtype, [("a", "i8")]),  # structured
        _Reduce(_NUMPY_SCALAR, np.dtype("O"), "x"),  # object scalar
        _Reduce(_NUMPY_SCALAR, np.dtype("i8"), b"\x00" * 4),  # wrong size
        _Reduce(_NUMPY_SCALAR, np.dtype("i8"), "notbytes"),
        _Reduce(collections.defaultdict, collections.defaultdict),  # factory other than list
        _Reduce(collections.defaultdict, None),
    ],
    ids=["dtype-O", "dtype-f8", "dtype-struct", "object-scalar", "scalar-size",
         "scalar-str", "defaultdict-factory", "defaultdict-none"],
)
def test_pickle_outside_int_lists_is_refused(tmp_path, payload):
    path = _write_pickle(tmp_path / "lang_ids.pk", {"en": [payload]})
    with pytest.raises(LanguageTableError, match=rf"^{tmp_path}/lang_ids\.pk: refused"):
        read_lang_ids_pickle(path)


@pytest.mark.parametrize(
    "module_name",
    [
        b"collections\ndefaultdict",
        b"builtins\nlist",
        b"numpy\ndtype",
        b"numpy._core.multiarray\nscalar",
    ],
)
def test_pickle_cannot_set_state_of_allowed_globals(tmp_path, module_name):
    # GLOBAL <module_name>; BUILD with state (None, {"__defaults__": (1,)}): would setattr on it
    path = tmp_path / "lang_ids.pk"
    build = b"N}X\x0c\x00\x00\x00__defaults__K\x01\x85s\x86b."
    path.write_bytes(b"\x80\x03c" + module_name + b"\n" + build)
    with pytest.raises(LanguageTableError):
        read_lang_ids_pickle(path)
    # the stand-ins still work afterwards
    table = collections.defaultdict(list, {"en": [np.int64(4)]})
    assert read_lang_ids_pickle(_write_pickle(tmp_path / "ok.pk", table)) == {"en": [4]}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (pickle.dumps([1, 2, 3]), "expected a mapping"),
        (pickle.dumps({"en": (1, 2)}), "expected a list of token ids"),
        (pickle.dumps({"en": [-1]}), "non-negative"),
        (pickle.dumps({"en": [1.0]}), "integer token ids"),
        (pickle.dumps({1: [1]}), "non-empty strings"),
        (pickle.dumps({"en": [1]})[:-5], "not a readable language table pickle"),
        (b"not a pickle at all", "not a readable language table pickle"),
        (b"", "not a readable language table pickle"),
    ],
)
def test_malformed_pickles(tmp_path, content, message):
    path = tmp_path / "lang_ids.pk"
    path.write_bytes(content)
    with pytest.raises(LanguageTableError, match=message):
        read_lang_ids_pickle(path)


def test_pickle_written_by_numpy_2_and_other_int_dtypes(tmp_path):
    table = collections.defaultdict(list)
    table["en"] = [np.int64(7), np.int64(3)]
    table["x"] = [np.dtype(">i4").type(5), np.uint8(9), 2]  # big-endian, unsigned, plain int
    path = _write_pickle(tmp_path / "t.pkl", table, protocol=5)
    assert read_lang_ids_pickle(path) == {"en": [7, 3], "x": [5, 9, 2]}


def test_missing_pickle(tmp_path):
    with pytest.raises(LanguageTableError, match="cannot read language table"):
        read_lang_ids_pickle(tmp_path / "nope.pk")


# --- JSON, folders -------------------------------------------------------------------------


def test_json_round_trip(real_table, tmp_path):
    path = tmp_path / "lang_ids.json"
    write_language_table_json(real_table, path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert list(data) == sorted(data)
    assert data["ar"][0] == 510 and data["rw"] == []
    assert read_language_table(path) == real_table


def test_json_written_one_language_a_line(tmp_path):
    path = tmp_path / "t.json"
    write_language_table_json(LanguageTable.from_mapping({"b": [3, 1, 3], "a": []}), path)
    assert path.read_text(encoding="utf-8") == '{\n  "a": [],\n  "b": [1, 3]\n}\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "expected a JSON object"),
        ('{"en": 5}', "expected a list of token ids for language 'en', got int"),
        ('{"en": [1, -2]}', "non-negative"),
        ('{"en": [1.5]}', "integer token ids"),
        ('{"en": [true]}', "integer token ids"),
        ('{"en": ["1"]}', "integer token ids"),
        ('{"": [1]}', "non-empty strings"),
        ('{"en": [1], "en": [2]}', "language 'en' appears twice"),
        ('{"en": [1,', "not valid UTF-8 JSON"),
    ],
)
def test_malformed_json(tmp_path, text, message):
    path = tmp_path / "lang_ids.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LanguageTableError, match=message):
        read_language_table(path)


def test_folder_prefers_json(tmp_path):
    _write_pickle(tmp_path / "lang_ids.pk", collections.defaultdict(list, {"en": [np.int64(1)]}))
    assert read_language_table(tmp_path).ids == {"en": (1,)}
    (tmp_path / "lang_ids.json").write_text('{"de": [2]}', encoding="utf-8")
    assert read_language_table(tmp_path).ids == {"de": (2,)}


def test_folder_without_table(tmp_path):
    with pytest.raises(LanguageTableError, match="looked for lang_ids.json and lang_ids.pk"):
        read_language_table(tmp_path)


def test_unsupported_or_missing_file(tmp_path):
    (tmp_path / "lang_ids.txt").write_text("{}")
    with pytest.raises(LanguageTableError, match="expected a .json or"):
        read_language_table(tmp_path / "lang_ids.txt")
    with pytest.raises(LanguageTableError, match="does not exist"):
        read_language_table(tmp_path / "missing.json")


# --- LanguageTable -------------------------------------------------------------------------


def test_from_mapping_normalises_and_freezes():
    table = LanguageTable.from_mapping({"en": [np.int64(5), 1, 5], "rw": []})
    assert table.ids == {"en": (1, 5), "rw": ()}
    assert table.codes() == ["en"]
    assert table.token_ids("en").tolist() == [1, 5]
    with pytest.raises(TypeError):
        table.ids["de"] = (1,)  # type: ignore[index]
    returned = table.token_ids("en")
    returned[0] = 99
    assert table.token_ids("en").tolist() == [1, 5]


@pytest.mark.parametrize(
    "mapping",
    [
        {"en": [-1]},
        {"en": [True]},
        {"en": [1.0]},
        {"en": "abc"},
        {3: [1]},
        {"en": 7},
        [("en", [1])],
        {"en": [2**63]},
    ],
)
def test_from_mapping_rejects(mapping):
    with pytest.raises(LanguageTableError):
        LanguageTable.from_mapping(mapping)
