"""Start the kernel writing a file's dirty pages to disk now, without waiting for it.

Why: a large issuance batch appends megabytes to the SQLite WAL while the cores verify
and sign, and none of it reaches the disk until the WAL is fsynced after the COMMIT
(about 10 ms for the 12 MB of a 10,000-certificate batch on the development box), a
wait on the one-core tail of the batch. Asking for writeback after each stored piece
lets the disk work while the cores still sign, so that fsync finds little left to do.
The checkpoint (checkpointer.py, on its own thread) then copies the same pages into the
database file and fsyncs that; ``pushed_while`` asks for their writeback from a helper
thread while they are copied.

This is a hint, not durability: the fsyncs happen exactly as before, and losing the
hint (another OS, an old kernel, a filesystem that refuses it) changes only the timing.
It is the same device PostgreSQL's ``*_flush_after`` and RocksDB's ``bytes_per_sync``
use: Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which queues the writes and
returns (man 2 sync_file_range). It takes no data from Python and writes none.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["pushed_while", "start_writeback"]

_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>


def _load() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_sync_file_range = _load()


def start_writeback(path: str | os.PathLike[str]) -> bool:
    """Queue the writeback of all of ``path``'s dirty pages; True when the kernel took
    the request. Never raises: a missing file or an unsupported system is a False."""
    if _sync_file_range is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return _hint(fd)
    finally:
        os.close(fd)


def _hint(fd: int) -> bool:
    assert _sync_file_range is not None
    # offset 0, nbytes 0: from the start to the end of the file.
    return _sync_file_range(fd, 0, 0, _SYNC_FILE_RANGE_WRITE) == 0


@contextmanager
def pushed_while(*paths: str | os.PathLike[str], every: float = 0.001) -> Iterator[None]:
    """While the body runs, a helper thread asks for the writeback of ``paths`` every
    ``every`` seconds. For a body that writes a lot and then fsyncs it inside one C
    call that releases the GIL: SQLite's checkpoint, which copies a batch's
    pages from the WAL into the database file and only then fsyncs it (~6 ms of
    copying, then ~8 ms of waiting for the disk at 12 MB). Pushed as they are copied,
    the pages are mostly on their way when the fsync comes, and the kernel's writeback
    work runs on the helper's core instead of the committing one. No-op where the hint
    is unsupported."""
    if _sync_file_range is None:
        yield
        return
    fds: list[int] = []
    for path in paths:
        try:
            fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            continue  # not there (yet): nothing of it to push
    stop = threading.Event()

    def push() -> None:
        while not stop.wait(every):
            for fd in fds:
                _hint(fd)

    helper = threading.Thread(target=push, name="porthos-writeback", daemon=True)
    helper.start()
    try:
        yield
    finally:
        stop.set()
        helper.join()
        for fd in fds:
            os.close(fd)
