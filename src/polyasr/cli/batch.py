"""`polyasr batch`: transcribe a folder, a glob or a manifest on Ray, resumably, into Parquet or JSONL shards.

    polyasr batch "recordings/**/*.mp3" --output out/ --language detect
    polyasr batch manifest.jsonl --output s3://bucket/asr/ --ray auto --gpus-per-worker 0.5
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys

from .args import check_output_folder, non_negative_float, positive_float, positive_int
from .decoder import add_decoder_arguments, decoder_options
from .groups import add_language_arguments, add_ray_argument, add_runtime_arguments, add_window_arguments, \
    batch_options, ray_address, runtime_options, vad_options, window_options
from ..batch.options import FORMATS, BatchJobOptions, ClusterOptions
from ..decoding.native_output import native_stderr_kept

_JOB, _CLUSTER = BatchJobOptions(), ClusterOptions()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `polyasr batch`; raises ImportError when Ray Data is not installed."""
    for module in ("ray", "pyarrow"):
        if importlib.util.find_spec(module) is None:
            raise ImportError(f"No module named '{module}'; pip install 'polyasr[ray]'")
    parser.add_argument("inputs", help="a folder, a glob such as 'audio/**/*.mp3' (quoted), or a manifest "
                        "(.jsonl, .csv, .parquet with id, audio, optional language); local or s3://, gs://, ...")
    parser.add_argument("--output", "-o", required=True, help="folder or URL for the shards and summary.json (rerun to resume)")
    parser.add_argument("--format", default=_JOB.output_format, choices=FORMATS, help="shard file format")
    add_language_arguments(parser, language_help="for inputs without a language: 'auto', 'detect', 'multi' (per segment), or a code, e.g. de",
                           candidates_help="with --language detect: choose among these, e.g. de,fr,it")
    parser.add_argument("--word-timestamps", action="store_true", help="keep words with start, end and score in each segment")
    add_ray_argument(parser, help="join the Ray cluster at ADDRESS ('auto', host:6379, ray://host:10001); "
                                  "default (or --ray alone): start a local Ray instance")
    parser.add_argument("--actors", type=positive_int, default=_CLUSTER.actors, help="model replicas (Ray actors)")
    parser.add_argument("--gpus-per-worker", type=non_negative_float, default=_CLUSTER.gpus_per_actor,
                        help="GPUs per model replica; fractions share a GPU (0.5: two per GPU); 0: CPU replicas")
    parser.add_argument("--cpus-per-worker", type=non_negative_float, default=_CLUSTER.cpus_per_actor,
                        help="CPUs reserved per model replica (its torch threads on CPU)")
    parser.add_argument("--num-cpus", type=positive_int, default=None, help="CPUs of the local Ray instance (default: this machine's)")
    parser.add_argument("--object-store-mb", type=positive_int, default=None, help="object store of the local Ray instance")
    parser.add_argument("--shards", type=positive_int, default=None, help="output shards (default: one per 1000 inputs; kept on reruns)")
    parser.add_argument("--files-per-batch", type=positive_int, default=_JOB.files_per_batch, help="inputs per decode task and model call")
    parser.add_argument("--inline-seconds", type=positive_float, default=_JOB.inline_seconds,
                        help="longer inputs are streamed by the model replica instead of decoded ahead (bounds memory)")
    add_window_arguments(parser)
    add_runtime_arguments(parser, model_help="Hub id or folder every node can reach (default: $POLYASR_MODEL or "
                                             "voidful/wav2vec2-xlsr-multilingual-56)",
                          device_help="per replica: auto (cuda with --gpus-per-worker, else cpu), cpu, cuda",
                          threads_help="torch threads per replica (default: --cpus-per-worker)")
    parser.add_argument("--verbose", "-v", action="store_true", help="show Ray's own logs and progress bars")
    add_decoder_arguments(parser)


def options_from(args: argparse.Namespace) -> tuple[BatchJobOptions, ClusterOptions]:
    """The job and cluster options of parsed `batch` arguments."""
    from ..options import TranscribeOptions

    job = BatchJobOptions(
        model=args.model,
        transcribe=TranscribeOptions(language=args.language, word_timestamps=args.word_timestamps, windows=window_options(args),
                                     vad=vad_options(args), language_candidates=args.candidates,
                                     decoder=decoder_options(args)),
        runtime=runtime_options(args), batch=batch_options(args), output_format=args.format, shards=args.shards,
        files_per_batch=args.files_per_batch, inline_seconds=args.inline_seconds,
    )
    cluster = ClusterOptions(
        address=ray_address(args), actors=args.actors, gpus_per_actor=args.gpus_per_worker,
        cpus_per_actor=args.cpus_per_worker, local_cpus=args.num_cpus, object_store_mb=args.object_store_mb,
        verbose=args.verbose,
    )
    return job, cluster


# Ray's note on every run: the actor pool's constructor arguments sit in the object store and actors may restart
RAY_ACTOR_NOTE = re.compile(r"core_worker\.cc:\d+: Actor with class name: .* has constructor arguments in the object store")


def _replay(native: list[str]) -> None:
    """What Ray's native code printed during the job, less its routine actor note."""
    for line in "".join(native).splitlines():
        if line.strip() and not RAY_ACTOR_NOTE.search(line):
            print(line, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run the job with a progress bar; print the summary. 0 when every input has its row (failed ones too)."""
    from tqdm import tqdm

    from ..batch.pipeline import run_batch
    from ..batch.summary import BatchProgress

    job, cluster = options_from(args)
    if "://" not in args.output:  # a local folder; URLs are checked by their filesystem when Ray runs
        check_output_folder(args.output, "--output")
    bar: tqdm | None = None

    def show(state: BatchProgress) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=state.total, unit="file", file=sys.stderr, desc="batch")
        bar.set_postfix_str(f"{state.audio_seconds / 3600:.2f} audio h, {state.failed} failed, {state.shards_written} shards")
        bar.update(state.done - bar.n)

    native: list[str] = []
    try:
        with native_stderr_kept(python_stays=True) as native:  # Ray's own C++ log lines (core_worker.cc)
            summary = run_batch(args.inputs, args.output, job, cluster, show)
    except KeyboardInterrupt:
        print(f"polyasr: interrupted; finished shards stay in {args.output}: rerun the same command to finish",
              file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
        _replay(native)
    for row in summary.skipped_rows[:20]:
        print(f"polyasr: warning: skipped {row}", file=sys.stderr)
    for uid, error in summary.first_failures[:10]:
        print(f"polyasr: failed: {uid}: {error}", file=sys.stderr)
    if summary.failed > 10:
        print(f"polyasr: ... {summary.failed - 10} more failures: see the error column", file=sys.stderr)
    for line in summary.lines():
        print(f"polyasr: {line}", file=sys.stderr)
    return 0 if summary.complete else 1
