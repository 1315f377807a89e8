"""Decode slots served smallest upload first: a short request never waits behind a queue of large uploads.

Decoding an upload of undeclared length can take seconds (up to the duration budget); with a FIFO
semaphore, ten such uploads made a 5 s request wait for all of them. Here a free slot goes to the
smallest upload waiting (FIFO among equal sizes), so a small upload waits at most for the decodes
already running. A large upload can wait behind a stream of small ones only as long as small ones
keep coming; its request deadline still bounds the wait (408).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

__all__ = ["SmallestFirst"]


class SmallestFirst:
    """At most `slots` holders at once; waiters are served smallest `size` first. Use from one event loop."""

    def __init__(self, slots: int) -> None:
        self.free = slots  # slots not held now
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []  # (size, arrival, granted)
        self._arrivals = itertools.count()

    @property
    def waiters(self) -> int:
        return sum(not granted.done() for _, _, granted in self._waiting)

    async def acquire(self, size: int) -> None:
        """Wait for a slot; the caller must `release()` it. Cancelled while waiting: nothing is held."""
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (size, next(self._arrivals), granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():  # granted just as the caller gave up: hand it on
                self.release()
            raise

    def release(self) -> None:
        """Give a slot back: to the smallest waiter, else to the pool."""
        while self._waiting:
            _, _, granted = heapq.heappop(self._waiting)
            if not granted.done():
                granted.set_result(None)
                return
        self.free += 1
