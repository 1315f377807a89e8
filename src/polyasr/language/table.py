"""Language tables: which token ids spell each language, read and written safely.

The model ships ``lang_ids.pk``, a pickle of ``defaultdict(list)`` mapping a language code to numpy
int64 scalars. Unpickling runs code chosen by the file's author, so :func:`read_lang_ids_pickle`
uses an unpickler that knows exactly four globals and hands out guarded stand-ins for them;
anything else is refused before it is called. :func:`write_language_table_json` converts a table
to plain JSON, which :func:`read_language_table` prefers when both are present.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import LanguageError, LanguageTableError
from .catalogue import normalize_code

__all__ = [
    "JSON_NAME",
    "PICKLE_NAME",
    "LanguageTable",
    "read_lang_ids_pickle",
    "read_language_table",
    "write_language_table_json",
]

JSON_NAME = "lang_ids.json"  # looked for first in a model folder
PICKLE_NAME = "lang_ids.pk"  # as the model ships it

_PICKLE_SUFFIXES = (".pk", ".pkl", ".pickle")
_MAX_TOKEN_ID = np.iinfo(np.int64).max


def _check_table(mapping: Any, source: str) -> dict[str, tuple[int, ...]]:
    """Validate ``mapping`` (code -> iterable of ints) and return code -> sorted unique ids."""
    if not isinstance(mapping, Mapping):
        raise LanguageTableError(
            f"{source}: expected a mapping of language code to token ids, "
            f"got {type(mapping).__name__}"
        )
    table: dict[str, tuple[int, ...]] = {}
    for code, ids in mapping.items():
        if not isinstance(code, str) or not code:
            raise LanguageTableError(
                f"{source}: expected language codes as non-empty strings, got {code!r}"
            )
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise LanguageTableError(
                f"{source}: expected a list of token ids for language {code!r}, "
                f"got {type(ids).__name__}"
            )
        checked = set()
        for token_id in ids:
            if isinstance(token_id, (bool, np.bool_)) or not isinstance(
                token_id, (int, np.integer)
            ):
                raise LanguageTableError(
                    f"{source}: expected integer token ids for language {code!r}, "
                    f"got {token_id!r}"
                )
            if not 0 <= int(token_id) <= _MAX_TOKEN_ID:
                raise LanguageTableError(
                    f"{source}: expected non-negative int64 token ids for language {code!r}, "
                    f"got {int(token_id)}"
                )
            checked.add(int(token_id))
        table[code] = tuple(sorted(checked))
    return table


@dataclass(frozen=True)
class LanguageTable:
    """Token ids of each language's characters, as in the model's ``lang_ids.pk``."""

    # code -> sorted unique token ids; a code may have none (ab, kab, rw, vot in the real table).
    # Any mapping of iterables of ints is accepted and stored read-only in this form.
    ids: Mapping[str, tuple[int, ...]]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", MappingProxyType(_check_table(self.ids, "language table")))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Iterable[int]]) -> LanguageTable:
        """Build a table from code -> token ids; :class:`LanguageTableError` if malformed."""
        # __post_init__ validates and normalises any mapping of iterables
        return cls(ids=mapping)  # type: ignore[arg-type]

    def codes(self) -> list[str]:
        """Codes that have at least one token id, sorted."""
        return sorted(code for code, ids in self.ids.items() if ids)

    def resolve(self, language: str) -> str:
        """The table's spelling of ``language`` (see :func:`normalize_code`).

        Raises :class:`LanguageError` if the language is unknown or has no token ids.
        """
        try:
            return normalize_code(language, self.codes())
        except LanguageError as unknown:
            try:
                code = normalize_code(language, self.ids)
            except LanguageError:
                raise unknown from None
        raise LanguageError(
            f"language {code!r} has no characters in this model's language table; "
            f"choose one of: {', '.join(self.codes())}"
        )

    def token_ids(self, language: str) -> np.ndarray:
        """Sorted int64 token ids of ``language`` (resolved with :meth:`resolve`)."""
        return np.array(self.ids[self.resolve(language)], dtype=np.int64)


# --- restricted unpickling -------------------------------------------------------------------

_INT_DTYPE = re.compile(r"[<>=|]?[iu][1248]")


class _Refused(Exception):
    """A stand-in was called with arguments a language table never needs."""


class _IntDType:
    """Stand-in for ``numpy.dtype(...)`` that only ever becomes a plain integer dtype."""

    __slots__ = ("dtype",)

    def __init__(self, spec: object, align: object = False, copy: object = False) -> None:
        if not (isinstance(spec, str) and _INT_DTYPE.fullmatch(spec)):
            raise _Refused(f"refused numpy dtype {spec!r}; expected an integer dtype")
        if any(not isinstance(flag, int) or flag not in (0, 1) for flag in (align, copy)):
            raise _Refused("refused numpy dtype arguments; expected align and copy flags")
        self.dtype = np.dtype(spec)

    def __setstate__(self, state: object) -> None:
        # numpy pickles a dtype's state as (3, byteorder, subarray, names, fields, elsize,
        # alignment, flags); a plain integer dtype has no subarray, names or fields.
        if not (
            isinstance(state, tuple)
            and len(state) == 8
            and state[0] == 3
            and state[1] in ("<", ">", "=", "|")
            and state[2:5] == (None, None, None)
            and all(isinstance(value, int) for value in state[5:])
        ):
            raise _Refused(
                f"refused numpy dtype state {state!r}; expected that of an integer dtype"
            )
        if state[1] in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(state[1])


def _int_scalar(dtype: object, data: object = None) -> int:
    """Stand-in for ``numpy.core.multiarray.scalar``: decodes integer scalars only."""
    if not isinstance(dtype, _IntDType):
        raise _Refused("refused a numpy scalar whose dtype is not an integer dtype")
    if not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise _Refused(
            f"refused a numpy scalar; expected {dtype.dtype.itemsize} bytes of {dtype.dtype}"
        )
    return int(np.frombuffer(data, dtype=dtype.dtype)[0])


def _list_defaultdict(factory: object = None) -> dict:
    """Stand-in for ``collections.defaultdict``: only ``defaultdict(list)``, built as a dict."""
    if factory is not list:
        raise _Refused(f"refused defaultdict({factory!r}); expected defaultdict(list)")
    return {}


class _StandIn:
    """What :meth:`_LanguageTableUnpickler.find_class` returns: a callable whose state cannot be
    set, so a pickle's BUILD opcode cannot rewrite our functions (their defaults, say)."""

    __slots__ = ("_call",)

    def __init__(self, call: Any) -> None:
        self._call = call

    def __call__(self, *args: object) -> Any:
        return self._call(*args)

    def __setstate__(self, state: object) -> None:
        raise _Refused("refused to set the state of a constructor")


