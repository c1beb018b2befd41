"""The helper thread of a streamed issuance batch: it runs the Rust stages (parse+verify
of each piece, fill+sign of each screened piece; both release the GIL and use every
core) while the calling thread runs the Python ones (policy, store rows, inserts).

Why not a plain one-worker ThreadPoolExecutor: there the worker runs calls in the
order they were submitted, and the caller could only submit the parse of piece p+1
once it had the parse of piece p back, which it took only after storing piece p-1.
While the caller was inside a long insert the worker ran dry: up to 10 ms of idle
cores per batch at N = 10,000, most of it at the end, where nothing else overlaps.
Here the worker parses ahead on its own, up to ``ahead`` pieces beyond the ones the
caller has taken, and runs a queued sign before the next parse, because a sign is what
the caller's next store waits for.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

__all__ = ["StageWorker", "piece_cuts"]

P = TypeVar("P")
S = TypeVar("S")


def piece_cuts(n: int, piece: int, last: int, first: int | None = None) -> list[int]:
    """Cut points (0, ..., n) of a streamed batch of n requests: pieces of ``piece``,
    then, once 2 * ``piece`` or less is left, halves of what is left until a remainder
    of ``last`` or less, which is the final piece. E.g. n = 10,000, piece = 2,048,
    last = 256: 2048, 2048, 2048, 1928, 964, 482, 241, 241.

    Why the shrinking end: the final piece's store (its rows and SQLite insert, ~6 µs a
    request) runs after the final sign with nothing to overlap it, so it should be
    small; the pieces before it still overlap their store with the next one's sign.

    ``first``: the pieces start at ``first`` and double up to ``piece`` (while more than
    twice the next size is left), e.g. n = 2,000, piece = 512, first = 64, last = 32:
    64, 128, 256, 512, 512, then 264, 132, 66, 33, 17, 16. For a one-thread batch: the first
    parse + screen, which nothing overlaps, is short, and the pieces after it are few,
    so the signer waits less often for the caller's GIL between its calls."""
    if piece < 1 or last < 1 or (first is not None and first < 1):
        raise ValueError("piece, last and first must be at least 1")
    last = min(last, piece)  # no piece is larger than ``piece``
    cuts = [0]
    size = piece if first is None else min(first, piece)
    while size < piece and n - cuts[-1] > 2 * size:
        cuts.append(cuts[-1] + size)
        size = min(2 * size, piece)
    while n - cuts[-1] > 2 * piece:
        cuts.append(cuts[-1] + piece)
    while n - cuts[-1] > last:
        cuts.append(cuts[-1] + (n - cuts[-1] + 1) // 2)
    if cuts[-1] < n:
        cuts.append(n)
    return cuts


_TAKEN: Future[Any] = Future()  # stands in for a parse result handed out
_TAKEN.cancel()


class StageWorker(Generic[P, S]):
    """``parse(p)`` for p in 0..pieces-1, in order and ahead of the caller, plus the
    ``sign`` jobs the caller queues, first come first served but before any parse.

    Use as a context manager: leaving it stops the thread(s) after the job in hand (an
    exception in the caller skips everything not yet started). ``split``: parses on a
    thread of their own (module docstring), signs then never wait behind a parse."""

    def __init__(
        self, parse: Callable[[int], P], pieces: int, ahead: int = 3, *, split: bool = False
    ) -> None:
        if ahead < 1:
            raise ValueError("ahead must be at least 1")
        self._parse = parse
        self._pieces = pieces
        self._ahead = ahead
        self._parsed: list[Future[P]] = [Future() for _ in range(pieces)]
        self._signs: deque[tuple[Future[S], Callable[[], S]]] = deque()
        self._next_parse = 0
        self._taken = 0
        self._closed = False
        self._cond = threading.Condition()
        # (name, runs signs, runs parses) per thread.
        roles = [("porthos-stages", True, not split)]
        if split:
            roles.append(("porthos-verify", False, True))
        self._threads = [
            threading.Thread(target=self._run, args=(signs, parses), name=name, daemon=True)
            for name, signs, parses in roles
        ]
        for thread in self._threads:
            thread.start()

    def parsed(self, p: int) -> P:
        """Piece p's parse result (waits for it); lets the worker parse one more ahead.
        Pieces must be taken in order."""
        if p != self._taken:
            raise ValueError(f"piece {p} taken out of order (expected {self._taken})")
        with self._cond:
            self._taken += 1
            self._cond.notify_all()
        result = self._parsed[p].result()
        # Not kept here: a piece's parse result is freed as soon as the caller is done
        # with it, not all of them at the end of the batch.
        self._parsed[p] = _TAKEN
        return result

    def sign(self, job: Callable[[], S]) -> Future[S]:
        """Queue ``job`` to run before any further parse; its Future carries the result."""
        future: Future[S] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("stage worker is closed")
            self._signs.append((future, job))
            self._cond.notify_all()
        return future

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()
        # Whatever never ran fails loudly rather than leaving a waiter hanging.
        for parsed in self._parsed:
            parsed.cancel()
        for signed, _ in self._signs:
            signed.cancel()

    def __enter__(self) -> StageWorker[P, S]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next_job(self, signs: bool, parses: bool) -> Callable[[], None] | None:
        """The next job of the kinds this thread runs, or None once closed; waits while
        there is none."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                if signs and self._signs:
                    future, job = self._signs.popleft()
                    return functools.partial(_settle, future, job)
                p = self._next_parse
                if parses and p < self._pieces and p < self._taken + self._ahead:
                    self._next_parse += 1
                    parse = functools.partial(self._parse, p)
                    return functools.partial(_settle, self._parsed[p], parse)
                self._cond.wait()

    def _run(self, signs: bool, parses: bool) -> None:
        while (job := self._next_job(signs, parses)) is not None:
            job()


T = TypeVar("T")


def _settle(future: Future[T], job: Callable[[], T]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = job()
    except BaseException as exc:  # handed to the waiter, who re-raises it
        future.set_exception(exc)
    else:
        future.set_result(result)
