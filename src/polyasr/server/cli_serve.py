"""`polyasr serve`: load the model once and serve the HTTP API with uvicorn (one process, one model worker).

    polyasr serve --model voidful/wav2vec2-xlsr-multilingual-56 --host 127.0.0.1 --port 8000 --api-key K

API keys come from `--api-key` (repeatable) or, when none is given, from $POLYASR_API_KEYS
(comma-separated), which keeps them out of the process list.
"""

from __future__ import annotations

import argparse
import logging
import os

from ..decoders.cli import add_decoder_arguments, decoder_options
from ..transcriber import TranscribeOptions
from .options import ServerOptions

API_KEYS_ENV = "POLYASR_API_KEYS"  # comma-separated keys, used when no --api-key is given
_DEFAULTS = ServerOptions()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `polyasr serve`."""
    parser.add_argument("--model", default=None, help="Hub id or local folder (default: $POLYASR_MODEL or voidful/wav2vec2-xlsr-multilingual-56)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port")
    parser.add_argument("--api-key", action="append", default=None, dest="api_keys",
                        help=f"accepted bearer key for /v1/* (repeatable; default: ${API_KEYS_ENV}; none: no authentication)")
    parser.add_argument("--model-alias", default=_DEFAULTS.model_alias, help="model id listed by /v1/models")
    parser.add_argument("--max-upload-mb", type=float, default=_DEFAULTS.max_upload_mb, help="largest upload (413 above)")
    parser.add_argument("--max-audio-seconds", type=float, default=_DEFAULTS.max_audio_seconds, help="longest audio (413 above)")
    parser.add_argument("--timeout-seconds", type=float, default=_DEFAULTS.timeout_seconds, help="time limit per request (408 above)")
    parser.add_argument("--queue-size", type=int, default=_DEFAULTS.queue_size, help="requests waiting for the model at most (503 above)")
    parser.add_argument("--max-batch", type=int, default=_DEFAULTS.max_batch, help="requests transcribed together at most")
    parser.add_argument("--batch-wait-ms", type=float, default=_DEFAULTS.batch_wait_ms, help="wait for more requests to fill a batch")
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N, mps")
    parser.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"], help="model precision")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the model")
    add_decoder_arguments(parser)
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"], help="server log level")


def server_options(args: argparse.Namespace) -> ServerOptions:
    """ServerOptions from parsed `serve` arguments (and $POLYASR_API_KEYS)."""
    keys = args.api_keys
    if not keys:
        keys = [key.strip() for key in os.environ.get(API_KEYS_ENV, "").split(",")]
    return ServerOptions(
        model_alias=args.model_alias, api_keys=tuple(key for key in keys if key), max_upload_mb=args.max_upload_mb,
        max_audio_seconds=args.max_audio_seconds, timeout_seconds=args.timeout_seconds, queue_size=args.queue_size,
        max_batch=args.max_batch, batch_wait_ms=args.batch_wait_ms,
        transcribe=TranscribeOptions(decoder=decoder_options(args)),
    )


def run_serve(args: argparse.Namespace) -> int:
    """Load the model, then serve until interrupted; returns the exit code."""
    import uvicorn

    from ..transcriber import load
    from .app import create_app

    options = server_options(args)  # bad limits fail before the model loads
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    recognizer = load(args.model, device=args.device, dtype=args.dtype, threads=args.threads)
    app = create_app(recognizer, options)
    if not options.api_keys and args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("polyasr.server").warning("listening on %s without API keys: anyone who can reach it may use it", args.host)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
