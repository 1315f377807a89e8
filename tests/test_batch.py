"""`polyasr batch` without a Ray cluster: input lists, shards, atomic output, resume bookkeeping.

The Ray pipeline itself (local instance, a two-node cluster losing a node, a killed driver) is
tested in test_batch_ray.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.parquet as pq  # noqa: E402

from polyasr.batch import BatchJobOptions, ClusterOptions, InputList, read_inputs  # noqa: E402
from polyasr.batch import pipeline  # noqa: E402
from polyasr.batch.records import failure_row, rows_to_table, success_row  # noqa: E402
from polyasr.batch.shards import JobSpec, OutputFolder, shard_of  # noqa: E402
from polyasr import TranscribeOptions  # noqa: E402
from polyasr.errors import BatchJobError  # noqa: E402
from polyasr.results import Segment, Transcription, Word  # noqa: E402


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    for name in ("a.mp3", "b.wav", "notes.txt", "sub/c.mp3", "sub/deeper/d.flac", "sub/deeper/e.MP3"):
        _touch(tmp_path / "audio" / name)
    return tmp_path / "audio"


def test_a_folder_lists_its_audio_files_recursively_with_relative_ids(tree: Path) -> None:
    table = read_inputs(str(tree)).table
    assert table.column("id").to_pylist() == ["a.mp3", "b.wav", "sub/c.mp3", "sub/deeper/d.flac", "sub/deeper/e.MP3"]
    assert table.column("audio").to_pylist()[2] == str(tree / "sub" / "c.mp3")
    assert table.column("language").null_count == 5


def test_globs_match_within_and_across_folders(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_inputs(f"{tree}/**/*.mp3").table.column("id").to_pylist() == ["a.mp3", "sub/c.mp3"]
    assert read_inputs(f"{tree}/*.mp3").table.column("id").to_pylist() == ["a.mp3"]
    assert read_inputs(f"{tree}/sub/**/[de].*").table.column("id").to_pylist() == ["deeper/d.flac", "deeper/e.MP3"]
    monkeypatch.chdir(tree)  # a relative glob: ids relative to its root, audio absolute
    table = read_inputs("sub/*.mp3").table
    assert table.column("id").to_pylist() == ["c.mp3"]
    assert table.column("audio").to_pylist() == [str(tree / "sub" / "c.mp3")]
    with pytest.raises(BatchJobError, match="no audio files found"):
        read_inputs(f"{tree}/**/*.ogg")


def test_manifests_in_three_formats_resolve_relative_paths(tree: Path) -> None:
    rows = [{"id": "one", "audio": "a.mp3", "language": "de"}, {"id": 2, "audio": "sub/c.mp3"},
            {"audio": str(tree / "b.wav")}]
    (tree / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tree / "m.csv").write_text("id,audio,language\none,a.mp3,de\n2,sub/c.mp3,\n," + str(tree / "b.wav") + ",\n")
    pq.write_table(pa.Table.from_pylist([{**r, "id": None if "id" not in r else str(r["id"])} for r in rows]), tree / "m.parquet")
    for name in ("m.jsonl", "m.csv", "m.parquet"):
        table = read_inputs(str(tree / name)).table
        # the third row has no id: its audio path is its id
        assert table.column("id").to_pylist() == ["one", "2", str(tree / "b.wav")], name
        assert table.column("audio").to_pylist() == [str(tree / "a.mp3"), str(tree / "sub/c.mp3"), str(tree / "b.wav")], name
        assert table.column("language").to_pylist() == ["de", None, None], name
    url = read_inputs((tree / "m.jsonl").as_uri()).table  # a URL: pyarrow's filesystem reads it
    assert url.column("audio").to_pylist()[0] == (tree / "a.mp3").as_uri()


def test_bad_manifests_are_refused_with_the_reason(tree: Path) -> None:
    (tree / "dup.jsonl").write_text('{"id": "x", "audio": "a.mp3"}\n{"id": "x", "audio": "b.wav"}\n')
    with pytest.raises(BatchJobError, match="id 'x' appears twice"):
        read_inputs(str(tree / "dup.jsonl"))
    (tree / "noaudio.csv").write_text("id,path\n1,a.mp3\n")
    with pytest.raises(BatchJobError, match="no 'audio' column"):
        read_inputs(str(tree / "noaudio.csv"))
    (tree / "broken.jsonl").write_text('{"audio": "a.mp3"\n')
    with pytest.raises(BatchJobError, match="not a readable JSONL manifest"):
        read_inputs(str(tree / "broken.jsonl"))
    (tree / "blank.jsonl").write_text('{"audio": "a.mp3"}\n{"id": null, "audio": ""}\n')
    listed = read_inputs(str(tree / "blank.jsonl"))
    assert len(listed.table) == 1 and listed.skipped_rows == ("blank.jsonl row 2: no audio and no id",)
    with pytest.raises(BatchJobError, match="no such file or folder"):
        read_inputs(str(tree / "missing.jsonl"))
    with pytest.raises(BatchJobError, match="expected a folder, a glob"):
        read_inputs(str(tree / "notes.txt"))


def test_shards_are_stable_across_runs_and_spread_evenly() -> None:
    # pinned: changing the hash would make every existing output folder resume wrongly
    assert shard_of(["a", "clip-001", "über/ß.mp3"], 16).tolist() == [15, 10, 8]
    counts = np.bincount(shard_of([f"file-{i}" for i in range(4000)], 8), minlength=8)
    assert counts.min() > 400 and counts.max() < 600  # 500 expected per shard


def _transcription(seconds: float) -> Transcription:
    word = Word("hallo", 0.1, 0.5, 0.9)
    return Transcription("hallo", "de", seconds, "<array>", (Segment(0, 0.1, 0.5, "hallo", (word,)),), 0.75)


def test_rows_keep_words_only_when_asked() -> None:
    row = success_row("id1", "a.mp3", _transcription(2.0), words=False)
    assert row["segments"] == [{"id": 0, "start": 0.1, "end": 0.5, "text": "hallo", "words": []}]
    assert row["language_probability"] == 0.75 and row["error"] is None
    with_words = success_row("id1", "a.mp3", _transcription(2.0), words=True)
    assert with_words["segments"][0]["words"] == [{"word": "hallo", "start": 0.1, "end": 0.5, "score": 0.9}]


@pytest.mark.parametrize("output_format", ["parquet", "jsonl"])
def test_output_folder_writes_shards_atomically_and_reads_them_back(tmp_path: Path, output_format: str) -> None:
    folder = OutputFolder(str(tmp_path / "out"))
    (tmp_path / "out" / ".tmp-0123-shard-00001-x.parquet").write_bytes(b"half a file from a killed run")
    assert folder.remove_temporary() == 1
    rows = [success_row("b", "b.wav", _transcription(2.5), True), failure_row("a", "a.wav", "a.wav: corrupt", "CorruptAudioError")]
    name = folder.write_shard(3, rows_to_table(rows), output_format)
    assert name.startswith("shard-00003-") and name.endswith("." + output_format)
    assert sorted(os.listdir(tmp_path / "out")) == [name]  # no temporary file left behind
    again = OutputFolder(str(tmp_path / "out")).write_shard(3, rows_to_table(rows[::-1]), output_format)
    assert again == name  # same ids -> same name: a rerun overwrites, never duplicates
    done = folder.finished()
    assert done.ids == {"a", "b"} and done.files == 1 and done.failed == 1 and done.audio_seconds == 2.5
    if output_format == "parquet":
        table = pq.read_table(tmp_path / "out" / name)
        assert table.column("id").to_pylist() == ["a", "b"]  # sorted by id
        assert table.column("error_type").to_pylist() == ["CorruptAudioError", None]
    else:
        lines = [json.loads(line) for line in (tmp_path / "out" / name).read_text().splitlines()]
        assert [line["id"] for line in lines] == ["a", "b"] and lines[1]["segments"][0]["words"][0]["word"] == "hallo"


def test_a_rerun_with_other_settings_is_refused(tmp_path: Path) -> None:
    folder = OutputFolder(str(tmp_path))
    spec = JobSpec(4, "parquet", {"language": "de", "model": "m"})
    assert folder.claim(spec) == spec
    assert folder.claim(JobSpec(9, "parquet", {"language": "de", "model": "m"})).shards == 4  # the stored count wins
    with pytest.raises(BatchJobError, match="language: 'de' before, 'fr' now"):
        folder.claim(JobSpec(4, "parquet", {"language": "fr", "model": "m"}))
    with pytest.raises(BatchJobError, match="format: parquet before, jsonl now"):
        folder.claim(JobSpec(4, "jsonl", {"language": "de", "model": "m"}))


def test_inputs_lost_with_their_worker_are_retried_alone_then_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Ray: round 1 loses two inputs, round 2 (one per task) saves one; the last gets a WorkerDied row."""
    ids = [f"clip-{i:02d}" for i in range(30)]
    listed = InputList(pa.table({"id": ids, "audio": [f"/data/{i}.wav" for i in ids], "language": pa.nulls(30, pa.string())}))
    rounds: list[tuple[int, int]] = []

    def fake_pipeline(collector, table, job, cluster) -> None:
        rounds.append((len(table), job.files_per_batch))
        keep = [uid for uid in table.column("id").to_pylist() if uid != "clip-07" and (len(rounds) > 1 or uid != "clip-21")]
        rows = [success_row(uid, "/data/x.wav", _transcription(1.0), False) for uid in keep]
        shards = table.filter(pa.compute.is_in(table.column("id"), pa.array(keep))).column("shard")
        collector.add(rows_to_table(rows, {"shard": shards}))

    class NoRay:
        def __init__(self, cluster) -> None: ...
        def __enter__(self) -> None: ...
        def __exit__(self, *exc) -> None: ...

    monkeypatch.setattr(pipeline, "_run_pipeline", fake_pipeline)
    monkeypatch.setattr(pipeline, "_ray_session", NoRay)
    summary = pipeline.run_batch(listed, str(tmp_path), BatchJobOptions(shards=4), ClusterOptions())
    assert rounds == [(30, 16), (2, 1)]
    ids_written = [uid for name in sorted(os.listdir(tmp_path)) if name.startswith("shard-")
                   for uid in pq.read_table(tmp_path / name).column("id").to_pylist()]
    assert sorted(ids_written) == ids  # each exactly once
    assert summary.complete and summary.failed == 1 and summary.failure_types == {"WorkerDied": 1}
    assert summary.first_failures[0][0] == "clip-07" and summary.audio_seconds == 29.0
    assert json.loads((tmp_path / "summary.json").read_text())["rtfx"] == pytest.approx(summary.rtfx)


