"""Tests for polyasr.evaluation.data (Common Voice / manifest readers) and polyasr.evaluation.card."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from model_files import MODEL_CARD
from polyasr.evaluation.card import CardResult, card_results
from polyasr.errors import PolyasrError
from polyasr.evaluation.data import BadRow, EvalDataset, Utterance, read_common_voice, read_manifest


CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccent\tlocale\tsegment"


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"ID3")  # placeholder; nothing decodes audio here


def _cv_row(clip: str, sentence: str, lang: str) -> str:
    return f"c1\t{clip}\t{sentence}\t2\t0\t\t\t\t{lang}\t"


@pytest.fixture()
def cv(tmp_path: Path) -> Path:
    root = tmp_path / "cv"
    de = root / "de"
    for name in ("de_1.mp3", "de_3.mp3", "de_4.mp3", "de_5.mp3"):
        _touch(de / "clips" / name)
    (de / "test.tsv").write_text(
        "\n".join(
            [
                CV_HEADER,
                _cv_row("de_1.mp3", 'Er sagte: "Hallo"', "de"),  # line 2
                _cv_row("de_2.mp3", "Fehlt.", "de"),  # line 3: clip missing
                _cv_row("de_3.mp3", "   ", "de"),  # line 4: empty sentence
                _cv_row("de_4.mp3", "Über „Anführungszeichen“ und 'so'", "de"),  # line 5
                _cv_row("de_5.mp3", "Letzter Satz.", "de"),  # line 6
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    (de / "train.tsv").write_text(CV_HEADER + "\n", encoding="utf-8")
    sv = root / "sv-SE"
    _touch(sv / "clips" / "sv_1.mp3")
    (sv / "test.tsv").write_text(
        CV_HEADER + "\r\n" + _cv_row("sv_1.mp3", 'Hon sa "hej"', "sv-SE") + "\r\n", encoding="utf-8"
    )
    (root / "fr").mkdir()  # a folder without test.tsv is not a language of the split
    (root / "README.txt").write_text("not a language", encoding="utf-8")
    return root


def test_common_voice_all_languages(cv: Path) -> None:
    ds = read_common_voice(cv)
    assert isinstance(ds, EvalDataset)
    assert ds.utterances == (
        Utterance("de/de_1.mp3", str(cv / "de" / "clips" / "de_1.mp3"), 'Er sagte: "Hallo"', "de"),
        Utterance(
            "de/de_4.mp3",
            str(cv / "de" / "clips" / "de_4.mp3"),
            "Über „Anführungszeichen“ und 'so'",
            "de",
        ),
        Utterance("de/de_5.mp3", str(cv / "de" / "clips" / "de_5.mp3"), "Letzter Satz.", "de"),
        Utterance("sv-SE/sv_1.mp3", str(cv / "sv-SE" / "clips" / "sv_1.mp3"), 'Hon sa "hej"', "sv-SE"),
    )
    assert all(os.path.isabs(u.audio) for u in ds.utterances)
    assert ds.bad_rows == (
        BadRow("cv/de/test.tsv:3", "audio file not found: clips/de_2.mp3"),
        BadRow("cv/de/test.tsv:4", "empty text"),
    )


def test_common_voice_language_selection_and_limit(cv: Path) -> None:
    ds = read_common_voice(cv, languages=["sv-SE"])
    assert [u.id for u in ds.utterances] == ["sv-SE/sv_1.mp3"]
    assert ds.bad_rows == ()
    # The first 2 *good* rows of de: row 3 and 4 are bad and skipped, row 6 is not read.
    ds = read_common_voice(cv, languages=["de", "sv-SE"], max_per_language=2)
    assert [u.id for u in ds.utterances] == ["de/de_1.mp3", "de/de_4.mp3", "sv-SE/sv_1.mp3"]
    assert [b.where for b in ds.bad_rows] == ["cv/de/test.tsv:3", "cv/de/test.tsv:4"]
    ds = read_common_voice(cv, max_per_language=1)
    assert [u.id for u in ds.utterances] == ["de/de_1.mp3", "sv-SE/sv_1.mp3"]
    assert ds.bad_rows == ()
    assert read_common_voice(cv, max_per_language=0).utterances == ()


def test_common_voice_other_split(cv: Path) -> None:
    ds = read_common_voice(cv, split="train")
    assert ds == EvalDataset((), ())
    with pytest.raises(PolyasrError, match="available: de"):
        read_common_voice(cv, split="train", languages=["sv-SE"])


def test_common_voice_single_language_root(cv: Path) -> None:
    ds = read_common_voice(cv / "de", max_per_language=1)
    assert ds.utterances == (
        Utterance("de/de_1.mp3", str(cv / "de" / "clips" / "de_1.mp3"), 'Er sagte: "Hallo"', "de"),
    )
    ds = read_common_voice(cv / "de", languages=["de"])
    assert [u.id for u in ds.utterances] == ["de/de_1.mp3", "de/de_4.mp3", "de/de_5.mp3"]
    assert ds.bad_rows[0] == BadRow("de/test.tsv:3", "audio file not found: clips/de_2.mp3")


def test_common_voice_errors(cv: Path, tmp_path: Path) -> None:
    with pytest.raises(PolyasrError, match=r"no test\.tsv for language\(s\) fr, xx; available: de, sv-SE\."):
        read_common_voice(cv, languages=["fr", "xx"])
    with pytest.raises(PolyasrError, match="does not exist"):
        read_common_voice(tmp_path / "nowhere")
    with pytest.raises(PolyasrError, match="has no <language>/dev.tsv"):
        read_common_voice(cv, split="dev")
    with pytest.raises(ValueError):
        read_common_voice(cv, max_per_language=-1)
    bad = tmp_path / "bad" / "de"
    bad.mkdir(parents=True)
    (bad / "test.tsv").write_text("client_id\tsentence\nx\ty\n", encoding="utf-8")
    with pytest.raises(PolyasrError, match=r"test\.tsv has no column 'path'"):
        read_common_voice(bad.parent)


@pytest.fixture()
def manifest_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    for name in ("a.wav", "b.wav", "sub/c.flac"):
        _touch(folder / name)
    return folder


def test_jsonl_manifest(manifest_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [
        json.dumps({"audio": "a.wav", "text": "hello there", "language": "en", "id": "u1"}),  # 1
        "",  # 2: blank, ignored
        json.dumps({"audio": "sub/c.flac", "text": ' „quoted" text '}),  # 3: no id, no language
        "{not json",  # 4
        json.dumps({"text": "no audio"}),  # 5
        json.dumps({"audio": "b.wav", "text": "dup", "id": "u1"}),  # 6
        json.dumps({"audio": "b.wav", "text": "  "}),  # 7
        json.dumps({"audio": "missing.wav", "text": "x"}),  # 8
        json.dumps(["a", "list"]),  # 9
        json.dumps({"audio": str(manifest_dir / "b.wav"), "text": "absolute", "language": "", "id": 7}),  # 10
    ]
    path = manifest_dir / "my_test.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(manifest_dir.parent)  # relative paths resolve against the manifest, not cwd
    ds = read_manifest(Path("m") / "my_test.jsonl", language="de")
    assert ds.utterances == (
        Utterance("u1", str(manifest_dir / "a.wav"), "hello there", "en"),
        Utterance("my_test.jsonl:3", str(manifest_dir / "sub" / "c.flac"), '„quoted" text', "de"),
        Utterance("7", str(manifest_dir / "b.wav"), "absolute", "de"),
    )
    assert ds.bad_rows == (
        BadRow("my_test.jsonl:4", "not valid JSON"),
        BadRow("my_test.jsonl:5", "missing column 'audio'"),
        BadRow("my_test.jsonl:6", "duplicate id"),
        BadRow("my_test.jsonl:7", "empty text"),
        BadRow("my_test.jsonl:8", "audio file not found: missing.wav"),
        BadRow("my_test.jsonl:9", "not a JSON object"),
    )
    assert read_manifest(path).utterances[1].language is None


def test_csv_manifest(manifest_dir: Path) -> None:
    path = manifest_dir / "set.csv"
    path.write_text(
        "id,audio,text,language\n"
        'x1,a.wav,"Hello, ""world""",en\n'  # 2
        "x2,sub/c.flac,bonjour,\n"  # 3: empty language -> default
        "x1,b.wav,duplicate,en\n"  # 4
        "x3,b.wav\n"  # 5: short row
        "x4,nope.wav,gone,en\n",  # 6
        encoding="utf-8",
    )
    ds = read_manifest(path, language="fr")
    assert ds.utterances == (
        Utterance("x1", str(manifest_dir / "a.wav"), 'Hello, "world"', "en"),
        Utterance("x2", str(manifest_dir / "sub" / "c.flac"), "bonjour", "fr"),
    )
    assert ds.bad_rows == (
        BadRow("set.csv:4", "duplicate id"),
        BadRow("set.csv:5", "missing column 'text'"),
        BadRow("set.csv:6", "audio file not found: nope.wav"),
    )


