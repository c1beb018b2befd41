"""The SQL of revocation and CRL publication: revocations, scheduled revocations, CRL
numbers and the CRL schedule's reading of the audit trail (RFC 3647 §4.9).

Every function takes the :class:`~porthos.store.sqlite.Store` (or, for reads inside a
caller's transaction, its connection) and returns named rows. Writes run in the
caller's transaction: the callers put a revocation and its audit record, or a CRL
number and its ``crl.created`` record, into one ``store.transaction()``.
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from porthos.exceptions import StoreIntegrityError
from porthos.store import holds

if TYPE_CHECKING:
    from porthos.store.sqlite import Store

__all__ = [
    "SHARD_KEY_BITS",
    "SHARD_ROWS",
    "SHARD_ROWS_SQLITE",
    "CertificateHit",
    "CrlAllocation",
    "CrlBase",
    "NewRevocation",
    "PublishedCrl",
    "RevocationRow",
    "ScheduledRevocation",
    "allocate_crl",
    "ca_statuses",
    "certificates_with_serial",
    "certificate_expiries",
    "close_scheduled",
    "due_scheduled",
    "insert_revocations",
    "is_revoked",
    "issued_not_before",
    "last_crl_time",
    "last_expiry",
    "last_full_crl",
    "last_published_full_crl",
    "pending_scheduled",
    "revocation_rows",
    "revocations_after",
    "set_every_ca_status",
    "shard_key",
    "shard_key_range",
    "unrevoked_serials",
]

#: Bits of the serial in revocations.shard_key (schema 9): shard counts that are powers
#: of two up to 65,536 read their shard through the index.
SHARD_KEY_BITS = 16

# Hex spellings are chosen by the caller (a serial may sit under several); the queries
# bind them as one IN list, so a query never grows past this many parameters.
_MAX_FORMS = 8

#: Serials bound per query by :func:`certificate_expiries`: under SQLite's limit on
#: bound parameters (999 before 3.32) with room for the CA name.
IN_CHUNK = 500


class CertificateHit(NamedTuple):
    """An issued certificate found by serial."""

    ca_name: str
    serial_hex: str
    subject: str
    not_after: int


class NewRevocation(NamedTuple):
    """A revocation to record (reason None: no reasonCode, RFC 5280 §5.3.1)."""

    ca_name: str
    serial_hex: str
    revoked_at: int
    reason: int | None
    invalidity_date: int | None
    requested_by: str


class RevocationRow(NamedTuple):
    """One recorded revocation, as a CRL lists it."""

    serial_hex: str
    revoked_at: int
    reason: int | None
    invalidity_date: int | None


class ScheduledRevocation(NamedTuple):
    """A revocation recorded for later (the grace period of an early re-key)."""

    rowid: int
    ca_name: str
    serial_hex: str
    reason: int | None
    due_at: int
    requested_by: str
    created_at: int


class CrlAllocation(NamedTuple):
    """A CRL number as allocated: the revocations it covers are this CA's rows up to
    ``revocations_upto`` (``entries`` of them)."""

    number: int
    kind: str
    this_update: int
    revocations_upto: int
    entries: int
    holds_upto: int = 0  # and the holds open at this hold version (store/holds.py)


class CrlBase(NamedTuple):
    """The newest full CRL a delta CRL can refer to (RFC 5280 §5.2.4)."""

    number: int
    revocations_upto: int
    holds_upto: int = 0


class PublishedCrl(NamedTuple):
    """The newest full CRL a CA published (its thisUpdate and coverage)."""

    number: int
    this_update: int
    revocations_upto: int | None
    holds_upto: int | None = None


# -- certificates and revocations -------------------------------------------------------


def ca_statuses(conn: sqlite3.Connection) -> dict[str, str]:
    """CA name -> status ("active", "retired", "terminated")."""
    return {str(n): str(s) for n, s in conn.execute("SELECT name, status FROM cas")}


def certificates_with_serial(
    conn: sqlite3.Connection, forms: Sequence[str], ca_name: str | None = None
) -> list[CertificateHit]:
    """Issued certificates stored under any of the hex spellings ``forms``."""
    if not 0 < len(forms) <= _MAX_FORMS:
        raise ValueError(f"{len(forms)} serial spellings")
    marks = ",".join("?" * len(forms))
    sql = (
        "SELECT ca_name, serial_hex, subject, not_after FROM certificates"
        f" WHERE serial_hex IN ({marks})"
    )
    args: list[object] = list(forms)
    if ca_name is not None:
        sql += " AND ca_name = ?"
        args.append(ca_name)
    return [
        CertificateHit(str(c), str(h), str(s), int(na))
        for c, h, s, na in conn.execute(sql, args).fetchall()
    ]


def certificate_expiries(
    conn: sqlite3.Connection, ca_name: str, serials_hex: Sequence[str]
) -> dict[str, int]:
    """serial_hex -> notAfter of the CA's issued certificates stored under any of
    ``serials_hex`` (exact spellings; absent ones are left out), read in chunks of
    IN_CHUNK serials: one query per chunk, not one per serial."""
    wanted = list(dict.fromkeys(serials_hex))
    out: dict[str, int] = {}
    for lo in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[lo : lo + IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT serial_hex, not_after FROM certificates WHERE ca_name = ?"
            f" AND serial_hex IN ({marks})",
            [ca_name, *chunk],
        ).fetchall()
        out.update((str(h), int(na)) for h, na in rows)
    return out


def is_revoked(conn: sqlite3.Connection, ca_name: str, forms: Sequence[str]) -> bool:
    """Whether the CA recorded a revocation under any of the hex spellings ``forms``."""
    if not 0 < len(forms) <= _MAX_FORMS:
        raise ValueError(f"{len(forms)} serial spellings")
    marks = ",".join("?" * len(forms))
    hit = conn.execute(
        f"SELECT 1 FROM revocations WHERE ca_name = ? AND serial_hex IN ({marks})",
        [ca_name, *forms],
    ).fetchone()
    return hit is not None


def insert_revocations(conn: sqlite3.Connection, rows: Sequence[NewRevocation]) -> list[str]:
    """Record revocations (call inside the transaction that audits them). A revoked
    certificate that was on hold leaves the hold ledger (the revocation replaces the
    hold); returns the serials whose hold it ended."""
    conn.executemany(
        "INSERT INTO revocations (ca_name, serial_hex, revoked_at, reason,"
        " invalidity_date, requested_by) VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    return holds.end_by_revocation(conn, {r.ca_name for r in rows})


def unrevoked_serials(conn: sqlite3.Connection, ca_name: str, now: int) -> list[str]:
    """Serials of the CA's issued certificates that are unexpired at ``now`` and not
    revoked, in issuance order (what a CA termination revokes, RFC 3647 §5.8)."""
    return [
        str(r[0])
        for r in conn.execute(
            "SELECT c.serial_hex FROM certificates c WHERE c.ca_name = ?"
            " AND c.not_after > ? AND NOT EXISTS (SELECT 1 FROM revocations r"
            " WHERE r.ca_name = c.ca_name AND r.serial_hex = c.serial_hex)"
            " ORDER BY c.rowid",
            (ca_name, now),
        )
    ]


def last_expiry(
    conn: sqlite3.Connection, ca_name: str, without_profiles: Sequence[str] = ()
) -> int | None:
    """The latest notAfter of the CA's issued certificates (None: it issued none),
    leaving out those of ``without_profiles``."""
    marks = ",".join("?" * len(without_profiles))
    where = f" AND profile NOT IN ({marks})" if without_profiles else ""
    row = conn.execute(
        f"SELECT MAX(not_after) FROM certificates WHERE ca_name = ?{where}",
        (ca_name, *without_profiles),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def issued_not_before(conn: sqlite3.Connection, ca_name: str, serial_hex: str) -> int | None:
    """The notBefore of a certificate the CA issued (None: not one of its serials)."""
    row = conn.execute(
        "SELECT not_before FROM certificates WHERE ca_name = ? AND serial_hex = ?",
        (ca_name, serial_hex),
    ).fetchone()
    return None if row is None else int(row[0])


def last_crl_time(conn: sqlite3.Connection, ca_name: str) -> int | None:
    """The thisUpdate of the CA's newest CRL number (None: no CRL yet)."""
    row = conn.execute(
        "SELECT max(this_update) FROM crls WHERE ca_name = ?", (ca_name,)
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def set_every_ca_status(conn: sqlite3.Connection, status: str) -> None:
    conn.execute("UPDATE cas SET status = ?", (status,))


def revocation_rows(
    conn: sqlite3.Connection, ca_name: str, upto: int | None = None
) -> list[RevocationRow]:
    """The CA's revocations in recording order; with ``upto`` only those a CRL number
    allocated with that ``revocations_upto`` covers."""
    rows = conn.execute(
        "SELECT serial_hex, revoked_at, reason, invalidity_date FROM revocations"
        " WHERE ca_name = ? AND rowid <= ? ORDER BY rowid",
        (ca_name, (1 << 63) - 1 if upto is None else upto),
    ).fetchall()
    return [RevocationRow(str(a), int(b), c, d) for a, b, c, d in rows]


def shard_key(serial: int) -> int:
    """The ``shard_key`` the database computes for a serial (schema 9): its low
    ``SHARD_KEY_BITS`` bits, reversed. Python's copy, for the tests and benches."""
    low = format(serial % (1 << SHARD_KEY_BITS), f"0{SHARD_KEY_BITS}b")
    return int(low[::-1], 2)


def shard_key_range(shard: int, shards: int) -> tuple[int, int] | None:
    """The ``shard_key`` range [lo, hi) of the serials with serial mod ``shards`` ==
    ``shard`` (the CRL writer's crl_shard_of), when ``shards`` is a power of two from 2
    to 2^SHARD_KEY_BITS: those serials' low log2(N) bits are the shard, which are the
    key's top bits. None for any other count (then every row is read and masked)."""
    if not 2 <= shards <= 1 << SHARD_KEY_BITS or shards & (shards - 1):
        return None
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} of {shards}")
    bits = shards.bit_length() - 1
    top = int(format(shard, f"0{bits}b")[::-1], 2)
    width = 1 << (SHARD_KEY_BITS - bits)
    return top * width, (top + 1) * width


