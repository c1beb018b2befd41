"""Schema 9 (issue 19 §3): the indexed CRL shard key of revocations and the serial
reservations table, on SQLite and PostgreSQL: a store of version 8 upgraded in place
(its revocations' keys backfilled), the key equal to Python's copy for any serial
spelling, and one shard read through the index (EXPLAIN)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from porthos.store import revocations as R
from porthos.store.dialect import PREAMBLE, postgres_schema
from porthos.store.schema import MIGRATION_V9, SCHEMA, SCHEMA_VERSION, statements
from porthos.store.sqlite import Store

CA = "ca-1"
#: The schema of version 8: everything before version 9's migration.
SCHEMA_V8 = SCHEMA[: SCHEMA.index(MIGRATION_V9)].rstrip().rstrip(";")
SERIALS = ["01", "1", "00ff", "7fffffffffffffffffffffffffffffff", "0A0b", "12345", "abcdef"]
META = [("schema_version", "8"), ("env", "nonprod"), ("profile_set", "porthos"),
        ("chain_head", "")]  # fmt: skip


def _fill_v8(conn: Any) -> None:
    conn.execute(
        "INSERT INTO cas (name, env, subject, certificate, key_ref, key_type, parent,"
        " created_at) VALUES (?, 'nonprod', 'CN=x', ?, 'k', 'p256', ?, 1)",
        (CA, b"\x30\x00", CA),
    )
    for i, s in enumerate(SERIALS):
        conn.execute(
            "INSERT INTO revocations (ca_name, serial_hex, revoked_at) VALUES (?, ?, ?)",
            (CA, s, i),
        )


def _check_v9(store: Store) -> None:
    assert store.meta("schema_version") == str(SCHEMA_VERSION)
    rows = store.conn.execute("SELECT serial_hex, shard_key FROM revocations").fetchall()
    assert {str(s): int(k) for s, k in rows} == {s: R.shard_key(int(s, 16)) for s in SERIALS}
    # Inserted after the upgrade: computed by the database too.
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO revocations (ca_name, serial_hex, revoked_at) VALUES (?, 'f0', 9)",
            (CA,),
        )
        conn.execute(
            "INSERT INTO serial_reservations (ca_name, serial_hex, batch, reserved_at)"
            " VALUES (?, '01', 'b', 1)",
            (CA,),
        )
    key = store.conn.execute("SELECT shard_key FROM revocations WHERE serial_hex = 'f0'")
    assert int(key.fetchone()[0]) == R.shard_key(0xF0)


def test_sqlite_v8_store_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "porthos.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in statements(SCHEMA_V8):
        conn.execute(statement)
    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", META[:3])
    _fill_v8(conn)
    conn.close()
    with Store.open(path) as store:
        _check_v9(store)


@pytest.mark.postgresql
def test_postgresql_v8_store_upgraded(pg_server: Any, pg_url: str) -> None:
    import psycopg
    from porthos.store.postgres import PostgresStore

    with psycopg.connect(pg_url, password=pg_server.password(), autocommit=True) as conn:
        conn.execute(PREAMBLE)
        for statement in postgres_schema(list(statements(SCHEMA_V8))):
            conn.execute(statement)
        conn.cursor().executemany("INSERT INTO meta (key, value) VALUES (%s, %s)", META)
        _fill_v8(_Qmark(conn))
    store = PostgresStore.open_at(pg_url, pg_url, password=pg_server.password())
    try:
        _check_v9(store)
    finally:
        store.close()


class _Qmark:
    """A psycopg connection taking the store's ``?`` placeholders (the V8 fill)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Any = ()) -> Any:
        return self.conn.execute(sql.replace("?", "%s"), args)


@settings(max_examples=60, deadline=None)
@given(serial=st.integers(0, (1 << 159) - 1), width=st.integers(0, 4), upper=st.booleans())
def test_sqlite_key_equals_python(serial: int, width: int, upper: bool) -> None:
    """Any spelling (leading zeros, upper case, shorter than 4 digits): the database's
    key is the low 16 bits reversed, and the shard's key range holds it."""
    text = format(serial, "x").zfill(width)
    text = text.upper() if upper else text
    conn = sqlite3.connect(":memory:")
    for statement in statements(SCHEMA):
        conn.execute(statement)
    conn.execute("INSERT INTO cas VALUES ('c', 'e', 's', x'', 'k', 't', 'c', 1, 1, 'active')")
    conn.execute("INSERT INTO revocations (ca_name, serial_hex, revoked_at) VALUES ('c', ?, 1)",
                 (text,))  # fmt: skip
    key = int(conn.execute("SELECT shard_key FROM revocations").fetchone()[0])
    assert key == R.shard_key(serial)
    for shards in (2, 16, 64, 2048):
        lo, hi = R.shard_key_range(serial % shards, shards)  # type: ignore[misc]
        assert lo <= key < hi


def _plan_sqlite(store: Store) -> str:
    rows = store.conn.execute(
        "EXPLAIN QUERY PLAN SELECT serial_hex " + R.SHARD_ROWS_SQLITE, (CA, 0, 1024, 1 << 62)
    ).fetchall()
    return " ".join(str(r[-1]) for r in rows)


def test_sqlite_shard_read_uses_the_index(tmp_path: Path) -> None:
    path = tmp_path / "porthos.sqlite"
    with Store.create(path, env="nonprod", profile_set="porthos") as store:
        with store.transaction() as conn:
            _fill_v8(conn)
        plan = _plan_sqlite(store)
    assert "USING INDEX revocations_shard (ca_name=? AND shard_key>? AND shard_key<?)" in plan
    assert "USING INTEGER PRIMARY KEY (rowid=?)" in plan  # the rows by rowid, in order


@pytest.mark.postgresql
def test_postgresql_shard_read_uses_the_index(pg_server: Any, pg_url: str) -> None:
    """20,000 revocations, analysed: the planner reads one shard of 64 through the
    index on (ca_name, shard_key), not a scan of the table."""
    from porthos.store.postgres import PostgresStore
    from porthos.store.sqlite import CaRow

    store = PostgresStore.create_at(pg_url, pg_url, env="nonprod", profile_set="porthos",
                                    password=pg_server.password())  # fmt: skip
    try:
        store.add_cas([CaRow(CA, "nonprod", "CN=x", b"\x30\x00", "k", "p256", CA, 1)])
        rows = [(CA, format(i * 7919 + 1, "032x"), i, None, None, "t") for i in range(20_000)]
        with store.transaction() as conn:
            R.insert_revocations(conn, [R.NewRevocation(*r) for r in rows])
        store.conn.execute("ANALYZE revocations")
        lo, hi = R.shard_key_range(5, 64)  # type: ignore[misc]
        plan = "\n".join(
            str(r[0])
            for r in store.conn.execute(
                "EXPLAIN SELECT serial_hex " + R.SHARD_ROWS, (CA, lo, hi, 1 << 62)
            ).fetchall()
        )
        assert "revocations_shard" in plan and "Seq Scan" not in plan, plan
        got = store.conn.execute("SELECT count(*) " + R.SHARD_ROWS, (CA, lo, hi, 1 << 62))
        assert int(got.fetchone()[0]) == sum(1 for r in rows if int(r[1], 16) % 64 == 5)
    finally:
        store.close()
