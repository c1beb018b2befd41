"""A bulk transaction's WAL checkpoint, on a thread of its own instead of in its COMMIT.

Why: an issuance batch commits its certificates in one transaction (~12 MB of WAL for
10,000 certificates). With SQLite's auto-checkpoint that COMMIT also copied the WAL's
pages into the database file and fsynced both, 21-33 ms after the last signature with
nothing to overlap it (3-4 % of a 10,000-certificate P-384 batch; issue 21 §8). The
copy into the database file is upkeep, not durability: a transaction is durable once
its WAL frames are on disk (sqlite.org/wal.html), and ``Store.transaction`` fsyncs the
WAL before it returns. So the bulk COMMIT runs without the auto-checkpoint, and this
thread checkpoints on a connection of its own (PASSIVE: it never blocks a writer or a
reader) while the process goes on. ``Store.close`` waits for it, so a process never
exits in the middle of one, and the next small commit past the WAL threshold would
checkpoint anyway if this one could not.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from porthos.store import writeback

__all__ = ["Checkpointer"]


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on ``path`` in the background, once per
    ``request`` (requests made while one runs are folded into one more run)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False
        #: The last checkpoint's error (sqlite3 message), None when it went through.
        self.last_error: str | None = None

    def request(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._again = True
                return
            self._thread = threading.Thread(
                target=self._run, name="porthos-checkpoint", daemon=True
            )
            self._thread.start()

    def wait(self) -> None:
        """Return once no checkpoint runs or is due."""
        while True:
            with self._lock:
                thread = self._thread
            if thread is None:
                return
            thread.join()

    def _run(self) -> None:
        while True:
            self._checkpoint()
            with self._lock:
                if not self._again:
                    self._thread = None
                    return
                self._again = False

    def _checkpoint(self) -> None:
        try:
            conn = sqlite3.connect(str(self._path), isolation_level=None, timeout=60.0)
        except sqlite3.Error as exc:
            self.last_error = str(exc)
            return
        try:
            # The database file's pages go towards the disk while they are copied, so
            # the checkpoint's fsync finds little left to write (writeback.py).
            with writeback.pushed_while(self._path):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.last_error = None
        except sqlite3.Error as exc:  # busy or I/O: the next auto-checkpoint does it
            self.last_error = str(exc)
        finally:
            conn.close()