_ALLOWED_GLOBALS: Mapping[tuple[str, str], object] = MappingProxyType(
    {
        ("collections", "defaultdict"): _StandIn(_list_defaultdict),
        ("builtins", "list"): list,  # an immutable type: BUILD cannot change it
        ("numpy.core.multiarray", "scalar"): _StandIn(_int_scalar),  # written by numpy 1
        ("numpy._core.multiarray", "scalar"): _StandIn(_int_scalar),  # written by numpy 2
        ("numpy", "dtype"): _StandIn(_IntDType),
    }
)


class _LanguageTableUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals a language table needs."""

    def __init__(self, file: Any, source: str) -> None:
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise LanguageTableError(
                f"{self._source}: refused to unpickle '{module}.{name}' (a language table "
                "holds only lists of integers; this pickle would run code)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused("refused a persistent id")


def read_lang_ids_pickle(path: str | os.PathLike[str]) -> dict[str, list[int]]:
    """Read a ``lang_ids.pk`` without running code from it: code -> token ids as in the file.

    Raises :class:`LanguageTableError` if the file cannot be read, is not a pickle, uses any
    global other than those of ``defaultdict(list)`` of numpy integer scalars, or does not hold
    a mapping of code to a list of integers.
    """
    source = os.fspath(path)
    try:
        with open(path, "rb") as file:
            loaded = _LanguageTableUnpickler(file, source).load()
    except LanguageTableError:
        raise
    except _Refused as error:
        raise LanguageTableError(
            f"{source}: {error} (a language table holds only lists of integers)"
        ) from None
    except OSError as error:
        raise LanguageTableError(f"{source}: cannot read language table: {error}") from error
    except Exception as error:  # malformed pickles fail in many ways: wrap them all
        raise LanguageTableError(
            f"{source}: not a readable language table pickle ({type(error).__name__}: {error})"
        ) from error
    if isinstance(loaded, dict) and not all(isinstance(ids, list) for ids in loaded.values()):
        raise LanguageTableError(f"{source}: expected a list of token ids for every language")
    _check_table(loaded, source)
    return {code: [int(token_id) for token_id in ids] for code, ids in loaded.items()}


# --- JSON ------------------------------------------------------------------------------------


def _read_json_table(path: Path) -> LanguageTable:
    source = os.fspath(path)

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise LanguageTableError(f"{source}: language {key!r} appears twice")
            result[key] = value
        return result

    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file, object_pairs_hook=unique_keys)
    except OSError as error:
        raise LanguageTableError(f"{source}: cannot read language table: {error}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LanguageTableError(f"{source}: not valid UTF-8 JSON ({error})") from error
    if not isinstance(data, dict):
        raise LanguageTableError(
            f"{source}: expected a JSON object of language code to list of token ids, "
            f"got {type(data).__name__}"
        )
    for code, ids in data.items():
        if not isinstance(ids, list):
            raise LanguageTableError(
                f"{source}: expected a list of token ids for language {code!r}, "
                f"got {type(ids).__name__}"
            )
    return LanguageTable(ids=_check_table(data, source))


def write_language_table_json(table: LanguageTable, path: str | os.PathLike[str]) -> None:
    """Write ``table`` as UTF-8 JSON, one language a line: ``{"ab": [], "ar": [510, ...], ...}``."""
    lines = [
        f"  {json.dumps(code, ensure_ascii=False)}: {json.dumps(list(table.ids[code]))}"
        for code in sorted(table.ids)
    ]
    text = "{\n" + ",\n".join(lines) + "\n}\n" if lines else "{}\n"
    Path(path).write_text(text, encoding="utf-8")


# --- entry point -----------------------------------------------------------------------------


def read_language_table(path: str | os.PathLike[str]) -> LanguageTable:
    """Read a language table from a ``.json`` file, a ``.pk``/``.pkl`` pickle, or a model folder.

    In a folder, ``lang_ids.json`` is preferred to ``lang_ids.pk``. Raises
    :class:`LanguageTableError` if nothing is found or the file is malformed or unsafe.
    """
    path = Path(path)
    if path.is_dir():
        for name in (JSON_NAME, PICKLE_NAME):
            if (path / name).is_file():
                return read_language_table(path / name)
        raise LanguageTableError(
            f"{os.fspath(path)}: no language table in this folder; "
            f"looked for {JSON_NAME} and {PICKLE_NAME}"
        )
    if not path.is_file():
        raise LanguageTableError(f"{os.fspath(path)}: language table file does not exist")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _read_json_table(path)
    if suffix in _PICKLE_SUFFIXES:
        return LanguageTable(ids=read_lang_ids_pickle(path))  # type: ignore[arg-type]
    raise LanguageTableError(
        f"{os.fspath(path)}: expected a .json or {'/'.join(_PICKLE_SUFFIXES)} language table "
        "or a model folder"
    )