def revocation_text_columns(
    conn: sqlite3.Connection,
    ca_name: str,
    upto: int | None,
    *,
    no_reason: int,
    no_invalidity: int,
    key_range: tuple[int, int] | None = None,
) -> tuple[int, str, NDArray[np.int64], NDArray[np.uint8], NDArray[np.int64]]:
    """``revocation_rows`` as columns, with no Python object per row (issue 20 §1:
    1,000,000 rows took ~5 s as tuples): (count, the serials' hex joined by ',', times,
    reasons with ``no_reason`` for NULL, invalidity dates with ``no_invalidity``).

    SQLite concatenates each column into one string, which numpy (and, for the serials,
    ``_native.serials_from_hex_text``) decode in C. The rowid range scan (``+ca_name``
    keeps SQLite off the (ca_name, serial_hex) index, whose ORDER BY rowid cost a
    temporary B-tree sort) reads the rows in recording order. With ``key_range`` (a CRL
    shard, ``shard_key_range``) only that shard's rows, through the index
    (ca_name, shard_key): a shard reads its share of the table, not all of it."""
    try:
        row = _column_text(conn, ca_name, upto, no_reason, no_invalidity, key_range)
    except sqlite3.DatabaseError as exc:
        raise StoreIntegrityError(f"CA {ca_name}: revocations unreadable: {exc}") from None
    n = int(row[0])
    if n == 0:
        return 0, "", np.zeros(0, np.int64), np.zeros(0, np.uint8), np.zeros(0, np.int64)
    try:
        with warnings.catch_warnings():
            # A damaged value stops the parse early (numpy warns): the length check says so.
            warnings.simplefilter("ignore", DeprecationWarning)
            columns = [np.fromstring(str(text), dtype=np.int64, sep=",") for text in row[2:]]
    except ValueError as exc:
        raise StoreIntegrityError(f"CA {ca_name}: unreadable revocations ({exc})") from None
    if any(len(c) != n for c in columns) or not isinstance(row[1], str):
        raise StoreIntegrityError(f"CA {ca_name}: unreadable revocations (a non-number)")
    times, reasons, invalidity = columns
    return n, row[1], times, reasons.astype(np.uint8), invalidity


