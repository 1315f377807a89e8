"""The polyasr command, in-process and once as the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audio_factory import tone, write_audio
from model_files import LANG_IDS_JSON
from polyasr.cli.main import main
from polyasr.language.table import read_language_table


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(3)
    noisy = tone(440, 44_100, 1.5, 0.4) + 0.1 * rng.standard_normal(int(1.5 * 44_100))
    return [
        write_audio(folder / "one.wav", "pcm_s16le", 16_000, tone(300, 16_000, 1.0)[None]),
        write_audio(folder / "two.flac", "flac", 44_100, np.clip(noisy, -1, 1)[None]),
    ]


def test_transcribe_prints_each_files_text(recognizer, tiny_model_dir, audio_files, capsys) -> None:
    code = main(["transcribe", *map(str, audio_files), "--model", str(tiny_model_dir), "--dtype", "fp32", "--language", "en"])
    out = capsys.readouterr().out.splitlines()
    expected = [f"{p}: {recognizer.transcribe(str(p), language='en').text}" for p in audio_files]
    assert code == 0 and out == expected


def test_json_files_in_output_dir(recognizer, tiny_model_dir, audio_files, tmp_path) -> None:
    code = main(["transcribe", str(audio_files[1]), "--model", str(tiny_model_dir), "--dtype", "fp32", "-f", "json", "-o", str(tmp_path)])
    written = json.loads((tmp_path / "two.json").read_text(encoding="utf-8"))
    direct = recognizer.transcribe(str(audio_files[1]))
    assert code == 0
    assert written["text"] == direct.text and written["source"] == str(audio_files[1])
    assert written["language"] == direct.language and written["language_probability"] == pytest.approx(direct.language_probability)
    assert written["duration"] == pytest.approx(1.5, abs=1e-3)
    assert [s["text"] for s in written["segments"]] == [s.text for s in direct.segments]
    assert all("words" not in s for s in written["segments"])  # words only with --word-timestamps


def test_bad_files_get_one_line_each_and_the_rest_is_transcribed(tiny_model_dir, audio_files, tmp_path, capsys) -> None:
    not_audio = tmp_path / "notes.txt"
    not_audio.write_text("hello, not audio\n" * 20)
    files = [str(tmp_path / "missing.mp3"), str(audio_files[0]), str(not_audio)]
    code = main(["transcribe", *files, "--model", str(tiny_model_dir), "--dtype", "fp32"])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("polyasr: error:")]
    assert code == 1
    assert len(errors) == 2 and "missing.mp3" in errors[0] and "notes.txt" in errors[1]
    assert "Traceback" not in captured.err
    assert [line.split(":")[0] for line in captured.out.splitlines()] == [str(audio_files[0])]


def test_unknown_language_is_one_line_and_exit_1(tiny_model_dir, audio_files, capsys) -> None:
    code = main(["transcribe", str(audio_files[0]), "--model", str(tiny_model_dir), "--dtype", "fp32", "--language", "klingon"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == "polyasr: error: unknown language 'klingon'; choose one of: de, en, ja, ru"


def test_languages_lists_codes_names_and_sizes(tiny_model_dir, capsys) -> None:
    assert main(["languages", "--model", str(tiny_model_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "en\tEnglish\t28 characters"  # 27 Latin characters and the word delimiter
    assert lines[4] == "rw\tKinyarwanda\tempty table: cannot restrict decoding"
    assert [line.split("\t")[0] for line in lines] == ["de", "en", "ja", "ru", "rw"]


def test_convert_lang_ids_writes_equal_json(real_lang_ids_path, tmp_path, capsys) -> None:
    target = tmp_path / "lang_ids.json"
    assert main(["convert-lang-ids", str(real_lang_ids_path), str(target)]) == 0
    assert f"wrote 60 language codes to {target}: 56 with characters, 4 empty" in capsys.readouterr().err  # the docs' 56
    assert read_language_table(target) == read_language_table(real_lang_ids_path)
    assert len(json.loads(target.read_text())["en"]) == 91
    assert target.read_bytes() == LANG_IDS_JSON.read_bytes()  # the committed table is this converter's output


def test_console_script_runs_and_fails_cleanly(tiny_model_dir, tmp_path) -> None:
    script = Path(sys.executable).parent / "polyasr"
    out = subprocess.run([str(script), "transcribe", str(tmp_path / "nope.wav"), "--model", str(tiny_model_dir), "--dtype", "fp32"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("polyasr: error: ")
    assert "nope.wav" in out.stderr and "Traceback" not in out.stderr


def test_detect_language_lists_sorted_probabilities(tiny_model_dir, audio_files, capsys) -> None:
    assert main(["detect-language", str(audio_files[0]), "--model", str(tiny_model_dir), "--dtype", "fp32", "--top", "3"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 3 and all(len(r) == 3 for r in rows)
    probabilities = [float(r[2]) for r in rows]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0 + 1e-3
    assert {r[0] for r in rows} <= {"de", "en", "ja", "ru"} and rows[0][1] != rows[0][0]  # a name, not the code
    assert main(["detect-language", str(audio_files[0]), "--model", str(tiny_model_dir), "--dtype", "fp32", "--candidates", "de,ru", "-f", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {x["language"] for x in data["languages"]} == {"de", "ru"}


@pytest.mark.parametrize(("option", "message"), [
    (["--device", "cuda:7"], "device 'cuda:7' was asked for but torch sees no CUDA GPU"),
])
def test_bad_options_are_one_line_errors(tiny_model_dir, audio_files, tmp_path, capsys, option, message) -> None:
    code = main(["transcribe", str(audio_files[0]), "--model", str(tiny_model_dir), "-o", str(tmp_path), *option])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == f"polyasr: error: {message}"


@pytest.mark.parametrize("argv, names", [
    (["detect-language", "x.wav", "--top", "0"], "--top"),
    (["transcribe"], "files"),
    (["transcribe", "x.wav", "--window-seconds", "4", "--context-seconds", "2"], "--window-seconds"),
    (["nosuch"], "invalid choice"),
])
def test_a_bad_command_line_is_one_line_and_exit_2(argv, names, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.splitlines()) == 1 and names in err and err.startswith("polyasr"), err


def test_candidates_beside_a_named_language_are_refused_not_ignored(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", "x.wav", "--language", "de", "--candidates", "fr"])
    assert exit_info.value.code == 2
    assert "--candidates: --language de names the language" in capsys.readouterr().err


def test_highlight_below_underlines_the_low_confidence_words_of_subtitles(recognizer, tiny_model_dir, audio_files, tmp_path, capsys) -> None:
    code = main(["transcribe", str(audio_files[1]), "--model", str(tiny_model_dir), "--dtype", "fp32", "-f", "srt,json",
                 "-o", str(tmp_path), "--highlight-below", "0.5"])
    assert code == 0
    words = recognizer.transcribe(str(audio_files[1]), word_timestamps=True).words
    low = [w.word for w in words if w.score < 0.5]
    assert low and (tmp_path / "two.srt").read_text(encoding="utf-8").count("<u>") == len(low)
    written = json.loads((tmp_path / "two.json").read_text(encoding="utf-8"))
    assert all(0 <= s["score"] <= 1 and 0 <= s["no_speech_prob"] <= 1 for s in written["segments"])
    with pytest.raises(SystemExit) as exit_info:
        main(["transcribe", str(audio_files[1]), "--highlight-below", "2"])
    assert exit_info.value.code == 2 and "from 0 to 1" in capsys.readouterr().err
