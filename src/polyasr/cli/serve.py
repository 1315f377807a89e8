"""`polyasr serve`: load the model once and serve the HTTP API with uvicorn (one process, one model worker).

    polyasr serve --model voidful/wav2vec2-xlsr-multilingual-56 --host 127.0.0.1 --port 8000 --api-key K

API keys come from `--api-key` (repeatable) or, when none is given, from $POLYASR_API_KEYS
(comma-separated), which keeps them out of the process list. Query-string keys are redacted from
the log (logs.py). Every limit of ServerOptions and StreamLimits is an option here.

With `--ray [ADDRESS]` (needs polyasr[serve-ray]) the same app runs as a Ray Serve ingress and the
model on `--replicas N` replicas (or `--min-replicas/--max-replicas`), see server/ray_serve.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
from typing import Any

from .args import non_negative_float, port_number, positive_float, positive_int, resource_amount
from .decoder import add_decoder_arguments, decoder_options
from .groups import RAY_HELP, add_ray_argument, add_runtime_arguments, ray_address, runtime_options
from ..errors import OptionsError
from ..options import TranscribeOptions
from ..server.options import LOOPBACK_NAMES, BatcherOptions, ServerOptions, StreamLimits
from ..server.scaling import ModelSpec, ScalingOptions

API_KEYS_ENV = "POLYASR_API_KEYS"  # comma-separated keys, used when no --api-key is given
_DEFAULTS = ServerOptions()
_STREAMS = StreamLimits()
_SCALING = ScalingOptions()
WS_FRAME_MARGIN = 4096  # bytes a WebSocket frame may exceed the message limit before the protocol refuses it


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `polyasr serve`."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=port_number, default=8000, help="TCP port")
    parser.add_argument("--api-key", action="append", default=None, dest="api_keys",
                        help=f"accepted bearer key for /v1/* (repeatable; default: ${API_KEYS_ENV}; none: no authentication)")
    parser.add_argument("--model-alias", default=_DEFAULTS.model_alias,
                        help="model id listed by /v1/models and shown on the page (default: the model folder's or "
                             "Hub repository's name; xlsr-56 for the default model)")
    parser.add_argument("--max-upload-mb", type=positive_float, default=_DEFAULTS.max_upload_mb, help="largest upload (413 above)")
    parser.add_argument("--max-spool-mb", type=positive_float, default=_DEFAULTS.max_spool_mb,
                        help="request bodies of all uploads in progress (temporary files) at most, in MiB (503 above)")
    parser.add_argument("--max-audio-seconds", type=positive_float, default=_DEFAULTS.max_audio_seconds, help="longest audio (413 above)")
    parser.add_argument("--timeout-seconds", type=positive_float, default=_DEFAULTS.timeout_seconds, help="time limit per request (408 above)")
    parser.add_argument("--queue-size", type=positive_int, default=_DEFAULTS.batcher.queue_size, help="requests waiting for the model at most (503 above)")
    parser.add_argument("--max-queued-audio-seconds", type=positive_float, default=_DEFAULTS.batcher.max_queued_audio_seconds,
                        help="audio of waiting and running requests at most (503 above; at least --max-audio-seconds)")
    parser.add_argument("--decode-slots", type=positive_int, default=_DEFAULTS.decode_slots, help="uploads decoded at once at most")
    parser.add_argument("--upload-timeout-seconds", type=positive_float, default=_DEFAULTS.upload_timeout_seconds,
                        help="time for a request body to arrive (408 and the connection closed above)")
    parser.add_argument("--max-connections", type=positive_int, default=_DEFAULTS.max_connections,
                        help="requests and streams in progress at most (503 above; /health and /metrics always answered)")
    parser.add_argument("--keep-alive-seconds", type=positive_float, default=_DEFAULTS.keep_alive_seconds,
                        help="idle keep-alive connections are closed after this")
    parser.add_argument("--allowed-hosts", action="append", default=None,
                        help="names clients may reach the server by (the Host header; others get 400/403, against DNS "
                             "rebinding), comma-separated or repeated, e.g. asr.example.com ('*.example.com': subdomains; "
                             "'*': any; default: the --host address, and localhost, 127.0.0.1, ::1 on loopback)")
    parser.add_argument("--header-timeout-seconds", type=positive_float, default=_DEFAULTS.header_timeout_seconds,
                        help="a connection's request line and headers must arrive within this (closed otherwise)")
    parser.add_argument("--max-header-kb", type=positive_float, default=_DEFAULTS.max_header_kb,
                        help="request line and headers at most, in KiB (431 above)")
    parser.add_argument("--max-sockets", type=positive_int, default=_DEFAULTS.max_sockets,
                        help="open TCP connections at most; beyond, the one idle longest is closed")
    parser.add_argument("--shutdown-timeout-seconds", type=positive_float, default=_DEFAULTS.shutdown_timeout_seconds,
                        help="on SIGTERM, requests in progress may finish within this; streams are closed with 1012")
    parser.add_argument("--cors-origins", action="append", default=None,
                        help="other web origins whose pages may call the API, comma-separated or repeated, e.g. "
                             "https://app.example.com ('*': any; default: only the server's own page)")
    parser.add_argument("--max-streams", type=positive_int, default=_STREAMS.max_streams, help="WebSocket streams at once at most (close 1013 above)")
    parser.add_argument("--stream-message-kb", type=positive_float, default=_STREAMS.message_kb, help="largest WebSocket message in KiB (close 1009 above)")
    parser.add_argument("--stream-backlog-seconds", type=positive_float, default=_STREAMS.backlog_seconds,
                        help="audio a stream may have waiting to be decoded (close 1013 above)")
    parser.add_argument("--stream-idle-seconds", type=positive_float, default=_STREAMS.idle_seconds,
                        help="a stream that sends nothing this long is closed (1001)")
    parser.add_argument("--stream-auth-seconds", type=positive_float, default=_STREAMS.auth_seconds,
                        help="a stream must send its API key within this, before it takes a stream slot (1008)")
    parser.add_argument("--stream-max-seconds", type=positive_float, default=_STREAMS.max_seconds, help="a stream is closed this long after it opened (1008)")
    parser.add_argument("--max-batch", type=positive_int, default=_DEFAULTS.batcher.max_batch, help="requests transcribed together at most")
    parser.add_argument("--batch-wait-ms", type=non_negative_float, default=_DEFAULTS.batcher.batch_wait_ms, help="wait for more requests to fill a batch")
    add_runtime_arguments(parser, batch_seconds=False)
    add_decoder_arguments(parser)
    ray = parser.add_argument_group("Ray Serve (polyasr[serve-ray]): the same API, the model on replicas")
    add_ray_argument(ray, help=f"serve through Ray Serve on {RAY_HELP}")
    ray.add_argument("--replicas", type=positive_int, default=None, help=f"model replicas (default {_SCALING.replicas})")
    ray.add_argument("--min-replicas", type=positive_int, default=None, help="autoscaling: fewest model replicas")
    ray.add_argument("--max-replicas", type=positive_int, default=None, help="autoscaling: most model replicas")
    ray.add_argument("--target-ongoing-requests", type=positive_float, default=_SCALING.target_ongoing_requests,
                     help="autoscaling: requests in progress per replica to aim at")
    ray.add_argument("--replica-cpus", type=positive_float, default=_SCALING.replica_cpus,
                     help="CPUs each replica reserves (its torch threads unless --threads)")
    ray.add_argument("--replica-gpus", type=non_negative_float, default=_SCALING.replica_gpus,
                     help="GPUs each replica reserves (with --device cuda; 0.5: two replicas per GPU)")
    ray.add_argument("--replica-resource", type=resource_amount, action="append", default=None, metavar="NAME=AMOUNT",
                     dest="replica_resource", help="a custom Ray resource each replica reserves (repeatable): replicas "
                     "go to the nodes started with it, e.g. asr_slot=1 on nodes with --resources '{\"asr_slot\": 1}'")
    ray.add_argument("--upscale-delay-seconds", type=positive_float, default=_SCALING.upscale_delay_seconds,
                     help="autoscaling: demand above the target this long adds replicas")
    ray.add_argument("--downscale-delay-seconds", type=positive_float, default=_SCALING.downscale_delay_seconds,
                     help="autoscaling: demand below the target this long removes replicas")
    ray.add_argument("--scaling-look-back-seconds", type=positive_float, default=_SCALING.look_back_seconds,
                     help="autoscaling: requests in progress are averaged over this window")
    ray.add_argument("--ray-cpus", type=positive_int, default=None, help="logical CPUs of a new local Ray instance")
    parser.add_argument("--log-format", default="text", choices=["text", "json"], help="log lines as text or one JSON object each")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"], help="server log level")


def default_hosts(host: str) -> tuple[str, ...]:
    """The Host names allowed by default: the bound address, and the loopback names on loopback; any for 0.0.0.0/::."""
    if host in ("0.0.0.0", "::", ""):
        return ("*",)  # every interface: its names are unknown here (run_serve warns; use --allowed-hosts)
    if host in LOOPBACK_NAMES:
        return LOOPBACK_NAMES
    return (host,)


def server_options(args: argparse.Namespace) -> ServerOptions:
    """ServerOptions from parsed `serve` arguments (and $POLYASR_API_KEYS)."""
    keys = args.api_keys
    if not keys:
        keys = [key.strip() for key in os.environ.get(API_KEYS_ENV, "").split(",")]
    origins = [origin.strip() for value in args.cors_origins or [] for origin in value.split(",")]
    hosts = [host.strip() for value in args.allowed_hosts or [] for host in value.split(",") if host.strip()]
    return ServerOptions(
        model_alias=args.model_alias, api_keys=tuple(key for key in keys if key), max_upload_mb=args.max_upload_mb, max_spool_mb=args.max_spool_mb,
        max_audio_seconds=args.max_audio_seconds, timeout_seconds=args.timeout_seconds, decode_slots=args.decode_slots,
        upload_timeout_seconds=args.upload_timeout_seconds, max_connections=args.max_connections,
        keep_alive_seconds=args.keep_alive_seconds, header_timeout_seconds=args.header_timeout_seconds,
        max_header_kb=args.max_header_kb, max_sockets=args.max_sockets, shutdown_timeout_seconds=args.shutdown_timeout_seconds,
        allowed_hosts=tuple(hosts) or default_hosts(args.host), cors_origins=tuple(origin for origin in origins if origin),
        streams=StreamLimits(max_streams=args.max_streams, message_kb=args.stream_message_kb,
                             backlog_seconds=args.stream_backlog_seconds, idle_seconds=args.stream_idle_seconds,
                             max_seconds=args.stream_max_seconds, auth_seconds=args.stream_auth_seconds),
        batcher=BatcherOptions(queue_size=args.queue_size, max_queued_audio_seconds=args.max_queued_audio_seconds,
                               max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms,
                               transcribe=TranscribeOptions(decoder=decoder_options(args))),
    )


def scaling_options(args: argparse.Namespace) -> ScalingOptions | None:
    """ScalingOptions from parsed `serve` arguments; None without --ray (OptionsError for replica options without it)."""
    given = [name for name in ("replicas", "min_replicas", "max_replicas", "ray_cpus", "replica_resource")
             if getattr(args, name) is not None]
    if args.ray is None:
        if given:
            raise OptionsError(f"--{given[0].replace('_', '-')} needs --ray")
        return None
    if args.replicas is not None and args.min_replicas is not None:
        raise OptionsError("give --replicas or --min-replicas/--max-replicas (autoscaling), not both")
    return ScalingOptions(address=ray_address(args), replicas=args.replicas or _SCALING.replicas, min_replicas=args.min_replicas,
                          max_replicas=args.max_replicas, target_ongoing_requests=args.target_ongoing_requests,
                          replica_cpus=args.replica_cpus, replica_gpus=args.replica_gpus, local_cpus=args.ray_cpus,
                          replica_resources=tuple(args.replica_resource or ()),
                          upscale_delay_seconds=args.upscale_delay_seconds, downscale_delay_seconds=args.downscale_delay_seconds,
                          look_back_seconds=args.scaling_look_back_seconds)


def run_ray_serve(args: argparse.Namespace, options: ServerOptions, scaling: ScalingOptions) -> int:
    """Deploy the Ray Serve application and serve until SIGINT or SIGTERM; returns the exit code."""
    import signal
    import threading

    if importlib.util.find_spec("ray.serve") is None or importlib.util.find_spec("grpc") is None:
        raise ImportError("No module named 'ray.serve'; pip install 'polyasr[serve-ray]'")
    from ..server.ray_serve import start_application, stop_application

    runtime = runtime_options(args)
    spec = ModelSpec(args.model, device=runtime.device, dtype=runtime.dtype, threads=runtime.threads)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    owned = start_application(spec, options, scaling, args.host, args.port)
    how = (f"{scaling.min_replicas}-{scaling.max_replicas} replicas (autoscaling)" if scaling.autoscaling
           else f"{scaling.replicas} replica{'s' if scaling.replicas > 1 else ''}")
    print(f"polyasr serve --ray: serving on http://{args.host}:{args.port} with {how}", flush=True)
    try:
        stop.wait()
    finally:
        stop_application(owned)
    return 0


def uvicorn_settings(options: ServerOptions) -> dict[str, Any]:
    """The uvicorn.Config settings that enforce `options`' connection limits (server/http.py)."""
    from ..server.http import uvicorn_settings as settings

    return settings(options, WS_FRAME_MARGIN)