def test_the_actor_runs_polyasrs_own_engine(tiny_model_dir: Path, recognizer, tmp_path: Path) -> None:
    """decode_batch + Transcriber (as on Ray, in-process) give exactly what Recognizer.transcribe gives,
    for a file decoded ahead, one too long for that (streamed by the actor), a corrupt one and a bad language."""
    import torch

    from audio_factory import write_audio
    from polyasr.batch.workers import Transcriber, WorkerOptions, decode_batch
    from polyasr.model.runtime import RuntimeOptions

    rng = np.random.default_rng(3)
    write_audio(tmp_path / "short.flac", "flac", 22_050, 0.3 * rng.standard_normal((1, 22_050)))
    write_audio(tmp_path / "long.wav", "pcm_s16le", 16_000, 0.3 * rng.standard_normal((1, 16_000 * 5)))
    (tmp_path / "broken.wav").write_bytes(b"RIFF" + bytes(40))
    names, languages = ["short.flac", "long.wav", "broken.wav", "short.flac"], ["de", None, None, "xx"]
    table = pa.table({"id": [f"{i}" for i in range(4)], "audio": [str(tmp_path / n) for n in names],
                      "language": pa.array(languages, pa.string()), "shard": pa.array([0, 1, 2, 3])})
    decoded = decode_batch(table, inline_seconds=2.0)
    assert [s is None for s in decoded.column("samples").to_pylist()] == [False, True, True, False]  # long: streamed
    options = WorkerOptions(model=str(tiny_model_dir), runtime=RuntimeOptions("cpu", "fp32", torch.get_num_threads()),
                            transcribe=TranscribeOptions(word_timestamps=True))
    actor = Transcriber(options)
    rows = [row for i in range(4) for row in actor(decoded.slice(i, 1)).to_pylist()]  # one input per call
    for row, name, language in zip(rows[:2], names, languages):
        expected = recognizer.transcribe(str(tmp_path / name), language=language or "auto", word_timestamps=True)
        assert row["text"] == expected.text and row["duration"] == expected.duration and row["language"] == expected.language
        assert [w["word"] for s in row["segments"] for w in s["words"]] == [w.word for w in expected.words]
    assert rows[2]["error_type"] == "CorruptAudioError" and "broken.wav" in rows[2]["error"]
    assert rows[3]["error_type"] == "LanguageError" and rows[3]["text"] is None
    assert [row["shard"] for row in rows] == [0, 1, 2, 3]


