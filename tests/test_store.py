"""store.py: the schema enforces serial uniqueness; a batch is all or nothing; WAL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from error_codes import raises_code
from porthos.exceptions import StoreError
from porthos.store.sqlite import SCHEMA_VERSION, CaRow, CertificateRow, Store


def _store(tmp_path: Path) -> Store:
    store = Store.create(tmp_path / "porthos.sqlite", env="prod", profile_set="porthos")
    store.add_cas(
        [
            CaRow(
                "root-ca-1",
                "prod",
                "CN=Root",
                b"\x30\x00",
                "keys/root.p8",
                "ec-p256",
                "root-ca-1",
                1,
            ),
            CaRow(
                "user-ca-1",
                "prod",
                "CN=User",
                b"\x30\x01",
                "keys/user.p8",
                "ec-p256",
                "root-ca-1",
                1,
            ),
        ]
    )
    return store


def _row(serial: str, profile: str = "user") -> CertificateRow:
    return CertificateRow(serial, f"CN={serial}", profile, 10, 20, bytes.fromhex(serial), 15)


def test_meta_and_wal(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.journal_mode == "wal"
    assert (store.env, store.profile_set, store.meta("schema_version")) == (
        "prod",
        "porthos",
        str(SCHEMA_VERSION),
    )
    store.close()
    reopened = Store.open(tmp_path / "porthos.sqlite")
    assert reopened.journal_mode == "wal"
    assert [c.name for c in reopened.cas()] == ["root-ca-1", "user-ca-1"]
    assert reopened.ca("user-ca-1").parent == "root-ca-1"
    with raises_code(StoreError, "store"):
        reopened.ca("nope")
    reopened.close()


def _undo_v9(conn: sqlite3.Connection) -> None:
    """Back before version 9 (the shard key and serial reservations): a store faked at
    an older version from today's schema."""
    conn.execute("DROP INDEX revocations_shard")
    conn.execute("ALTER TABLE revocations DROP COLUMN shard_key")
    conn.execute("DROP TABLE serial_reservations")


def test_version_4_store_is_migrated_to_6(tmp_path: Path) -> None:
    # Version 5 drops the SPKI-hash index that nothing queried, version 6 adds the hold
    # ledger and the approval tables; a version-4 store (with the index and its rows)
    # opens as version 6 with its rows intact.
    store = _store(tmp_path)
    store.insert_certificates("user-ca-1", [_row("0a"), _row("0b")])
    store.conn.execute("CREATE INDEX certificates_spki ON certificates (spki_sha256)")
    # Back to version 4: without the tables and columns of version 6 (suspension, approvals).
    for undo in (
        "DROP TABLE holds",
        "DROP TABLE approvals",
        "DROP TABLE approval_requests",
        "ALTER TABLE crls DROP COLUMN holds_upto",
    ):
        store.conn.execute(undo)
    _undo_v9(store.conn)
    store.conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    store.close()
    migrated = Store.open(tmp_path / "porthos.sqlite")
    # Through every later migration too (version 7: cross-certificates).
    assert migrated.meta("schema_version") == str(SCHEMA_VERSION)
    tables = {n for (n,) in migrated.conn.execute("SELECT name FROM sqlite_master")}
    assert {"holds", "approvals", "approval_requests"} <= tables
    indexes = {
        name
        for (name,) in migrated.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'certificates'"
        )
    }
    assert "certificates_spki" not in indexes and "certificates_subject" in indexes
    assert migrated.count_certificates() == 2
    migrated.close()


def test_version_6_store_gets_the_cross_certificates_table(tmp_path: Path) -> None:
    # Version 7 (issue 16) adds the imported cross-certificates; a version-6 store
    # opens with the table and its certificates intact.
    store = _store(tmp_path)
    store.insert_certificates("user-ca-1", [_row("0a")])
    store.conn.execute("DROP TABLE cross_certificates")
    _undo_v9(store.conn)
    store.conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    store.close()
    migrated = Store.open(tmp_path / "porthos.sqlite")
    assert int(migrated.meta("schema_version") or 0) >= 7
    tables = {n for (n,) in migrated.conn.execute("SELECT name FROM sqlite_master")}
    assert "cross_certificates" in tables
    assert migrated.count_certificates() == 1
    migrated.close()


