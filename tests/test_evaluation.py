"""Evaluation: exact scores, a Common Voice tree end to end, and resuming an interrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import jiwer
import numpy as np
import pytest

from audio_factory import MP3, write_audio
from polyasr.cli.main import main
from polyasr.evaluation.data import read_common_voice
from polyasr.evaluation.run import CACHE_NAME, EvalOptions, evaluate
from polyasr.evaluation.scoring import ScoredUtterance, score


def test_hand_made_pairs_score_exactly_and_equal_jiwer() -> None:
    items = [
        ScoredUtterance("es", "¿Qué tal, Señor?", "que tal señor", 2.0),  # 3 words: "qué"->"que" 1 sub
        ScoredUtterance("es", "Hola mundo", "hola mundo cruel", 1.0),  # 2 words: 1 insertion
        ScoredUtterance("ja", "こんにちは", "こんにちわ", 1.5),  # 5 characters: 1 substitution
    ]
    report = score(items)
    es, ja = report.languages
    assert es.wer == pytest.approx(100 * 2 / 5)  # WER = (1 + 1) / (3 + 2) = 40 %
    assert es.wer == pytest.approx(100 * jiwer.wer(["qué tal señor", "hola mundo"], ["que tal señor", "hola mundo cruel"]))
    # CER: "qué tal señor" (13 chars) 1 sub; "hola mundo" (10 chars) + " cruel" 6 insertions -> 7 / 23
    assert es.cer == pytest.approx(100 * 7 / 23)
    assert ja.cer == pytest.approx(100 / 5) and not ja.wer_meaningful and es.wer_meaningful
    assert (es.utterances, es.hours) == (2, pytest.approx(3.0 / 3600))
    assert report.macro.cer == pytest.approx((es.cer + ja.cer) / 2)
    assert report.pooled.wer == pytest.approx(es.wer)  # Japanese has no words to pool
    assert report.pooled.cer == pytest.approx(100 * 8 / 28)  # 7 + 1 edits over 23 + 5 characters


def test_empty_references_are_skipped_not_scored() -> None:
    report = score([ScoredUtterance("en", "?!", "hello", 1.0), ScoredUtterance("en", "hi", "hi", 1.0)])
    assert report.skipped_empty == 1 and report.languages[0].utterances == 1 and report.languages[0].wer == 0


@pytest.fixture()
def common_voice(tmp_path: Path) -> Path:
    if MP3 is None:
        pytest.skip("this PyAV cannot encode mp3")
    rng = np.random.default_rng(0)
    for language, sentences in {"de": ["Guten Tag", "Wie geht's?", "Danke schön", "Auf Wiedersehen"],
                                "ru": ["Привет мир", "Как дела", "Спасибо"]}.items():
        clips = tmp_path / "cv" / language / "clips"
        clips.mkdir(parents=True)
        lines = ["client_id\tpath\tsentence\tup_votes"]
        for i, sentence in enumerate(sentences):
            name = f"common_voice_{language}_{i}.mp3"
            write_audio(clips / name, MP3, 48_000, (0.1 * rng.standard_normal(int(48_000 * (1 + i * 0.5))))[None])
            lines.append(f"c{i}\t{name}\t{sentence}\t2")
        lines.append("c9\tmissing.mp3\tNicht da\t1")  # a bad row: no such clip
        (tmp_path / "cv" / language / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "cv" / "de" / "clips" / "common_voice_de_3.mp3").write_bytes(b"ID3 broken")  # undecodable
    return tmp_path / "cv"


def test_common_voice_tree_end_to_end_through_the_cli(common_voice, tiny_model_dir, tmp_path, capsys) -> None:
    out = tmp_path / "results"
    code = main(["evaluate", "--dataset", str(common_voice), "--languages", "de,ru", "--model", str(tiny_model_dir), "--dtype", "fp32",
                 "--output-dir", str(out), "--compare-card", "--plot"])
    captured = capsys.readouterr()
    assert code == 0
    header, *records = [json.loads(line) for line in (out / CACHE_NAME).read_text(encoding="utf-8").splitlines()]
    assert header["polyasr_cache"] == 1 and header["produced_by"]["model"] == str(tiny_model_dir)
    assert sorted(r["id"] for r in records) == sorted([f"de/common_voice_de_{i}.mp3" for i in range(4)] + [f"ru/common_voice_ru_{i}.mp3" for i in range(3)])
    broken = next(r for r in records if r["id"].endswith("de_3.mp3"))
    assert broken["hypothesis"] is None and "de_3.mp3" in broken["error"]
    assert {r["decoded_as"] for r in records if r["hypothesis"] is not None} == {"de", "ru"}
    summary = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert summary["produced_by"] == header["produced_by"] and header["produced_by"]["normalizer"].startswith("sha256:")
    assert header["produced_by"]["decoder"] == "greedy" and header["produced_by"]["model_revision"].startswith("sha256:")
    assert (summary["produced_by"]["decode"], summary["produced_by"]["precision"]) == ("language", "fp32")
    rows = {row["language"]: row for row in summary["languages"]}
    assert rows["de"]["utterances"] == 3 and rows["ru"]["utterances"] == 3
    assert rows["de"]["hours"] == pytest.approx((1 + 1.5 + 2) / 3600, abs=1e-3)
    assert rows["de"]["card_wer"] == 27.03 and rows["de"]["wer_diff"] == pytest.approx(rows["de"]["wer"] - 27.03, abs=0.01)
    assert len(summary["failed"]) == 1
    table = (out / "results.md").read_text(encoding="utf-8")
    assert table.startswith("| language | utterances | hours | WER | CER | card WER | card CER | Δ WER | Δ CER |")
    assert "| de | 3 |" in table and "| ru | 3 |" in table and "| macro |" in table and table in captured.out
    assert "missing.mp3" in captured.err  # bad rows reported
    assert f"{broken['audio']}: " in captured.err  # the undecodable file is named on the console too
    assert "polyasr: 7 utterances (0 from an earlier run), 1 undecodable, 2 bad rows" in captured.err
    assert (out / "cer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_header = (out / "results.csv").read_text(encoding="utf-8").splitlines()[0]
    assert csv_header == "language,utterances,hours,wer,cer,wer_meaningful,card_wer,card_cer,wer_diff,cer_diff"


def test_a_run_killed_half_way_resumes_and_scores_each_utterance_once(common_voice, recognizer, tmp_path) -> None:
    dataset = read_common_voice(common_voice, languages=["de", "ru"])
    out = tmp_path / "run"

    def stop_after_three(done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(recognizer, dataset, out, EvalOptions(), stop_after_three)
    cache = out / CACHE_NAME
    assert len(cache.read_text(encoding="utf-8").splitlines()) == 1 + 3  # what produced them, 3 records
    with open(cache, "a", encoding="utf-8") as handle:
        handle.write('{"id": "ru/common_voice_ru_0.mp3", "langu')  # the kill cut a line short
    seen: list[int] = []
    result = evaluate(recognizer, dataset, out, EvalOptions(), lambda done, total: seen.append(done))
    lines = cache.read_text(encoding="utf-8").splitlines()
    ids = [json.loads(line)["id"] for line in lines[1:]]
    assert len(ids) == len(set(ids)) == len(dataset.utterances) == 7  # each exactly once, nothing lost
    assert result.resumed == 3 and seen[0] == 3 and seen[-1] == 7
    assert sum(row.utterances for row in result.report.languages) == 6 and len(result.failed) == 1
    again = evaluate(recognizer, dataset, out, EvalOptions())
    assert again.resumed == 7 and again.report == result.report  # nothing recomputed, same scores


def _run_cli(common_voice: Path, model: Path, out: Path, *extra: str) -> int:
    return main(["evaluate", "--dataset", str(common_voice), "--languages", "de,ru", "--model", str(model),
                 "--dtype", "fp32", "--output-dir", str(out), *extra])


def test_a_cache_made_by_another_model_or_decoding_is_refused_in_one_line(common_voice, tiny_model_dir, tmp_path, capsys) -> None:
    """It used to be reused whatever changed: 'N from an earlier run' and the old numbers."""
    from tiny_model import build_tiny_model

    other = build_tiny_model(tmp_path / "other-model", seed=1)
    out = tmp_path / "results"
    assert _run_cli(common_voice, tiny_model_dir, out) == 0
    first = (out / "results.md").read_text(encoding="utf-8")
    capsys.readouterr()
    cases = [(other, [], "model "), (tiny_model_dir, ["--decode", "auto"], "decode language -> auto"),
             (tiny_model_dir, ["--decoder", "beam", "--beam-size", "8"], "decoder greedy -> beam beam_size=8")]
    for model, extra, changed in cases:
        code = _run_cli(common_voice, model, out, *extra)
        err = [line for line in capsys.readouterr().err.splitlines() if "missing.mp3" not in line]  # bad rows
        assert code == 1 and len(err) == 1 and err[0].startswith(f"polyasr: error: {out / CACHE_NAME} holds hypotheses of another run (")
        assert changed in err[0] and err[0].endswith("use another --output-dir, or --restart to discard them")
    assert (out / "results.md").read_text(encoding="utf-8") == first  # nothing overwritten
    assert _run_cli(common_voice, other, out, "--restart") == 0
    assert "(0 from an earlier run)" in capsys.readouterr().err
    header = json.loads((out / CACHE_NAME).read_text(encoding="utf-8").splitlines()[0])
    assert header["produced_by"]["model"] == str(other)


def test_changed_utterances_are_decoded_again_and_bad_cache_lines_skipped(common_voice, recognizer, tmp_path) -> None:
    dataset = read_common_voice(common_voice, languages=["de", "ru"])
    out = tmp_path / "run"
    first = evaluate(recognizer, dataset, out)
    cache = out / CACHE_NAME
    with open(cache, "ab") as handle:
        handle.write(b'{"id": "\xff\xfe not utf-8"}\n')  # bad UTF-8
        handle.write(b'{"id": 5, "language": "de", "audio": "a", "reference": "r", "hypothesis": null, '
                     b'"duration": "long", "error": null, "decoded_as": null, "key": "k"}\n')  # wrong types
        handle.write(b'[1, 2, 3]\n')
    # a changed reference and a changed clip
    tsv = common_voice / "de" / "test.tsv"
    tsv.write_text(tsv.read_text(encoding="utf-8").replace("Guten Tag", "Guten Morgen"), encoding="utf-8")
    clip = common_voice / "ru" / "clips" / "common_voice_ru_0.mp3"
    write_audio(clip, MP3, 48_000, (0.1 * np.random.default_rng(9).standard_normal(48_000))[None])
    changed = read_common_voice(common_voice, languages=["de", "ru"])
    seen: list[int] = []
    again = evaluate(recognizer, changed, out, EvalOptions(), lambda done, total: seen.append(done))
    assert again.resumed == 5 and again.changed == 2 and seen == [5, 6, 7]
    assert any("skipped 3 line(s) that are not valid records (line 9, 10, 11)" in w for w in again.warnings)
    assert any("2 utterance(s) changed since the earlier run" in w for w in again.warnings)
    guten = next(r for r in again.records if r.id == "de/common_voice_de_0.mp3")
    assert guten.reference == "Guten Morgen"  # scored against the new reference, not the cached one
    assert again.report != first.report or again.records != first.records


def test_rows_in_a_language_the_model_lacks_are_bad_rows_not_unrestricted_scores(recognizer, tmp_path) -> None:
    rng = np.random.default_rng(2)
    rows = []
    for i, language in enumerate(["de", "fr", "de"]):  # the tiny model has de, en, ja, ru, rw (empty)
        path = write_audio(tmp_path / f"{i}.wav", "pcm_s16le", 16_000, np.clip(0.2 * rng.standard_normal((1, 16_000)), -1, 1))
        rows.append(json.dumps({"audio": str(path), "text": "hallo welt", "language": language}))
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    from polyasr.evaluation.data import read_manifest

    result = evaluate(recognizer, read_manifest(manifest), tmp_path / "out")
    assert [b.where for b in result.bad_rows] == ["m.jsonl:2"]
    assert "language 'fr' is not one of the model's languages" in result.bad_rows[0].reason
    assert [s.language for s in result.report.languages] == ["de"] and result.report.pooled.utterances == 2
    assert len(result.records) == 2


def test_cer_chart_stays_readable_at_56_languages(tmp_path) -> None:
    """cer.png for 56 languages was 4,344 x 480 px with unreadable labels and one outlier flattening the rest."""
    import struct

    from polyasr.evaluation.card import card_results
    from polyasr.evaluation.report import _axis_limit, plot_cer
    from polyasr.evaluation.run import EvalResult
    from polyasr.evaluation.scoring import LanguageScore, ScoreReport

    def size(count: int) -> tuple[int, int]:
        codes = sorted(card_results())[:count]
        languages = tuple(LanguageScore(c, 10, 0.1, 20.0, 5.0 + i, True) for i, c in enumerate(codes))
        path = plot_cer(EvalResult(ScoreReport(languages, None, None, 0), (), 0, ()), tmp_path / f"{count}.png")
        head = path.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        return struct.unpack(">II", head[16:24])

    (w5, h5), (w56, h56) = size(5), size(56)
    assert w5 == w56 == 800  # one row per language: the figure grows downwards, never sideways
    assert h56 > 5 * h5 and h56 / 56 >= 35  # at least 35 px per language row
    assert _axis_limit([5.0, 10.0, 12.0, 300.0]) == pytest.approx(1.1 * 12.0)  # an outlier is cut, not scaled to
    assert _axis_limit([5.0, 10.0, 12.0, 14.0]) == pytest.approx(1.1 * 14.0)


def test_the_normaliser_the_version_and_the_lm_file_key_the_cache_too(common_voice, recognizer, tmp_path, monkeypatch) -> None:
    from polyasr.evaluation import cache as eval_cache
    from polyasr.decoding.options import BeamOptions, DecoderOptions
    from polyasr.errors import OptionsError

    dataset = read_common_voice(common_voice, languages=["de"])
    out = tmp_path / "run"
    evaluate(recognizer, dataset, out)
    monkeypatch.setattr(eval_cache, "normalizer_fingerprint", lambda: "sha256:other-rules")
    with pytest.raises(OptionsError, match=r"of another run \(normalizer sha256:\w+ -> sha256:other-rules\)"):
        evaluate(recognizer, dataset, out)
    monkeypatch.undo()
    monkeypatch.setattr("polyasr.version.VERSION", "99.0")
    with pytest.raises(OptionsError, match=r"polyasr_version \S+ -> 99.0\)"):
        evaluate(recognizer, dataset, out)
    monkeypatch.undo()
    assert evaluate(recognizer, dataset, out).resumed == len(dataset.utterances) == 4  # the same facts: reused
    lm = tmp_path / "de.arpa"
    lm.write_text("one LM", encoding="utf-8")
    first = eval_cache.decoder_description(DecoderOptions("beam", BeamOptions(lm=str(lm))))
    lm.write_text("another LM", encoding="utf-8")
    second = eval_cache.decoder_description(DecoderOptions("beam", BeamOptions(lm=str(lm))))
    assert first.startswith(f"beam lm={lm}@sha256:") and second.startswith(f"beam lm={lm}@sha256:") and first != second