#: The FROM/WHERE of one shard's rows of a CA (parameters: ca_name, lo, hi, upto): an
#: index range of (ca_name, shard_key). PostgreSQL reads the rows the index names in
#: table order (a bitmap heap scan). SQLite would fetch them in index order, a random
#: seek each (0.28 s for a shard of 62,000 rows of 1,000,000, no faster than the scan);
#: so the rowids come from the index first, and the rows in rowid order (0.10 s).
#: Tests EXPLAIN both.
SHARD_ROWS = (
    "FROM revocations WHERE ca_name = ? AND shard_key >= ? AND shard_key < ? AND rowid <= ?"
)
SHARD_ROWS_SQLITE = (
    "FROM revocations WHERE rowid IN (SELECT rowid FROM revocations"
    " WHERE ca_name = ? AND shard_key >= ? AND shard_key < ? AND rowid <= ?)"
)


def _column_text(
    conn: sqlite3.Connection,
    ca_name: str,
    upto: int | None,
    no_reason: int,
    no_invalidity: int,
    key_range: tuple[int, int] | None = None,
) -> Any:
    top = (1 << 63) - 1 if upto is None else upto
    postgres = getattr(conn, "dialect", "sqlite") == "postgresql"
    if key_range is not None:
        lo, hi = key_range
        if not 0 <= lo < hi <= 1 << SHARD_KEY_BITS:
            raise ValueError(f"shard key range {key_range!r}")
        where = SHARD_ROWS if postgres else SHARD_ROWS_SQLITE
        args = [ca_name, lo, hi, top]
    else:
        # Every row: the rowid range scan (``+ca_name``, above).
        where = "FROM revocations WHERE +ca_name = ? AND rowid <= ?"
        args = [ca_name, top]
    if postgres:
        # The four aggregates read one row stream, so their items line up whatever its
        # order; the sorted subquery gives recording order (PostgreSQL keeps it in
        # practice, without promising it) at one sort instead of one per ORDER BY inside
        # string_agg (0.20 s against 0.30 s for 100,000 rows).
        return conn.execute(
            "SELECT count(*), string_agg(serial_hex, ','), string_agg(revoked_at::text, ','),"
            " string_agg(coalesce(reason, ?)::text, ','),"
            " string_agg(coalesce(invalidity_date, ?)::text, ',')"
            " FROM (SELECT serial_hex, revoked_at, reason, invalidity_date "
            + where
            + " ORDER BY rowid) AS r",
            [no_reason, no_invalidity, *args],
        ).fetchone()
    return conn.execute(
        "SELECT count(*), group_concat(serial_hex, ','), group_concat(revoked_at, ','),"
        " group_concat(coalesce(reason, ?), ','), group_concat(coalesce(invalidity_date, ?), ',')"
        " FROM (SELECT serial_hex, revoked_at, reason, invalidity_date "
        + where
        + " ORDER BY rowid)",
        [no_reason, no_invalidity, *args],
    ).fetchone()


