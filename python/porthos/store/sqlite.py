"""The repository: SQLite (stdlib sqlite3) in WAL mode, one file ``W/porthos.sqlite``.

Every state change is one transaction, committed before the artefact leaves the process
(ARCHITECTURE "Store"). Serial uniqueness per CA is a schema constraint, not a check
in Python, so no code path can store a duplicate (RFC 5280 §4.1.2.2: the serial is
unique per issuer; RFC 3647 §7.1.3 "unique serial number within issuing CA").
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

from porthos.durable_files import fsync_dir
from porthos.exceptions import StoreError, StoreIntegrityError
from porthos.store import holds, writeback
from porthos.store.checkpointer import Checkpointer
from porthos.store.schema import (
    MIGRATION_V2,
    MIGRATION_V3,
    MIGRATION_V4,
    MIGRATION_V5,
    MIGRATION_V6,
    MIGRATION_V7,
    MIGRATION_V8,
    MIGRATION_V9,
    MIGRATION_V10,
    PAGE_SIZE,
    SCHEMA,
    SCHEMA_VERSION,
    WAL_CHECKPOINT_BYTES,
    statements,
)

__all__ = ["SCHEMA_VERSION", "CaRow", "CertificateRow", "Store"]

#: (from version, script): the migration that takes a store from that version on.
MIGRATIONS = (
    (1, MIGRATION_V2),
    (2, MIGRATION_V3),
    (3, MIGRATION_V4),
    (4, MIGRATION_V5),
    (5, MIGRATION_V6),
    (6, MIGRATION_V7),
    (7, MIGRATION_V8),
    (8, MIGRATION_V9),
    (9, MIGRATION_V10),
)

#: Every table the schema (with its migrations) creates: ``check_tables`` wants them all.
TABLES = frozenset(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", SCHEMA))

# Bulk inserts of at least this many certificates hint the kernel to start writing
# the WAL back (writeback.py); ~1.2 KB of WAL a row, so 256 rows are ~300 KB.
WRITEBACK_ROWS = 256


class CertificateRow(NamedTuple):
    serial_hex: str
    subject: str
    profile: str
    not_before: int
    not_after: int
    der: bytes
    issued_at: int
    #: SHA-256 of the subject's SubjectPublicKeyInfo DER: unique names (RFC 3647 §3.1) and
    #: re-key (§4.7) ask "is this subject held by another key?".
    spki_sha256: bytes | None = None


#: A certificates row in column order, CA name first: what issuance hands to
#: ``insert_certificate_params``. Issuance builds these directly, one per certificate,
#: because a CertificateRow re-packed with its CA name cost ~1 µs a certificate on the
#: one thread that also runs the policy and the SQLite inserts.
CertificateParams = tuple[str, str, str, str, int, int, bytes, int, bytes | None]
#: Positions in CertificateParams.
PARAM_SERIAL: Final = 1
PARAM_SUBJECT: Final = 2
PARAM_DER: Final = 6

_INSERT_CERTIFICATE = (
    "INSERT INTO certificates (ca_name, serial_hex, subject, profile, not_before, not_after,"
    " der, issued_at, spki_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True, slots=True)
class CaRow:
    name: str
    env: str
    subject: str
    certificate: bytes
    key_ref: str
    key_type: str
    parent: str
    created_at: int


class Store:
    """One SQLite connection. Not shared between threads (sqlite3's default check)."""

    #: Appended to a SELECT of a row the transaction will update: nothing on SQLite,
    #: whose BEGIN IMMEDIATE already holds the one write lock; a row lock on PostgreSQL.
    FOR_UPDATE = ""
    #: A row lock that other transactions skip instead of waiting for (PostgreSQL);
    #: SQLite's one writer at a time needs none.
    SKIP_LOCKED = ""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path
        #: How messages name the store (a file here; a URL without credentials on
        #: PostgreSQL).
        self.where = str(path)
        self._depth = 0
        self._bulk_rows = 0  # certificates inserted by the open transaction
        self._checkpointer = Checkpointer(path)

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, for modules that own their tables (ra.py, lifecycle.py,
        audit.py). Writes go inside ``transaction()``."""
        return self._conn

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (a caller's ``transaction()``, or one SQLite
        opened): whoever opened it records its failures."""
        return self._conn.in_transaction

    @contextmanager
    def row_transaction(self) -> Iterator[sqlite3.Connection]:
        """A transaction that appends no audit record (PostgreSQL: one that does not
        queue at the chain head). SQLite has one writer at a time: a plain one."""
        with self.transaction() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: the write lock is taken at once, so
        two processes serialise here instead of failing at COMMIT). Re-entrant: an
        inner ``with`` joins the outer transaction, so a batch and its audit records
        commit or roll back together (issue 6 "Atomicity")."""
        if self._depth:
            self._depth += 1
            try:
                yield self._conn
            finally:
                self._depth -= 1
            return
        self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        self._bulk_rows = 0
        try:
            yield self._conn
        except BaseException:
            self._depth = 0
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        if self._bulk_rows < WRITEBACK_ROWS:
            self._conn.execute("COMMIT")
            return
        self._commit_bulk()

    def _commit_bulk(self) -> None:
        """COMMIT a bulk transaction without the auto-checkpoint, fsync the WAL (the
        transaction is durable when this returns, as the checkpoint's fsync made it
        before), then checkpoint on another thread (checkpointer.py)."""
        pages = self._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        try:
            self._conn.execute("COMMIT")
        finally:
            self._conn.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")
        wal = f"{self.path}-wal"
        try:
            fd = os.open(wal, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_dir(self.path.parent)  # a WAL made by this transaction
        except OSError as exc:
            raise StoreError(
                f"{self.where}: the transaction was committed, but its WAL could not be "
                f"written to disk ({exc.strerror or exc}); a power loss may lose it"
            ) from None
        self._checkpointer.request()

    # -- opening ------------------------------------------------------------------------

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; every write below opens its
        # own BEGIN IMMEDIATE ... COMMIT, so "one transaction per batch" is explicit.
        # timeout: a second process (issue 6 "Concurrency") waits for the write lock
        # instead of failing with "database is locked".
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=60.0)
        # Only takes effect on a new, empty file (before journal_mode writes the
        # header); an existing store keeps the page size it was made with.
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode=WAL")
        # SQLite's auto-checkpoint threshold counts pages; keep it at its default's
        # 4 MiB of WAL whatever the page size, so a bigger page does not postpone
        # checkpoints (and a batch's share of them) to later commits.
        page = int(conn.execute("PRAGMA page_size").fetchone()[0])
        conn.execute(f"PRAGMA wal_autocheckpoint={max(1, WAL_CHECKPOINT_BYTES // page)}")
        conn.execute("PRAGMA foreign_keys=ON")
        # WAL + NORMAL is durable against process crashes; a power loss can only lose
        # the last transactions, never corrupt the file (sqlite.org/wal.html).
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @classmethod
    def create(cls, path: str | Path, *, env: str, profile_set: str) -> Store:
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} already exists")
        conn = cls._connect(path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            # executescript() would COMMIT first; plain execute keeps one transaction.
            for statement in statements(SCHEMA):
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("env", env),
                    ("profile_set", profile_set),
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            path.unlink(missing_ok=True)
            raise
        return cls(conn, path)

    @classmethod
    def open(cls, path: str | Path) -> Store:
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"no store at {path}")
        conn: sqlite3.Connection | None = None
        try:
            conn = cls._connect(path)
            version = cls(conn, path).meta("schema_version")
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            with open(path, "rb") as f:
                sqlite_file = f.read(16) == b"SQLite format 3\x00"
            if sqlite_file:
                raise StoreIntegrityError(f"{path}: the store is damaged: {exc}") from None
            raise StoreError(f"{path} is not a porthos store: {exc}") from None
        store = cls(conn, path)
        store._upgrade(version)
        store.check_tables()
        return store

    def _upgrade(self, version: str | None) -> None:
        """Apply the migrations from ``version`` on (the same chain on every backend)."""
        for have, script in MIGRATIONS:
            if version == str(have):
                self._migrate(script, have + 1)
                version = self.meta("schema_version")
        if version != str(SCHEMA_VERSION):
            self.close()
            raise StoreError(
                f"{self.where}: schema version {version}, this porthos reads {SCHEMA_VERSION}"
            )

    def check_tables(self) -> None:
        """Every table of the schema is there (one query, ~0.1 ms): a dropped table
        made commands fail later with sqlite3 tracebacks (issue 20 §3)."""
        try:
            have = {
                str(r[0])
                for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.DatabaseError as exc:
            raise StoreIntegrityError(f"{self.path}: the store is damaged: {exc}") from None
        missing = sorted(TABLES - have)
        if missing:
            self._conn.close()
            raise StoreIntegrityError(
                f"{self.path}: the store is damaged: table(s) {', '.join(missing)} missing"
            )

    def quick_check(self, tables: Sequence[str] | None = None) -> None:
        """SQLite's structural check (PRAGMA quick_check) of ``tables`` and their indexes,
        or of the whole file: run before a publication, over what it reads, so that a
        damaged b-tree never becomes a CRL. (The whole file is mostly certificates: 1.2 GB
        for a million of them, which a CRL does not read.)"""
        try:
            pragmas = (
                [f"PRAGMA quick_check({t})" for t in tables] if tables else ["PRAGMA quick_check"]
            )
            rows = [row for pragma in pragmas for row in self._conn.execute(pragma).fetchall()]
        except sqlite3.DatabaseError as exc:
            raise StoreIntegrityError(f"{self.path}: the store is damaged: {exc}") from None
        problems = [str(r[0]) for r in rows if str(r[0]) != "ok"][:5]
        if problems:
            raise StoreIntegrityError(f"{self.path}: the store is damaged: {'; '.join(problems)}")

    def _migrate(self, schema: str, to: int) -> None:
        with self.transaction() as conn:
            for statement in statements(schema):
                conn.execute(statement)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(to),))

    def wait_for_checkpoint(self) -> None:
        """Return once the WAL checkpoint a bulk commit started on another thread is
        done (checkpointer.py). Benchmarks call it inside their timed window: the work
        moved off the COMMIT is still the batch's work (and the peers they compare with
        pay their own checkpoints)."""
        self._checkpointer.wait()

    def close(self) -> None:
        self._checkpointer.wait()  # never leave a checkpoint half-way at exit
        self._conn.close()

    def discard(self) -> None:
        """Close a store whose workspace init failed after ``create``: the SQLite file
        is removed with the init's other files; a database store drops what it made."""
        self.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ---------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def env(self) -> str:
        return self.meta("env") or ""

    @property
    def profile_set(self) -> str:
        return self.meta("profile_set") or ""

    @property
    def journal_mode(self) -> str:
        return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    # -- CAs ----------------------------------------------------------------------------

    def add_cas(self, rows: Sequence[CaRow], *, generation: int = 1) -> None:
        """Insert the CAs of a hierarchy in one transaction (all or none)."""
        try:
            with self.transaction() as conn:
                conn.executemany(
                    "INSERT INTO cas (name, env, subject, certificate, key_ref, key_type,"
                    " parent, created_at, generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            r.name,
                            r.env,
                            r.subject,
                            r.certificate,
                            r.key_ref,
                            r.key_type,
                            r.parent,
                            r.created_at,
                            generation,
                        )
                        for r in rows
                    ],
                )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"cannot record CAs: {exc}") from None

    def replace_ca(self, name: str, certificate: bytes, key_ref: str | None = None) -> None:
        """A CA's certificate (and key reference) replaced: an adopted CA, or a
        subordinate CA re-certified under it. Joins the caller's transaction."""
        with self.transaction() as conn:
            sets = "certificate = ?" + ("" if key_ref is None else ", key_ref = ?")
            args: list[object] = [certificate] + ([] if key_ref is None else [key_ref])
            n = conn.execute(f"UPDATE cas SET {sets} WHERE name = ?", [*args, name]).rowcount
        if n != 1:
            raise StoreError(f"no CA {name!r} in the store")

    def cas(self) -> list[CaRow]:
        rows = self._conn.execute(
            "SELECT name, env, subject, certificate, key_ref, key_type, parent, created_at"
            " FROM cas ORDER BY rowid"
        ).fetchall()
        return [CaRow(*r) for r in rows]

    def ca(self, name: str) -> CaRow:
        row = self._conn.execute(
            "SELECT name, env, subject, certificate, key_ref, key_type, parent, created_at"
            " FROM cas WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            raise StoreError(f"no CA {name!r} in the store")
        return CaRow(*row)

    # -- certificates -------------------------------------------------------------------

    def insert_certificates(self, ca_name: str, rows: Iterable[CertificateRow]) -> int:
        """Store one batch in one transaction: every row or none. A serial already used
        by this CA (in the store or twice in the batch) raises StoreError naming it.
        Inside an outer ``transaction()`` the rows commit with it (and its audit
        records); a failure rolls the whole outer transaction back."""
        return self.insert_certificate_params(ca_name, [(ca_name, *r) for r in rows])

    def insert_certificate_params(self, ca_name: str, params: Sequence[CertificateParams]) -> int:
        """``insert_certificates`` for rows already in column order; each must name
        ``ca_name`` first (checked: a row of another CA stores nothing)."""
        if any(p[0] != ca_name for p in params):
            raise StoreError(f"a row for another CA in a batch for CA {ca_name}; nothing stored")
        try:
            with self.transaction() as conn:
                self._bulk_rows += len(params)
                conn.executemany(_INSERT_CERTIFICATE, params)
        except sqlite3.IntegrityError as exc:
            serials = [p[PARAM_SERIAL] for p in params]
            raise StoreError(self._explain(ca_name, serials, exc)) from None
        if len(params) >= WRITEBACK_ROWS:
            # The rows' WAL frames are in the page cache (written as SQLite's cache
            # spills); start them towards the disk now, while the caller still signs,
            # so the WAL's fsync after the COMMIT has less to wait for (writeback.py).
            writeback.start_writeback(f"{self.path}-wal")
        return len(params)

    def _explain(self, ca_name: str, serials: Sequence[str], exc: Exception) -> str:
        seen: set[str] = set()
        for serial in serials:
            if serial in seen:
                return (
                    f"serial {serial} appears twice in the batch for CA {ca_name}; nothing stored"
                )
            seen.add(serial)
        if seen:
            marks = ",".join("?" * min(len(seen), 900))
            hit = self._conn.execute(
                "SELECT serial_hex FROM certificates"
                f" WHERE ca_name = ? AND serial_hex IN ({marks})",
                (ca_name, *list(seen)[:900]),
            ).fetchone()
            if hit is not None:
                return f"serial {hit[0]} already issued by CA {ca_name}; nothing stored"
        return f"cannot store certificates for CA {ca_name}: {exc}; nothing stored"

    def count_certificates(self, ca_name: str | None = None) -> int:
        if ca_name is None:
            row = self._conn.execute("SELECT COUNT(*) FROM certificates").fetchone()
        else:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM certificates WHERE ca_name = ?", (ca_name,)
            ).fetchone()
        return int(row[0])

    def counts_by_ca_profile(self) -> list[tuple[str, str, int]]:
        """(CA, profile, certificates) for `porthos show`, in CA creation order."""
        rows = self._conn.execute(
            "SELECT c.ca_name, c.profile, COUNT(*) FROM certificates c"
            " JOIN cas a ON a.name = c.ca_name"
            " GROUP BY c.ca_name, c.profile ORDER BY MIN(a.rowid), c.profile"
        ).fetchall()
        return [(str(a), str(p), int(n)) for a, p, n in rows]

    def certificate(self, ca_name: str, serial_hex: str) -> bytes | None:
        row = self._conn.execute(
            "SELECT der FROM certificates WHERE ca_name = ? AND serial_hex = ?",
            (ca_name, serial_hex),
        ).fetchone()
        return None if row is None else bytes(row[0])

    # -- revocations and CRL numbers (schema 2) -----------------------------------------

    def add_revocations(
        self,
        ca_name: str,
        rows: Sequence[tuple[str, int, int | None, int | None]],
        *,
        requested_by: str | None = None,
    ) -> int:
        """Record (serial_hex, revoked_at, reason, invalidity_date) rows in one
        transaction. Every serial must have been issued by this CA and not be revoked
        yet; otherwise nothing is stored and the error names the serial. The requester
        is recorded with each row (RFC 3647 §3.4, §4.9.3)."""
        try:
            with self.transaction() as conn:
                for serial_hex, *_ in rows:
                    hit = conn.execute(
                        "SELECT 1 FROM certificates WHERE ca_name = ? AND serial_hex = ?",
                        (ca_name, serial_hex),
                    ).fetchone()
                    if hit is None:
                        raise StoreError(
                            f"serial {serial_hex} was not issued by CA {ca_name}; nothing revoked"
                        )
                conn.executemany(
                    "INSERT INTO revocations (ca_name, serial_hex, revoked_at, reason,"
                    " invalidity_date, requested_by) VALUES (?, ?, ?, ?, ?, ?)",
                    [(ca_name, *r, requested_by) for r in rows],
                )
                holds.end_by_revocation(conn, [ca_name])
        except sqlite3.IntegrityError:
            raise StoreError(
                f"a serial is already revoked (or listed twice) for CA {ca_name}; nothing revoked"
            ) from None
        return len(rows)

    def revocations(
        self, ca_name: str, *, upto: int | None = None
    ) -> list[tuple[str, int, int | None, int | None]]:
        """(serial_hex, revoked_at, reason, invalidity_date) rows; with ``upto`` only
        those a CRL recorded with that ``revocations_upto`` covered."""
        rows = self._conn.execute(
            "SELECT serial_hex, revoked_at, reason, invalidity_date FROM revocations"
            " WHERE ca_name = ? AND rowid <= ? ORDER BY rowid",
            (ca_name, (1 << 63) - 1 if upto is None else upto),
        ).fetchall()
        return [(str(a), int(b), c, d) for a, b, c, d in rows]

    def next_crl_number(
        self,
        ca_name: str,
        *,
        this_update: int,
        entries: int | None = None,
        count: int = 1,
        kind: str = "full",
    ) -> int:
        """Allocate ``count`` consecutive CRL numbers for a CA and commit them before
        returning the first (RFC 5280 §5.2.3: monotonically increasing; a crash after
        this call skips numbers, it never reuses one). In the same transaction the
        numbers record which revocations exist now (store/revocations.py reads them): build the CRL
        from ``revocations(ca, upto=...)`` so that it lists exactly that set."""
        if kind not in ("full", "delta", "shards"):
            raise StoreError(f"unknown CRL kind {kind!r}")
        with self.transaction() as conn:
            upto_row = conn.execute(
                "SELECT COALESCE(MAX(rowid), 0), COUNT(*) FROM revocations WHERE ca_name = ?",
                (ca_name,),
            ).fetchone()
            upto = int(upto_row[0])
            # The holds open now are listed too (certificateHold, store/holds.py).
            held = holds.held_at(conn, ca_name, None)
            holds_upto = holds.last_rowid(conn, ca_name)
            if entries is None:
                entries = int(upto_row[1]) + len(held)
            row = conn.execute(
                "SELECT last_number FROM crl_numbers WHERE ca_name = ?" + self.FOR_UPDATE,
                (ca_name,),
            ).fetchone()
            first = 1 if row is None else int(row[0]) + 1
            last = first + count - 1
            conn.execute(
                "INSERT INTO crl_numbers (ca_name, last_number) VALUES (?, ?)"
                " ON CONFLICT(ca_name) DO UPDATE SET last_number = excluded.last_number",
                (ca_name, last),
            )
            conn.executemany(
                "INSERT INTO crls (ca_name, number, this_update, entries, kind,"
                " revocations_upto, holds_upto) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (ca_name, n, this_update, entries, kind, upto, holds_upto)
                    for n in range(first, last + 1)
                ],
            )
        return first

    def last_crl_number(self, ca_name: str) -> int | None:
        row = self._conn.execute(
            "SELECT last_number FROM crl_numbers WHERE ca_name = ?", (ca_name,)
        ).fetchone()
        return None if row is None else int(row[0])