def run_serve(args: argparse.Namespace) -> int:
    """Load the model, then serve until interrupted; returns the exit code."""
    import uvicorn

    from ..recognizer import load
    from ..server.app import create_app
    from ..server.http import GuardedServer
    from ..server.logs import JsonFormatter, redact_root_handlers, uvicorn_log_config

    try:
        options = server_options(args)  # bad limits fail before the model loads
        scaling = scaling_options(args)
    except ValueError as error:
        raise OptionsError(str(error)) from None
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    redact_root_handlers()  # libraries that log through the root logger (websockets at debug level) get no secrets either
    if scaling is not None:
        return run_ray_serve(args, options, scaling)
    runtime = runtime_options(args)
    recognizer = load(args.model, device=runtime.device, dtype=runtime.dtype, threads=runtime.threads)
    app = create_app(recognizer, options)
    if not options.api_keys and args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("polyasr.server").warning("listening on %s without API keys: anyone who can reach it may use it", args.host)
    if options.allowed_hosts == ("*",) and args.host in ("0.0.0.0", "::"):
        logging.getLogger("polyasr.server").warning("any Host header is accepted; name the server's hosts with --allowed-hosts "
                                                    "(against DNS rebinding)")
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level, log_config=uvicorn_log_config(args.log_format == "json"),
                            **uvicorn_settings(options))
    GuardedServer(config).run()
    return 0