def revocations_after(conn: sqlite3.Connection, ca_name: str, upto: int | None) -> int:
    """How many of the CA's revocations a CRL covering ``upto`` does not list."""
    row = conn.execute(
        "SELECT COUNT(*) FROM revocations WHERE ca_name = ? AND rowid > ?",
        (ca_name, -1 if upto is None else int(upto)),
    ).fetchone()
    return int(row[0])


# -- scheduled revocations ---------------------------------------------------------------


def _scheduled(rows: list[Any]) -> list[ScheduledRevocation]:
    return [
        ScheduledRevocation(
            int(rowid),
            str(ca),
            str(serial),
            None if reason is None else int(reason),
            int(due_at),
            str(who),
            int(created),
        )
        for rowid, ca, serial, reason, due_at, who, created in rows
    ]


_SCHEDULED_COLUMNS = "rowid, ca_name, serial_hex, reason, due_at, requested_by, created_at"


def due_scheduled(conn: sqlite3.Connection, now: int) -> list[ScheduledRevocation]:
    """Open scheduled revocations whose time has come, oldest first."""
    return _scheduled(
        conn.execute(
            f"SELECT {_SCHEDULED_COLUMNS} FROM scheduled_revocations"
            " WHERE done_at IS NULL AND due_at <= ? ORDER BY due_at, rowid",
            (now,),
        ).fetchall()
    )


