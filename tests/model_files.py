"""Files of the real model kept in the repository, so a fresh clone runs every test.

- `data/lang_ids.json`: the language table of voidful/wav2vec2-xlsr-multilingual-56 (Apache-2.0),
  converted from the model's lang_ids.pk with `polyasr convert-lang-ids` (the restricted unpickler).
- `data/model_card.md`: the model's card (README.md of the model repository), with its results table.

`write_real_pickle` rebuilds the model's lang_ids.pk from the JSON byte for byte (checked against
the original's SHA-256), so the pickle tests read exactly the bytes users download.
"""

from __future__ import annotations

import collections
import hashlib
import json
import pickle
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
LANG_IDS_JSON = DATA / "lang_ids.json"
MODEL_CARD = DATA / "model_card.md"
# sha256sum of the model's lang_ids.pk (475,556 bytes)
REAL_PICKLE_SHA256 = "da8fec9be1b10c694999ddd933566a51d6eb640784de5e65fd4773b78c8d6c2c"


def real_language_ids() -> dict[str, list[int]]:
    """The model's table: code -> token ids, in the JSON's (sorted) order."""
    return json.loads(LANG_IDS_JSON.read_text(encoding="utf-8"))


def real_pickle_bytes() -> bytes:
    """The model's lang_ids.pk: a defaultdict(list) of numpy int64 lists, pickled (protocol 3) by numpy 1.x.

    The file lists the languages with characters first, then the four empty ones (each sorted).
    Today's numpy writes two details differently, put back here: the scalar constructor's module
    (numpy.core, not numpy._core) and the dtype's flags (the integers 0 and 1, not False and True).
    """
    ids = real_language_ids()
    table: collections.defaultdict[str, list] = collections.defaultdict(list)
    for code in [c for c in ids if ids[c]] + [c for c in ids if not ids[c]]:
        table[code] = [np.int64(i) for i in ids[code]]
    data = pickle.dumps(table, protocol=3)
    data = data.replace(b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar", 1)
    dtype_at = data.index(b"X\x02\x00\x00\x00i8")  # BINUNICODE 'i8', BINPUT, then the two flags
    head, tail = data[: dtype_at + 9], data[dtype_at + 9 :]
    if tail.startswith(b"\x89\x88"):  # NEWFALSE NEWTRUE -> BININT1 0, BININT1 1
        tail = b"K\x00K\x01" + tail[2:]
    data = head + tail
    if hashlib.sha256(data).hexdigest() != REAL_PICKLE_SHA256:
        raise AssertionError("the rebuilt lang_ids.pk differs from the model's file (pickle or numpy changed?)")
    return data


def write_real_pickle(path: Path) -> Path:
    path.write_bytes(real_pickle_bytes())
    return path
