"""`polyasr batch` on real Ray: a local instance, a two-node loopback cluster that loses its worker
node mid-job, and a driver killed with SIGKILL and rerun. In each case every input has exactly one
row and the corrupt inputs carry their error. Ray on 2 cores is slow to start, so the cluster is
shared by the tests of this module; nodes get logical CPUs and small object stores.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray.data")
import pyarrow.parquet as pq  # noqa: E402

from audio_factory import MP3, write_audio  # noqa: E402
from ray_processes import loopback_cluster, src_path  # noqa: E402
from tiny_model import build_tiny_model  # noqa: E402
from polyasr.batch import BatchJobOptions, ClusterOptions, run_batch  # noqa: E402

GOOD = 290  # short files in four formats
LONG_SECONDS = 6.0  # one file longer than --inline-seconds 2: streamed by the actor
CORRUPT = {  # name -> error class; each must be reported, none may stop the job
    "bad/empty.wav": "EmptyAudioError",
    "bad/header-only.wav": "CorruptAudioError",
    "bad/noise.mp3": None,  # random bytes: whichever AudioError ffmpeg's probing leads to
    "bad/text.flac": None,
}


def _signal(rng: np.random.Generator, seconds: float, rate: int = 16_000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * rng.uniform(150, 900) * t) + 0.05 * rng.standard_normal(t.size))[None]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """~300 real audio files (wav, flac, mp3, ogg/vorbis where available), corrupt ones, and a manifest."""
    root = tmp_path_factory.mktemp("batch-corpus")
    rng = np.random.default_rng(7)
    formats = [("wav", "pcm_s16le"), ("flac", "flac")] + ([("mp3", MP3)] if MP3 else [])
    durations: dict[str, float] = {}
    for i in range(GOOD):
        suffix, codec = formats[i % len(formats)]
        name = f"set{i % 5}/clip-{i:03d}.{suffix}"
        seconds = 0.6 + 0.1 * (i % 9)
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        rate = 16_000 if i % 2 else 22_050  # resampled by the decode tasks
        write_audio(root / name, codec, rate, _signal(rng, seconds, rate))
        durations[name] = seconds
    (root / "long").mkdir()
    write_audio(root / "long" / "talk.wav", "pcm_s16le", 16_000, _signal(rng, LONG_SECONDS))
    durations["long/talk.wav"] = LONG_SECONDS
    (root / "bad").mkdir()
    (root / "bad/empty.wav").write_bytes(b"")
    (root / "bad/header-only.wav").write_bytes(b"RIFF" + bytes(40))
    (root / "bad/noise.mp3").write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (root / "bad/text.flac").write_text("this is not audio\n" * 50)
    rows = [{"id": f"utt-{n:04d}", "audio": name, **({"language": "de"} if n % 3 == 0 else {})}
            for n, name in enumerate(sorted(durations) + sorted(CORRUPT))]
    rows += [{"id": "missing", "audio": "nowhere/gone.wav"}, {"id": "bad-language", "audio": "long/talk.wav", "language": "xx"}]
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"root": root, "durations": durations, "rows": rows}


def _rows(out: Path) -> list[dict]:
    rows = []
    for name in sorted(os.listdir(out)):
        if name.endswith(".parquet") and name.startswith("shard-"):
            rows += pq.read_table(out / name).to_pylist()
        elif name.endswith(".jsonl") and name.startswith("shard-"):
            rows += [json.loads(line) for line in (out / name).read_text().splitlines()]
    return rows


def _check_folder_job(rows: list[dict], corpus: dict) -> None:
    """A job over the corpus folder: every file once; good ones transcribed, corrupt ones with their error."""
    by_id = {row["id"]: row for row in rows}
    assert len(rows) == len(by_id) == len(corpus["durations"]) + len(CORRUPT)  # exactly once
    for name, seconds in corpus["durations"].items():
        assert by_id[name]["error"] is None, by_id[name]["error"]
        assert by_id[name]["duration"] == pytest.approx(seconds, abs=0.03)
        assert by_id[name]["segments"] is not None and by_id[name]["text"] is not None
    for name, kind in CORRUPT.items():
        assert by_id[name]["text"] is None and name in by_id[name]["error"]
        assert by_id[name]["error_type"] == kind if kind else by_id[name]["error_type"].endswith("AudioError")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with three live tokens: wide top-1 margins, so batching or thread counts that
    change the last float bits do not flip a frame's token (random weights otherwise do here and there)."""
    return build_tiny_model(tmp_path_factory.mktemp("batch-model"), live_tokens="ab|")