def test_tsv_manifest_without_id(manifest_dir: Path) -> None:
    path = manifest_dir / "set.tsv"
    path.write_text('audio\ttext\na.wav\tsay "hi"\n\nb.wav\tbye\n', encoding="utf-8")
    ds = read_manifest(path)
    assert ds.utterances == (
        Utterance("set.tsv:2", str(manifest_dir / "a.wav"), 'say "hi"', None),
        Utterance("set.tsv:4", str(manifest_dir / "b.wav"), "bye", None),
    )
    assert ds.bad_rows == ()


def test_manifest_errors(manifest_dir: Path) -> None:
    with pytest.raises(PolyasrError, match=r"Manifest .*nothing\.jsonl does not exist\."):
        read_manifest(manifest_dir / "nothing.jsonl")
    odd = manifest_dir / "set.txt"
    odd.write_text("audio,text\n", encoding="utf-8")
    with pytest.raises(PolyasrError, match=r"set\.txt must end in \.jsonl, \.csv or \.tsv"):
        read_manifest(odd)
    no_text = manifest_dir / "no_text.csv"
    no_text.write_text("audio,transcript\na.wav,hi\n", encoding="utf-8")
    with pytest.raises(PolyasrError, match=r"no_text\.csv has no column 'text'"):
        read_manifest(no_text)


def _seed_table() -> list[list[str]]:
    lines = MODEL_CARD.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Common Voice Languages"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_card_table_matches_seed() -> None:
    from importlib import resources

    packaged = resources.files("polyasr").joinpath("data").joinpath("model_card_results.tsv")
    lines = packaged.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "language\tutterances\thours\twer\tcer"
    assert [line.split("\t") for line in lines[1:]] == _seed_table()


def test_card_results() -> None:
    results = card_results()
    assert len(results) == 56
    assert results["de"] == CardResult("de", 262113, 822.8, 27.03, 6.50)
    assert results["th"] == CardResult("th", 4839, 11.7, 141.87, 37.16)
    assert list(results)[:2] == ["ar", "as"] and list(results)[-1] == "zh-TW"
    for code in ("fy-NL", "ga-IE", "pa-IN", "rm-sursilv", "rm-vallader", "sv-SE", "zh-CN", "zh-HK"):
        assert results[code].language == code
    assert all(r.hours > 0 and 0 < r.cer < r.wer for r in results.values())
    results.clear()  # callers get their own dict
    assert len(card_results()) == 56
