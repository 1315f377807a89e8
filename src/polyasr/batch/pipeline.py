"""`run_batch`: list inputs, skip finished shards, run the Ray Data pipeline, write shards, summarise.

    inputs (Arrow table, driver) -> ray.data.from_arrow
      -> map_batches(decode_batch)             CPU tasks: PyAV decode + soxr resample (short inputs)
      -> map_batches(Transcriber, ActorPool)   one model per actor (num_gpus each, fractions allowed)
      -> iter_batches on the driver            rows grouped by shard; a complete shard is written
                                               atomically (shards.OutputFolder)

Exactly once: an input's row is written only inside its shard's file, and a shard file appears
whole or not at all; a rerun skips the ids in finished files. Ray Data's own checkpointing is not
used. A worker that dies is retried by Ray (a few times); inputs whose batch still failed are run
again one per task, and an input that kills its worker every time gets a row with that error.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
import warnings
from collections import Counter
from dataclasses import replace
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import BatchJobError, ModelLoadError, PolyasrError
from ..model.ctc_model import default_model, load_language_table
from .inputs import InputList, read_inputs
from .options import INPUTS_PER_SHARD, BatchJobOptions, ClusterOptions
from .records import failure_row, rows_to_table
from .shards import SUMMARY_FILE, JobSpec, OutputFolder, shard_of
from .summary import BatchProgress, BatchSummary
from .workers import Transcriber, WorkerOptions, decode_batch

_RETRIES = 3  # Ray retries of a task or actor call whose worker died


def named_absolutely(job: BatchJobOptions) -> BatchJobOptions:
    """The job with its local model folder and language model file named absolutely: workers start
    in other folders (and on other nodes, which must see the same paths)."""
    if job.model and os.path.isdir(job.model):
        job = replace(job, model=os.path.abspath(job.model))
    decoder = job.transcribe.decoder
    if decoder.beam.lm and os.path.exists(decoder.beam.lm):
        decoder = replace(decoder, beam=replace(decoder.beam, lm=os.path.abspath(decoder.beam.lm)))
        job = replace(job, transcribe=replace(job.transcribe, decoder=decoder))
    return job


def run_batch(
    inputs: str | InputList,
    output: str,
    job: BatchJobOptions = BatchJobOptions(),
    cluster: ClusterOptions = ClusterOptions(),
    progress: Callable[[BatchProgress], None] | None = None,
) -> BatchSummary:
    """Transcribe every input into `output` (a folder or URL), resuming what an earlier run left.

    `inputs` is a glob, a folder or a manifest (see `read_inputs`), or an InputList. Returns the
    summary, which is also written to `output`/summary.json. Ctrl-C stops at once: finished shards
    stay, and a rerun with the same arguments finishes the rest.
    """
    started = time.monotonic()
    job = named_absolutely(job)
    if job.model and cluster.address is None and not os.path.isdir(job.model) and _looks_like_path(job.model):
        raise ModelLoadError(f"model folder '{job.model}' does not exist")  # before Ray starts, not in every actor
    _check_language(job)
    listed = read_inputs(inputs) if isinstance(inputs, str) else inputs
    folder = OutputFolder(output)
    folder.remove_temporary()
    spec = folder.claim(JobSpec(job.shards or _default_shards(len(listed.table)), job.output_format, _settings(job)))
    if job.shards is not None and job.shards != spec.shards:
        raise BatchJobError(
            f"{output} was started with {spec.shards} shards, not {job.shards}; rerun without --shards or use a new folder"
        )
    finished = folder.finished()
    table = listed.table.append_column("shard", pa.array(shard_of(listed.table.column("id").to_pylist(), spec.shards)))
    table = table.filter(pc.invert(pc.is_in(table.column("id"), pa.array(sorted(finished.ids), pa.string()))))
    collector = _ShardCollector(folder, table, spec.format, progress)
    try:
        if len(table):
            with _ray_session(cluster):
                _run_rounds(collector, job, cluster)
    finally:
        summary = _summary(listed, folder, finished, collector, time.monotonic() - started)
        folder.write_json(SUMMARY_FILE, summary.to_dict())
    return summary


def _looks_like_path(model: str) -> bool:
    return model.startswith((".", "~", os.sep)) or model.count("/") > 1


def _check_language(job: BatchJobOptions) -> None:
    """A bad --language fails now rather than once per input on the workers (if the driver can read
    the model's language table; where it cannot, or the model has none (adapters, a single-language
    model), the workers' Recognizer decides and reports it per input)."""
    choice = job.transcribe.choice
    if choice.requested is None:
        return
    try:
        table = load_language_table(job.model or default_model())
    except PolyasrError:
        return
    if table is not None:
        table.resolve(choice.requested)