def pending_scheduled(conn: sqlite3.Connection) -> list[ScheduledRevocation]:
    """Every open scheduled revocation, due or not, by due time."""
    return _scheduled(
        conn.execute(
            f"SELECT {_SCHEDULED_COLUMNS} FROM scheduled_revocations"
            " WHERE done_at IS NULL ORDER BY due_at, rowid"
        ).fetchall()
    )


def close_scheduled(conn: sqlite3.Connection, rowid: int, now: int) -> None:
    """Mark a scheduled revocation done (carried out, or closed as impossible)."""
    conn.execute("UPDATE scheduled_revocations SET done_at = ? WHERE rowid = ?", (now, rowid))


# -- CRL numbers ----------------------------------------------------------------------------


def allocate_crl(store: Store, ca_name: str, *, this_update: int, kind: str) -> CrlAllocation:
    """Allocate the CA's next CRL number (``Store.next_crl_number``: strictly
    increasing, RFC 5280 §5.2.3) and return what it covers. Joins the caller's
    transaction; the number is committed with it."""
    number = store.next_crl_number(ca_name, this_update=this_update, kind=kind)
    row = store.conn.execute(
        "SELECT kind, this_update, revocations_upto, entries, holds_upto FROM crls"
        " WHERE ca_name = ? AND number = ?",
        (ca_name, number),
    ).fetchone()
    return CrlAllocation(
        number, str(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4] or 0)
    )


def last_full_crl(conn: sqlite3.Connection, ca_name: str) -> CrlBase | None:
    """The CA's newest full CRL whose coverage is known (store schema 3)."""
    row = conn.execute(
        "SELECT number, revocations_upto, holds_upto FROM crls WHERE ca_name = ?"
        " AND kind = 'full' AND revocations_upto IS NOT NULL ORDER BY number DESC LIMIT 1",
        (ca_name,),
    ).fetchone()
    return None if row is None else CrlBase(int(row[0]), int(row[1]), int(row[2] or 0))


def last_published_full_crl(
    conn: sqlite3.Connection, ca_name: str, published_event: str
) -> PublishedCrl | None:
    """The CA's newest full CRL that was published (a successful ``published_event``
    audit record). A number allocated whose CRL was never written does not count.
    Workspaces whose CRLs were written before the audit trail existed fall back on the
    CRL number records."""
    row = conn.execute(
        "SELECT details FROM audit WHERE event = ? AND outcome = 'success'"
        " AND json_extract(details, '$.ca') = ? AND json_extract(details, '$.kind') = 'full'"
        " ORDER BY seq DESC LIMIT 1",
        (published_event, ca_name),
    ).fetchone()
    if row is not None:
        d = json.loads(row[0])
        return PublishedCrl(
            int(d["number"]),
            int(d["this_update"]),
            d.get("revocations_upto"),
            d.get("holds_upto"),
        )
    legacy = conn.execute(
        "SELECT number, this_update, revocations_upto FROM crls WHERE ca_name = ?"
        " AND kind = 'full' ORDER BY number DESC LIMIT 1",
        (ca_name,),
    ).fetchone()
    if legacy is None:
        return None
    return PublishedCrl(int(legacy[0]), int(legacy[1]), legacy[2])