@pytest.fixture(scope="module")
def ray_temp():
    """A short temporary folder for Ray's sessions (its socket paths must stay under 107 bytes)."""
    folder = tempfile.mkdtemp(prefix="polyasr-ray-", dir="/tmp")
    yield Path(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": src_path(), "RAY_TMPDIR": str(tmp)}


def test_local_instance_manifest_to_jsonl(corpus: dict, model_dir: Path, ray_temp: Path, tmp_path: Path) -> None:
    """No --ray ADDRESS: the command starts (and stops) its own Ray; the results match `transcribe`'s."""
    out = tmp_path / "out"
    command = [sys.executable, "-m", "polyasr", "batch", str(corpus["root"] / "manifest.jsonl"), "--output", str(out),
               "--model", str(model_dir), "--format", "jsonl", "--shards", "8", "--num-cpus", "2",
               "--object-store-mb", "100", "--inline-seconds", "2", "--word-timestamps", "--dtype", "bf16"]
    done = subprocess.run(command, env=_env(ray_temp), capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "batch:" in done.stderr and "RTFx" in done.stderr  # progress bar, then the summary
    assert "core_worker" not in done.stderr  # Ray's C++ note on the actor pool's arguments, on every run
    rows = _rows(out)
    by_id = {row["id"]: row for row in rows}
    assert len(rows) == len(by_id) == len(corpus["rows"])  # every manifest row exactly once
    assert len([n for n in os.listdir(out) if n.startswith("shard-")]) == 8
    assert by_id["missing"]["error_type"] == "AudioNotFoundError" and "gone.wav" in by_id["missing"]["error"]
    assert by_id["bad-language"]["error_type"] == "LanguageError"
    import polyasr

    recognizer = polyasr.load(str(model_dir), device="cpu", dtype="bf16")
    manifest = {row["id"]: row for row in corpus["rows"]}
    corrupt_ids = {uid for uid, row in manifest.items() if row["audio"] in CORRUPT}
    assert len(corrupt_ids) == 4 and all(by_id[uid]["error"] for uid in corrupt_ids)
    good = [uid for uid, row in manifest.items() if row["audio"] in corpus["durations"] and uid != "bad-language"]
    assert all(by_id[uid]["error"] is None and by_id[uid]["text"] is not None for uid in good)
    # polyasr's own engine: a file's result does not depend on what it was batched with, in bf16 too
    for uid in ("utt-0003", "utt-0001", next(u for u in good if manifest[u]["audio"] == "long/talk.wav")):
        language = manifest[uid].get("language", "auto")
        expected = recognizer.transcribe(str(corpus["root"] / manifest[uid]["audio"]), language=language, word_timestamps=True)
        assert by_id[uid]["text"] == expected.text
        assert [s["end"] for s in by_id[uid]["segments"]] == [s.end for s in expected.segments]
        assert by_id[uid]["language"] == expected.language and by_id[uid]["duration"] == expected.duration
        assert by_id[uid]["segments"][0]["words"]  # --word-timestamps
    summary = json.loads((out / "summary.json").read_text())
    assert summary["inputs"] == summary["transcribed"] == len(corpus["rows"]) and summary["complete"]
    assert summary["failed"] == 6 and summary["failure_types"]["LanguageError"] == 1
    audio = sum(corpus["durations"][manifest[uid]["audio"]] for uid in good)
    assert summary["audio_seconds"] == pytest.approx(audio, abs=0.5)
    assert summary["rtfx"] == pytest.approx(summary["audio_seconds"] / summary["wall_seconds"])


@pytest.fixture(scope="module")
def cluster(ray_temp: Path):
    """A head node (4 logical CPUs) and a worker node (2) on loopback (ray_processes.loopback_cluster),
    shared by the tests below."""
    with loopback_cluster(ray_temp, dict(num_cpus=4), [dict(num_cpus=2)]) as ray_cluster:
        yield ray_cluster, ray_temp


def test_cluster_finishes_after_losing_its_worker_node(corpus: dict, model_dir: Path, cluster, tmp_path: Path) -> None:
    """Two actors spread over two nodes; the worker node is SIGKILLed a quarter of the way in."""
    ray_cluster, _ = cluster
    worker = next(iter(ray_cluster.worker_nodes))
    killed_at: list[int] = []

    def kill_worker_node(state) -> None:
        if not killed_at and state.done >= state.total // 4:
            killed_at.append(state.done)
            ray_cluster.remove_node(worker, allow_graceful=False)

    job = BatchJobOptions(model=str(model_dir), shards=6, inline_seconds=2.0)
    where = ClusterOptions(address=ray_cluster.address, actors=2, cpus_per_actor=0.5)
    summary = run_batch(str(corpus["root"]), str(tmp_path / "out"), job, where, kill_worker_node)
    assert killed_at and killed_at[0] < summary.inputs  # it died mid-job
    _check_folder_job(_rows(tmp_path / "out"), corpus)
    assert summary.complete and "WorkerDied" not in summary.failure_types and summary.failed == len(CORRUPT)


def test_driver_killed_with_sigkill_then_rerun(corpus: dict, model_dir: Path, cluster, tmp_path: Path) -> None:
    """The finished shards of a killed driver stay untouched; the rerun does only the rest."""
    ray_cluster, temp = cluster
    out = tmp_path / "out"
    command = [sys.executable, "-m", "polyasr", "batch", f"{corpus['root']}/**/*.[wfm]*", "--output", str(out),
               "--model", str(model_dir), "--shards", "20", "--ray", ray_cluster.address,
               "--inline-seconds", "2", "--files-per-batch", "8"]
    driver = subprocess.Popen(command, env=_env(temp), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and driver.poll() is None:
            if len([n for n in os.listdir(out) if n.startswith("shard-")] if out.exists() else []) >= 2:
                break
            time.sleep(0.05)
        assert driver.poll() is None, f"the driver ended before it could be killed: {driver.stderr.read()[-2000:]}"
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        driver.kill()
        driver.wait()
    before = {n: (out / n).stat().st_mtime_ns for n in os.listdir(out) if n.startswith("shard-")}
    assert 2 <= len(before) < 20 and not (out / "summary.json").exists()
    rerun = subprocess.run(command, env=_env(temp), capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    after = {n: (out / n).stat().st_mtime_ns for n in os.listdir(out) if n.startswith("shard-")}
    assert len(after) == 20 and all(after[n] == mtime for n, mtime in before.items())  # not rewritten
    _check_folder_job(_rows(out), corpus)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] > 0 and summary["resumed"] + summary["transcribed"] == summary["inputs"]
    assert not [n for n in os.listdir(out) if n.startswith(".tmp-")]
