"""A psycopg 3 connection that speaks the store's SQLite dialect (store/dialect.py).

The store modules (audit.py, revocations.py, holds.py, registry.py ...) are written
against the DB-API subset of ``sqlite3.Connection`` they use: ``execute`` and
``executemany`` with ``?``/``:name`` parameters, cursors that fetch and iterate,
``rowcount``, ``lastrowid``, ``total_changes`` and ``in_transaction``. This class
gives them that over PostgreSQL, so each query is written once.

Errors keep the sqlite3 classes the store modules already catch: a constraint (a
duplicate serial, an append-only trigger) is ``sqlite3.IntegrityError``, any other
database error ``sqlite3.DatabaseError``; a server that is down, restarted or
unreachable is ``StoreUnavailableError`` (code store-unavailable), one line naming the
store URL without credentials.

Bulk inserts (``executemany`` of a plain INSERT with many rows: certificates of a
batch, revocations) go through COPY, one round trip instead of one a row.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from porthos.exceptions import StoreUnavailableError
from porthos.store.dialect import postgres_sql

if TYPE_CHECKING:
    import psycopg

__all__ = ["COPY_ROWS", "PgConnection", "translate_error"]

#: executemany of at least this many rows uses COPY (below it, psycopg's pipelined
#: executemany is as fast and keeps ON CONFLICT clauses working).
COPY_ROWS = 64

_PLAIN_INSERT = re.compile(
    r"INSERT INTO (\w+) \(([\w, ]+)\) VALUES \((\?(?:, \?)*)\)", re.IGNORECASE
)


def translate_error(exc: Exception, where: str, secret: str | None = None) -> Exception:
    """The store's error for a psycopg one (``where``: the URL without credentials).
    ``secret`` (a password) is blanked out of the text, wherever libpq put it."""
    import psycopg

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if secret:
        text = text.replace(secret, "***")
    diag = getattr(exc, "diag", None)
    detail = getattr(diag, "message_detail", None) if diag is not None else None
    if isinstance(exc, psycopg.errors.IntegrityError):
        return sqlite3.IntegrityError(f"{text} ({detail})" if detail else text)
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        return StoreUnavailableError(f"the PostgreSQL store {where} is unavailable: {text}")
    return sqlite3.DatabaseError(text)


class _Cursor:
    """What ``execute`` returns: the rows, fetched (the store's queries return few rows,
    or one row of concatenated columns), ``rowcount`` and ``lastrowid``."""

    __slots__ = ("_rows", "lastrowid", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, lastrowid: int | None) -> None:
        self._rows = iter(rows)
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> tuple[Any, ...] | None:
        return next(self._rows, None)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._rows)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return self._rows


class PgConnection:
    """One psycopg connection in autocommit mode: the store writes BEGIN and COMMIT
    itself, exactly as it does on SQLite (isolation_level=None)."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], where: str, secret: str | None) -> None:
        self.raw = conn
        self.where = where
        self._secret = secret
        self.total_changes = 0

    def _error(self, exc: Exception) -> Exception:
        return translate_error(exc, self.where, self._secret)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        status = self.raw.info.transaction_status
        return status in (TransactionStatus.INTRANS, TransactionStatus.INERROR)

    @property
    def broken(self) -> bool:
        return self.raw.closed or self.raw.broken

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> _Cursor:
        import psycopg

        if sql == "ROLLBACK" and self.broken:
            return _Cursor([], 0, None)  # a lost connection rolled back on the server
        text = postgres_sql(sql)
        inserting = text.startswith("INSERT") and "RETURNING" not in text
        if inserting:
            text += " RETURNING rowid"  # lastrowid, as SQLite gives it
        try:
            cur = self.raw.execute(text, params)
            rows = cur.fetchall() if cur.description is not None else []
        except psycopg.Error as exc:
            raise self._error(exc) from None
        count = max(cur.rowcount, 0)
        self.total_changes += count if not text.startswith("SELECT") else 0
        if inserting:
            return _Cursor([], count, int(rows[0][0]) if rows else None)
        return _Cursor(rows, count, None)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> _Cursor:
        import psycopg

        rows = rows if isinstance(rows, list) else list(rows)
        plain = _PLAIN_INSERT.fullmatch(sql.strip())
        try:
            if plain and len(rows) >= COPY_ROWS:
                table, columns = plain.group(1), plain.group(2)
                with self.raw.cursor() as cur:
                    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                count = len(rows)
            else:
                with self.raw.cursor() as cur:
                    cur.executemany(postgres_sql(sql), rows)
                    count = max(cur.rowcount, 0)
        except psycopg.Error as exc:
            raise self._error(exc) from None
        self.total_changes += count
        return _Cursor([], count, None)

    def close(self) -> None:
        self.raw.close()
