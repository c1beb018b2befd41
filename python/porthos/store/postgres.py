"""The store on PostgreSQL: the same schema, migrations and queries as on SQLite
(store/dialect.py translates them), for many issuers on many machines sharing one
database (issue 19).

Every state change is one transaction, as on SQLite. SQLite has one writer at a time
(BEGIN IMMEDIATE); here each write transaction starts by locking one row, the audit
chain head (``meta`` key ``chain_head``, ``SELECT ... FOR UPDATE``). Every state change
appends to the one audit chain (RFC 3647 §5.4), so writers had to serialise at the
chain head anyway; locking it first also makes identity values (``rowid``) commit
order, which "revocations with rowid <= revocations_upto" (schema 3) relies on, and
keeps lock order the same in every transaction (no deadlock). The per-CA CRL counter
row is locked FOR UPDATE too (RFC 5280 §5.2.3: CRL numbers strictly increase). Serial
uniqueness is the schema's UNIQUE (ca_name, serial_hex) constraint (RFC 5280 §4.1.2.2).

Credentials never come from the command line or the URL (store/location.py); the
password, when one is given, only travels to libpq as a keyword argument.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from porthos.exceptions import StoreError, StoreIntegrityError, StoreUnavailableError
from porthos.store.dialect import PREAMBLE, postgres_schema
from porthos.store.pg_connection import PgConnection, translate_error
from porthos.store.schema import SCHEMA, SCHEMA_VERSION, statements
from porthos.store.sqlite import TABLES, CertificateParams, Store

if TYPE_CHECKING:
    import sqlite3

    from psycopg_pool import ConnectionPool

__all__ = ["CONNECT_TIMEOUT", "PostgresStore"]

#: Seconds to wait for a connection: a server that is down is one clear error soon,
#: not a hang.
CONNECT_TIMEOUT = 5

_POOLS: dict[str, ConnectionPool[Any]] = {}

# The pool logs each failed connection attempt as a warning (on stderr, with no handler
# configured); the store raises one StoreUnavailableError instead, so keep it quiet.
logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)


def _pool(conninfo: str, password: str | None) -> ConnectionPool[Any]:
    """One pool per database and process: the RA front end and long-running workers
    take and give back connections; a CLI command takes one. Connections are checked
    when taken, so one broken by a server restart is replaced, not handed out."""
    from psycopg_pool import ConnectionPool

    key = conninfo
    pool = _POOLS.get(key)
    if pool is None:
        kwargs: dict[str, Any] = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT}
        if password is not None:
            kwargs["password"] = password
        pool = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=8,
            kwargs=kwargs,
            open=False,
            timeout=CONNECT_TIMEOUT,
            check=ConnectionPool.check_connection,
            name="porthos-store",
        )
        _POOLS[key] = pool
    return pool


@atexit.register
def _close_pools() -> None:
    for pool in _POOLS.values():
        pool.close(timeout=1)
    _POOLS.clear()


def _connect(conninfo: str, where: str, password: str | None) -> PgConnection:
    import psycopg
    import psycopg_pool

    pool = _pool(conninfo, password)
    try:
        if pool.closed:
            # One direct attempt first: a server that is down or refuses the
            # credentials is libpq's one-line reason at once, where the pool would retry
            # in the background until its timeout and then say only "timed out".
            extra: dict[str, Any] = {} if password is None else {"password": password}
            psycopg.connect(conninfo, connect_timeout=CONNECT_TIMEOUT, **extra).close()
            pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        raw = pool.getconn()
    except psycopg_pool.PoolTimeout:
        raise StoreUnavailableError(
            f"the PostgreSQL store {where} is unavailable: no connection within "
            f"{CONNECT_TIMEOUT} s"
        ) from None
    except psycopg.Error as exc:
        raise translate_error(exc, where, password) from None
    return PgConnection(raw, where, password)


class PostgresStore(Store):
    """The store in a PostgreSQL database (its current schema, usually ``public``)."""

    FOR_UPDATE = " FOR UPDATE"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"

    def __init__(self, conn: PgConnection, where: str, conninfo: str) -> None:
        # The store modules use the sqlite3.Connection subset PgConnection provides.
        super().__init__(cast("sqlite3.Connection", conn), Path(where))
        self.where = where
        self._pg = conn
        self._conninfo = conninfo

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One transaction, re-entrant as on SQLite; the first statement takes the
        write lock (the chain-head row), so writers queue here, not at COMMIT."""
        if self._depth:
            self._depth += 1
            try:
                yield self._conn
            finally:
                self._depth -= 1
            return
        self._pg.execute("BEGIN")
        self._depth = 1
        try:
            self._pg.execute("SELECT value FROM meta WHERE key = 'chain_head' FOR UPDATE")
            yield self._conn
        except BaseException:
            self._depth = 0
            if self._pg.in_transaction:
                self._pg.execute("ROLLBACK")
            raise
        self._depth = 0
        self._pg.execute("COMMIT")

    @contextlib.contextmanager
    def row_transaction(self) -> Iterator[sqlite3.Connection]:
        """A transaction that appends no audit record and so does not queue at the
        chain head: it locks only the rows it selects FOR UPDATE (the shard leases,
        store/shard_leases.py, where SKIP LOCKED lets workers pass each other)."""
        if self._depth:
            with self.transaction() as conn:
                yield conn
            return
        self._pg.execute("BEGIN")
        self._depth = 1
        try:
            yield self._conn
        except BaseException:
            self._depth = 0
            if self._pg.in_transaction:
                self._pg.execute("ROLLBACK")
            raise
        self._depth = 0
        self._pg.execute("COMMIT")

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def create_at(
        cls,
        conninfo: str,
        where: str,
        *,
        env: str,
        profile_set: str,
        password: str | None = None,
    ) -> PostgresStore:
        """Create the schema in an empty database (one that holds no porthos store), in
        one transaction."""
        import psycopg

        conn = _connect(conninfo, where, password)
        store = cls(conn, where, conninfo)
        try:
            if store._has_table("meta"):
                raise StoreError(f"{where} already holds a porthos store")
            conn.execute("BEGIN")
            conn.execute(PREAMBLE)
            for statement in postgres_schema(list(statements(SCHEMA))):
                try:
                    conn.raw.execute(statement)
                except psycopg.Error as exc:
                    # One transaction: nothing of the schema stays behind.
                    error = translate_error(exc, where, password)
                    if isinstance(error, StoreUnavailableError):
                        raise error from None
                    raise StoreError(f"{where}: cannot create the store: {error}") from None
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("env", env),
                    ("profile_set", profile_set),
                    ("chain_head", ""),
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            store.close()
            raise
        return store

    @classmethod
    def open_at(cls, conninfo: str, where: str, *, password: str | None = None) -> PostgresStore:
        conn = _connect(conninfo, where, password)
        store = cls(conn, where, conninfo)
        try:
            if not store._has_table("meta"):
                raise StoreError(f"{where} holds no porthos store")
            store._upgrade(store.meta("schema_version"))
            store.check_tables()
        except BaseException:
            store.close()
            raise
        return store

    def _has_table(self, name: str) -> bool:
        row = self._pg.execute("SELECT to_regclass(?) IS NOT NULL", (name,)).fetchone()
        return bool(row and row[0])

    def _migrate(self, schema: str, to: int) -> None:
        with self.transaction() as conn:
            for statement in postgres_schema(list(statements(schema))):
                self._pg.raw.execute(statement)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(to),))

    def check_tables(self) -> None:
        have = {
            str(r[0])
            for r in self._pg.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        }
        missing = sorted(TABLES - have)
        if missing:
            raise StoreIntegrityError(
                f"{self.where}: the store is damaged: table(s) {', '.join(missing)} missing"
            )

    def quick_check(self, tables: Sequence[str] | None = None) -> None:
        """PostgreSQL checks its own pages (data checksums, WAL replay); a damaged page
        is an error on read, which the publication's own reads raise. Nothing to do."""

    def close(self) -> None:
        pool = _POOLS.get(self._conninfo)
        if pool is not None and not self._pg.raw.closed:
            if self._pg.in_transaction and not self._pg.broken:
                self._pg.execute("ROLLBACK")
            pool.putconn(self._pg.raw)
        else:
            self._pg.close()

    def discard(self) -> None:
        """Undo ``create_at`` (a workspace init that failed after it): drop the tables
        and the trigger function in one transaction, then close. Only for a store this
        init made: it deletes every row."""
        try:
            if self._pg.in_transaction:
                self._pg.execute("ROLLBACK")
            self._pg.execute("BEGIN")
            self._pg.raw.execute(f"DROP TABLE IF EXISTS {', '.join(sorted(TABLES))} CASCADE")
            self._pg.raw.execute("DROP FUNCTION IF EXISTS porthos_append_only()")
            self._pg.execute("COMMIT")
        finally:
            self.close()

    @property
    def journal_mode(self) -> str:
        return "postgresql"

    # -- certificates -------------------------------------------------------------------

    def insert_certificate_params(self, ca_name: str, params: Sequence[CertificateParams]) -> int:
        """As on SQLite (a batch is COPY'd: PgConnection.executemany). A duplicate serial
        aborts the transaction on the server, so the error is explained from the
        constraint's own detail instead of another query."""
        import sqlite3

        if any(p[0] != ca_name for p in params):
            raise StoreError(f"a row for another CA in a batch for CA {ca_name}; nothing stored")
        try:
            with self.transaction() as conn:
                conn.executemany(
                    "INSERT INTO certificates (ca_name, serial_hex, subject, profile, not_before,"
                    " not_after, der, issued_at, spki_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    params,
                )
        except sqlite3.IntegrityError as exc:
            serials = [p[1] for p in params]
            if len(set(serials)) != len(serials):
                dup = next(s for s in serials if serials.count(s) > 1)
                raise StoreError(
                    f"serial {dup} appears twice in the batch for CA {ca_name}; nothing stored"
                ) from None
            raise StoreError(
                f"a serial is already issued by CA {ca_name} ({exc}); nothing stored"
            ) from None
        return len(params)