def _pragma(store: Store, name: str) -> int:
    return int(store.conn.execute(f"PRAGMA {name}").fetchone()[0])


def test_new_store_has_16k_pages_and_a_4mib_checkpoint_threshold(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert (_pragma(store, "page_size"), _pragma(store, "wal_autocheckpoint")) == (16384, 250)
    store.close()
    reopened = Store.open(tmp_path / "porthos.sqlite")
    assert (_pragma(reopened, "page_size"), _pragma(reopened, "wal_autocheckpoint")) == (
        16384,
        250,
    )
    reopened.close()


def test_store_made_with_4k_pages_keeps_them(tmp_path: Path) -> None:
    # A store from before the 16 KiB default opens with its own page size (SQLite
    # cannot change it in WAL mode) and SQLite's usual 1,000-page checkpoint threshold.
    _store(tmp_path).close()
    path = tmp_path / "porthos.sqlite"
    src = sqlite3.connect(path)
    src.execute("PRAGMA journal_mode=DELETE")
    src.execute("PRAGMA page_size=4096")
    src.execute("VACUUM")
    src.execute("PRAGMA journal_mode=WAL")
    assert int(src.execute("PRAGMA page_size").fetchone()[0]) == 4096
    src.close()
    store = Store.open(path)
    assert (_pragma(store, "page_size"), _pragma(store, "wal_autocheckpoint")) == (4096, 1000)
    assert [c.name for c in store.cas()] == ["root-ca-1", "user-ca-1"]
    store.close()


def test_create_refuses_existing_and_open_refuses_missing(tmp_path: Path) -> None:
    _store(tmp_path).close()
    with raises_code(StoreError, "store"):
        Store.create(tmp_path / "porthos.sqlite", env="prod", profile_set="porthos")
    with raises_code(StoreError, "store"):
        Store.open(tmp_path / "other.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"not a database at all" * 100)
    with raises_code(StoreError, "store"):
        Store.open(tmp_path / "junk.sqlite")


def test_uniqueness_is_in_the_schema(tmp_path: Path) -> None:
    """Bypass the Store API: the UNIQUE constraint itself refuses a second serial."""
    _store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "porthos.sqlite")
    row = ("user-ca-1", "0a", "CN=x", "user", 1, 2, b"\x00", 1, None)
    conn.execute("INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    # No .code (sqlite): the text names the schema's UNIQUE constraint.
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute("INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
    # Same serial under another CA is fine (unique per issuer, RFC 5280 §4.1.2.2).
    conn.execute(
        "INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ("root-ca-1", *row[1:])
    )
    conn.commit()
    # A certificate of an unknown CA is refused too (foreign key).
    conn.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ("nope", *row[1:])
        )
    conn.close()


def test_batch_with_duplicate_serial_stores_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.insert_certificates("user-ca-1", [_row("01"), _row("02")]) == 2
    # Duplicate against the store: the whole batch is rolled back.
    with raises_code(StoreError, "store"):
        store.insert_certificates("user-ca-1", [_row("03"), _row("02"), _row("04")])
    assert store.count_certificates("user-ca-1") == 2
    assert store.certificate("user-ca-1", "03") is None
    # Duplicate inside the batch.
    with raises_code(StoreError, "store"):
        store.insert_certificates("user-ca-1", [_row("05"), _row("06"), _row("05")])
    assert store.count_certificates() == 2
    # The store is still usable after the rollbacks.
    store.insert_certificates("user-ca-1", [_row("05")])
    store.insert_certificates("root-ca-1", [_row("05", "ca")])
    assert store.count_certificates() == 4
    assert store.certificate("user-ca-1", "05") == b"\x05"
    store.close()


def test_params_rows_store_like_certificate_rows(tmp_path: Path) -> None:
    # insert_certificate_params (issuance's form: CA name first, column order) stores
    # the same rows, refuses duplicates the same way, and refuses a row whose CA is
    # not the batch's before anything is written.
    store = _store(tmp_path)
    assert store.insert_certificate_params("user-ca-1", [("user-ca-1", *_row("01"))]) == 1
    with raises_code(StoreError, "store"):
        store.insert_certificate_params(
            "user-ca-1", [("user-ca-1", *_row("02")), ("user-ca-1", *_row("01"))]
        )
    with raises_code(StoreError, "store"):
        store.insert_certificate_params(
            "user-ca-1", [("user-ca-1", *_row("03")), ("root-ca-1", *_row("04"))]
        )
    assert store.count_certificates() == 1
    assert store.certificate("user-ca-1", "01") == b"\x01"
    store.close()


def test_bulk_inserts_start_the_wal_writeback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bulk insert (issuance pieces) asks the kernel to start writing the WAL back
    # (writeback.py); a small one does not bother. The rows are stored either way.
    from porthos.store import sqlite as store_module
    from porthos.store import writeback

    hinted: list[str] = []
    monkeypatch.setattr(writeback, "start_writeback", lambda path: hinted.append(str(path)))
    store = _store(tmp_path)
    small = [("user-ca-1", *_row(f"{i:04x}")) for i in range(store_module.WRITEBACK_ROWS - 1)]
    store.insert_certificate_params("user-ca-1", small)
    assert hinted == []
    bulk = [("user-ca-1", *_row(f"01{i:04x}")) for i in range(store_module.WRITEBACK_ROWS)]
    store.insert_certificate_params("user-ca-1", bulk)
    assert hinted == [f"{store.path}-wal"]
    assert store.count_certificates() == 2 * store_module.WRITEBACK_ROWS - 1
    store.close()


def test_a_bulk_commit_pushes_the_database_file_while_it_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The checkpoint after a transaction that inserted WRITEBACK_ROWS certificates or
    # more (on the checkpointer's thread, store/checkpointer.py) runs with
    # writeback.pushed_while on the database file; smaller ones leave it to SQLite.
    from contextlib import contextmanager

    from porthos.store import sqlite as store_module
    from porthos.store import writeback

    pushed: list[tuple[str, ...]] = []

    @contextmanager
    def recording(*paths: object) -> Iterator[None]:
        pushed.append(tuple(str(p) for p in paths))
        yield

    monkeypatch.setattr(writeback, "pushed_while", recording)
    store = _store(tmp_path)
    half = store_module.WRITEBACK_ROWS // 2 + 1
    with store.transaction():
        store.insert_certificate_params(
            "user-ca-1", [("user-ca-1", *_row(f"{i:04x}")) for i in range(half)]
        )
    assert pushed == []
    with store.transaction():  # two inserts of one transaction add up
        for part in range(2):
            rows = [("user-ca-1", *_row(f"{part + 1:02x}{i:04x}")) for i in range(half)]
            store.insert_certificate_params("user-ca-1", rows)
    store._checkpointer.wait()
    assert pushed == [(str(store.path),)]
    assert store.count_certificates() == 3 * half
    store.close()


def test_unknown_ca_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(StoreError):
        store.insert_certificates("nope-ca", [_row("01")])
    assert store.count_certificates() == 0
    store.close()


def test_counts_by_ca_profile(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.insert_certificates(
        "user-ca-1", [_row("01", "user"), _row("02", "user"), _row("03", "b")]
    )
    store.insert_certificates("root-ca-1", [_row("01", "a")])
    assert store.counts_by_ca_profile() == [
        ("root-ca-1", "a", 1),
        ("user-ca-1", "b", 1),
        ("user-ca-1", "user", 2),
    ]
    store.close()


def test_a_second_connection_sees_committed_batches_only(tmp_path: Path) -> None:
    store = _store(tmp_path)
    reader = Store.open(tmp_path / "porthos.sqlite")
    store.insert_certificates("user-ca-1", [_row("01")])
    assert reader.count_certificates() == 1
    with pytest.raises(StoreError):
        store.insert_certificates("user-ca-1", [_row("02"), _row("01")])
    assert reader.count_certificates() == 1
    reader.close()
    store.close()
