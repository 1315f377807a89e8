"""What native (C/C++) libraries print on their own: kept off the terminal.

KenLM prints a banner to file descriptor 2 each time it loads an ARPA file ("Loading the LM will be
faster if you build a binary file.", "Reading ...", a row of stars), and Ray's core worker logs a
`core_worker.cc` line about actor constructor arguments on every `polyasr batch` run, below
Python's sys.stderr, where neither `warnings` nor `logging` reaches them. `native_stderr_kept`
redirects the descriptor for the duration of a block and hands back what was written, so a failure
can still show it; with `python_stays`, Python's own sys.stderr (progress bars, messages) keeps
reaching the terminal meanwhile.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import ExitStack, contextmanager, redirect_stderr
from typing import Iterator


@contextmanager
def native_stderr_kept(python_stays: bool = False) -> Iterator[list[str]]:
    """Within the block, whatever is written to file descriptor 2 goes to a temporary file; when the
    block ends (normally or by an exception) the descriptor is restored and the text is appended to
    the yielded list. `python_stays`: sys.stderr writes to the real descriptor 2 meanwhile."""
    kept: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink, ExitStack() as python:
            if python_stays:
                terminal = python.enter_context(os.fdopen(os.dup(saved), "w", buffering=1))
                python.enter_context(redirect_stderr(terminal))
            os.dup2(sink.fileno(), 2)
            try:
                yield kept
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                sink.seek(0)
                kept.append(sink.read().decode("utf-8", errors="replace"))
    finally:
        os.close(saved)