def _default_shards(count: int) -> int:
    return max(1, math.ceil(count / INPUTS_PER_SHARD))


def _settings(job: BatchJobOptions) -> dict[str, str]:
    """The options that change a job's rows: a rerun into the same folder must keep them."""
    return {
        "model": job.model or os.environ.get("POLYASR_MODEL", "") or "(default)",
        "language": str(job.transcribe.choice), "word_timestamps": str(job.transcribe.word_timestamps),
        "transcribe": repr(job.transcribe), "dtype": job.runtime.dtype,
    }


class _ShardCollector:
    """Gathers result rows by shard on the driver and writes each shard once all its rows are in."""

    def __init__(
        self, folder: OutputFolder, pending: pa.Table, output_format: str, progress: Callable[[BatchProgress], None] | None
    ) -> None:
        self.folder, self.format, self.progress = folder, output_format, progress
        self.pending = pending  # id, audio, language, shard of every input this run must do
        shards = pending.column("shard").to_numpy()
        self.expected = Counter(shards.tolist())
        self.parts: dict[int, list[pa.Table]] = {}
        self.seen: set[str] = set()
        self.written = 0
        self.failed = 0
        self.audio_seconds = 0.0
        self.failures: Counter[str] = Counter()
        self.first_failures: list[tuple[str, str]] = []

    def missing(self) -> pa.Table:
        """Inputs without a row yet."""
        return self.pending.filter(pc.invert(pc.is_in(self.pending.column("id"), pa.array(list(self.seen), pa.string()))))

    def complete(self) -> bool:
        return len(self.seen) == len(self.pending)

    def add(self, batch: pa.Table) -> None:
        """Take a batch of rows (with their `shard` column); write every shard it completes."""
        ids = batch.column("id").to_pylist()
        fresh = np.array([uid not in self.seen for uid in ids], dtype=bool)
        if not fresh.all():  # a retried task may deliver rows again: keep the first
            batch = batch.filter(pa.array(fresh))
            ids = batch.column("id").to_pylist()
        self.seen.update(ids)
        errors = batch.column("error").to_pylist()
        for uid, error, kind, duration in zip(ids, errors, batch.column("error_type").to_pylist(), batch.column("duration").to_pylist()):
            if error is None:
                self.audio_seconds += duration or 0.0
                continue
            self.failed += 1
            self.failures[kind or "Error"] += 1
            if len(self.first_failures) < 20:
                self.first_failures.append((uid, error))
        shards = batch.column("shard").to_numpy()
        for index in np.unique(shards).tolist():
            part = batch.filter(pa.array(shards == index))
            self.parts.setdefault(index, []).append(part)
            self.expected[index] -= len(part)
            if self.expected[index] == 0:
                self.folder.write_shard(index, pa.concat_tables(self.parts.pop(index)), self.format)
                self.written += 1
        if self.progress is not None:
            self.progress(BatchProgress(len(self.seen), len(self.pending), self.failed, self.audio_seconds, self.written))


def _run_rounds(collector: _ShardCollector, job: BatchJobOptions, cluster: ClusterOptions) -> None:
    """All inputs; then, one per task, those whose batch was lost; then an error row for what is left."""
    _run_pipeline(collector, collector.missing(), job, cluster)
    if not collector.complete():
        _run_pipeline(collector, collector.missing(), replace(job, files_per_batch=1), cluster)
    left = collector.missing()
    if len(left):
        message = "the worker transcribing this input died each time it was tried (a crash, or killed for lack of memory)"
        rows = [failure_row(uid, audio, message, "WorkerDied") for uid, audio in
                zip(left.column("id").to_pylist(), left.column("audio").to_pylist())]
        collector.add(rows_to_table(rows, {"shard": left.column("shard")}))


def _run_pipeline(collector: _ShardCollector, table: pa.Table, job: BatchJobOptions, cluster: ClusterOptions) -> None:
    import ray
    import ray.data

    table = table.sort_by("shard")  # shards then complete one after another, so few wait on the driver
    per_block = job.files_per_batch * max(1, math.ceil(len(table) / (job.files_per_batch * 2000)))  # <= ~2000 blocks
    blocks = [table.slice(start, per_block) for start in range(0, len(table), per_block)]
    worker = WorkerOptions(
        model=job.model, runtime=job.runtime, batch=job.batch, transcribe=job.transcribe,
        gpus=cluster.gpus_per_actor, cpus=cluster.cpus_per_actor,
    )
    with warnings.catch_warnings():  # Ray 2.60 deprecates per-operator retry limits (removed in 2.64); no other way yet
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        dataset = _dataset(ray.data.from_arrow(blocks), job, cluster, worker)
    try:
        for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
            collector.add(batch)
    except ray.exceptions.RayError as error:
        raise BatchJobError(f"the Ray job failed: {_root_cause(error)}") from error