def test_a_bad_language_fails_before_anything_runs(tiny_model_dir: Path, tmp_path: Path) -> None:
    from polyasr.errors import LanguageError

    listed = InputList(pa.table({"id": ["a"], "audio": ["/data/a.wav"], "language": pa.nulls(1, pa.string())}))
    with pytest.raises(LanguageError, match="xx"):
        pipeline.run_batch(listed, str(tmp_path / "out"), BatchJobOptions(model=str(tiny_model_dir), transcribe=TranscribeOptions(language="xx")))
    assert not (tmp_path / "out").exists()  # refused before the output folder, Ray or a worker


def test_a_missing_model_folder_fails_before_ray_starts(tmp_path: Path) -> None:
    from polyasr.errors import ModelLoadError

    listed = InputList(pa.table({"id": ["a"], "audio": ["/data/a.wav"], "language": pa.nulls(1, pa.string())}))
    with pytest.raises(ModelLoadError, match="no-such-model' does not exist"):
        pipeline.run_batch(listed, str(tmp_path / "out"), BatchJobOptions(model=str(tmp_path / "no-such-model")))


def test_a_workers_error_is_named_not_rays_wrapper() -> None:
    wrapped = RuntimeError("ray::MapWorker.__init__() (pid=1)\n  File x\npolyasr.errors.ModelLoadError: model 'm' is broken\nSystemException")
    assert pipeline._root_cause(wrapped) == "model 'm' is broken"
    assert pipeline._root_cause(RuntimeError("first\nlast line")) == "last line"


def test_decoder_options_reach_the_workers_with_paths_they_can_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from polyasr.cli.batch import add_arguments, options_from
    from polyasr.decoding import BeamOptions, DecoderOptions, Hotword
    import argparse

    (tmp_path / "model").mkdir()
    (tmp_path / "de.arpa").write_text("\\data\\\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["in/", "-o", "out/", "--model", "model", "--decoder", "beam", "--lm", "de.arpa",
                              "--beam-size", "8", "--hotwords", "Müller,Zwickau:8"])
    job, _ = options_from(args)
    assert job.transcribe.decoder == DecoderOptions("beam", BeamOptions(
        beam_size=8, lm="de.arpa", hotwords=(Hotword("müller"), Hotword("zwickau", 8.0))))
    remote = pipeline.named_absolutely(job)
    assert remote.model == str(tmp_path / "model") and remote.transcribe.decoder.beam.lm == str(tmp_path / "de.arpa")
    assert remote.transcribe.decoder.beam.hotwords == job.transcribe.decoder.beam.hotwords
