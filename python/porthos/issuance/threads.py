"""The ``threads`` argument of every batch call, checked before it reaches Rust
(issue 20 §3): ``threads=10**9`` spawned threads until the machine stalled, and
``threads=10**30`` raised pyo3's OverflowError instead of a PorthosError."""

from __future__ import annotations

from porthos.exceptions import BatchArgumentError

__all__ = ["MAX_THREADS", "check_threads"]

#: Equal to ``_native.MAX_THREADS`` (rust/porthos-py/src/threads.rs; a test checks it).
MAX_THREADS = 1024


def check_threads(threads: object) -> int | None:
    """``threads`` itself when it is None or an int in 1..MAX_THREADS, else a
    BatchArgumentError saying what was given."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise BatchArgumentError(f"threads: expected an int or None, got {type(threads).__name__}")
    if not 1 <= threads <= MAX_THREADS:
        raise BatchArgumentError(f"threads: {threads} is outside 1..{MAX_THREADS}")
    return threads