def _dataset(inputs, job: BatchJobOptions, cluster: ClusterOptions, worker: WorkerOptions):
    """inputs -> decode (CPU tasks) -> Transcriber (actor pool, num_gpus per actor) as a lazy Ray Dataset."""
    from ray.data import ActorPoolStrategy

    decoded = inputs.map_batches(
        decode_batch, batch_format="pyarrow", batch_size=job.files_per_batch,
        fn_kwargs={"inline_seconds": job.inline_seconds}, num_cpus=1, max_retries=_RETRIES,
    )
    return decoded.map_batches(
        Transcriber, batch_format="pyarrow", batch_size=job.files_per_batch,
        compute=ActorPoolStrategy(size=cluster.actors), fn_constructor_kwargs={"options": worker},
        num_cpus=cluster.cpus_per_actor, num_gpus=cluster.gpus_per_actor or None, max_task_retries=_RETRIES,
    )


def _root_cause(error: BaseException) -> str:
    """The worker's own error message: the last polyasr error named in Ray's wrapped traceback, else its last line."""
    text = str(error)
    found = re.findall(r"polyasr\.errors\.\w+: (.+)", text)
    if found:
        return found[-1].strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


class _ray_session:
    """Connect to Ray (a new local instance, or the cluster at `address`) and disconnect afterwards."""

    def __init__(self, cluster: ClusterOptions) -> None:
        self.cluster = cluster
        self.owned = False
        self.levels: dict[str, int] = {}

    def __enter__(self) -> None:
        import ray
        import ray.data

        cluster = self.cluster
        if not cluster.verbose:  # our own progress bar and summary say what matters; restored on exit
            for name in ("ray", "ray.data"):
                self.levels[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(logging.CRITICAL)
        context = ray.data.DataContext.get_current()  # restored on exit
        self.context = (context, context.enable_progress_bars, context.max_errored_blocks)
        context.enable_progress_bars = cluster.verbose
        context.max_errored_blocks = -1  # a lost batch is retried by _run_rounds, not fatal
        if ray.is_initialized():
            return
        quiet = {"log_to_driver": cluster.verbose, "logging_level": logging.INFO if cluster.verbose else logging.CRITICAL}
        try:
            if cluster.address is None:
                needed = math.ceil(cluster.actors * cluster.cpus_per_actor) + 1  # the actors and a decode task
                cpus = cluster.local_cpus or max(os.cpu_count() or 1, needed)
                memory = cluster.object_store_mb * 1024 * 1024 if cluster.object_store_mb else None
                ray.init(address="local", num_cpus=cpus, object_store_memory=memory, include_dashboard=False, **quiet)
            else:
                ray.init(address=cluster.address, **quiet)
        except (OSError, RuntimeError, ValueError) as error:
            where = "a local Ray instance" if cluster.address is None else f"the Ray cluster at {cluster.address}"
            raise BatchJobError(f"cannot start or join {where} ({_root_cause(error)})") from error
        self.owned = True

    def __exit__(self, *exc) -> None:
        import ray

        if self.owned:
            ray.shutdown()
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)
        context, bars, errored = self.context
        context.enable_progress_bars, context.max_errored_blocks = bars, errored


def _summary(listed: InputList, folder: OutputFolder, before, collector: _ShardCollector, wall: float) -> BatchSummary:
    """Counts from the shard files themselves, so an interrupted run reports only what it wrote."""
    after = folder.finished()
    return BatchSummary(
        output=folder.location, inputs=len(listed.table), resumed=len(listed.table) - len(collector.pending),
        transcribed=len(after.ids) - len(before.ids), failed=after.failed - before.failed,
        audio_seconds=after.audio_seconds - before.audio_seconds, wall_seconds=wall, shards_written=collector.written,
        output_files=after.files, output_failed=after.failed, output_audio_seconds=after.audio_seconds,
        failure_types=dict(collector.failures), first_failures=tuple(collector.first_failures),
        skipped_rows=listed.skipped_rows, complete=collector.complete(),
    )
