"""A bulk transaction is durable when it returns (its WAL fsynced) and its WAL
checkpoint runs on a thread of its own (porthos.store.checkpointer, issue 21 §8)."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from pathlib import Path

import pytest
from error_codes import raises_code
from porthos.exceptions import StoreError
from porthos.store.sqlite import WRITEBACK_ROWS, Store
from test_store import _store

ROWS = WRITEBACK_ROWS + 44  # a bulk transaction: past the writeback threshold


def _params(n: int, first: int = 1) -> list[tuple[object, ...]]:
    # issuance's row form (CA name first); 2 KiB a certificate, so the WAL outgrows
    # SQLite's 4 MiB auto-checkpoint threshold only with several batches.
    return [
        ("user-ca-1", f"{i:08x}", f"CN={i}", "user", 10, 20, os.urandom(2048), 15, os.urandom(32))
        for i in range(first, first + n)
    ]


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "porthos-checkpoint"]


def test_bulk_commit_fsyncs_the_wal_and_checkpoints_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    db = tmp_path / "porthos.sqlite"
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    size_before = db.stat().st_size
    store.insert_certificate_params("user-ca-1", _params(ROWS))
    # Durable before the call returned: the WAL itself was fsynced.
    assert str(db) + "-wal" in synced
    # Committed for every other connection at once.
    other = sqlite3.connect(db)
    assert other.execute("SELECT count(*) FROM certificates").fetchone()[0] == ROWS
    other.close()
    # The auto-checkpoint is back for the next transactions.
    assert store.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] > 0
    # The checkpoint copies the rows into the database file, off this thread.
    store._checkpointer.wait()
    assert store._checkpointer.last_error is None
    assert db.stat().st_size > size_before + ROWS * 2048
    store.close()
    assert not _checkpoint_threads()
    reopened = Store.open(db)
    assert reopened.count_certificates() == ROWS
    reopened.close()


def test_small_commits_keep_sqlite_own_checkpointing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    started: list[bool] = []
    monkeypatch.setattr(store._checkpointer, "request", lambda: started.append(True))
    store.insert_certificate_params("user-ca-1", _params(WRITEBACK_ROWS - 1))
    assert not started
    store.insert_certificate_params("user-ca-1", _params(WRITEBACK_ROWS, first=10_000))
    assert started == [True]
    store.close()


def test_requests_while_one_runs_fold_into_one_more(tmp_path: Path) -> None:
    store = _store(tmp_path)
    for k in range(4):  # commits faster than the checkpoints: all frames end up copied
        store.insert_certificate_params("user-ca-1", _params(ROWS, first=1 + k * ROWS))
    store._checkpointer.wait()
    conn = sqlite3.connect(tmp_path / "porthos.sqlite")
    busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    conn.close()
    assert busy == 0 and log == done
    assert store.count_certificates() == 4 * ROWS
    store.close()


def test_wal_that_cannot_be_synced_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing)
    with raises_code(StoreError, "store") as info:
        store.insert_certificate_params("user-ca-1", _params(ROWS))
    assert "committed" in str(info.value) and "WAL" in str(info.value)
    monkeypatch.undo()
    # What was committed is there, and the store goes on.
    assert store.count_certificates() == ROWS
    store.insert_certificate_params("user-ca-1", _params(1, first=100_000))
    store.close()
