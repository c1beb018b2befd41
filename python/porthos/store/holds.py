"""The SQL of suspension: the ``holds`` ledger (store schema 6).

A certificate on hold (RFC 5280 §5.3.1 certificateHold) is a ``hold`` row with no later
row for the same certificate; ``release`` and ``revoked`` rows end it. Rows are only
ever added (triggers refuse UPDATE and DELETE), so the rowid is a version: the holds a
CRL listed are those open at its ``holds_upto``, exactly as its revocations are the
rows up to its ``revocations_upto`` (store/revocations.py). That is what lets a delta
CRL see a released hold (removeFromCRL) or a hold replaced by a revocation.

Writes run in the caller's transaction, next to their audit records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import NamedTuple

__all__ = [
    "HoldRow",
    "add_event",
    "changes_after",
    "end_by_revocation",
    "held_at",
    "last_rowid",
    "open_hold",
    "open_holds",
]

# A hold row is open at version H when no row of the same certificate follows it up
# to H (the hold ledger is tiny next to the revocations: this subquery is per hold).
_OPEN_AT = (
    "h.event = 'hold' AND h.rowid <= :upto AND NOT EXISTS (SELECT 1 FROM holds e"
    " WHERE e.ca_name = h.ca_name AND e.serial_hex = h.serial_hex"
    " AND e.rowid > h.rowid AND e.rowid <= :upto)"
)
_COLUMNS = "h.rowid, h.ca_name, h.serial_hex, h.at, h.requested_by"
_MAX = (1 << 63) - 1


class HoldRow(NamedTuple):
    """An open hold: since ``held_at``, requested by ``requested_by``."""

    rowid: int
    ca_name: str
    serial_hex: str
    held_at: int
    requested_by: str


def _rows(cur: sqlite3.Cursor) -> list[HoldRow]:
    return [HoldRow(int(r), str(c), str(s), int(a), str(b)) for r, c, s, a, b in cur]


def add_event(
    conn: sqlite3.Connection, ca_name: str, serial_hex: str, event: str, at: int, by: str
) -> int:
    """Append a ``hold``, ``release`` or ``revoked`` row; returns its rowid."""
    cur = conn.execute(
        "INSERT INTO holds (ca_name, serial_hex, event, at, requested_by) VALUES (?, ?, ?, ?, ?)",
        (ca_name, serial_hex, event, at, by),
    )
    return int(cur.lastrowid or 0)


def open_hold(conn: sqlite3.Connection, ca_name: str, serial_hex: str) -> HoldRow | None:
    """The certificate's open hold, if it is on hold now."""
    rows = _rows(
        conn.execute(
            f"SELECT {_COLUMNS} FROM holds h WHERE h.ca_name = :ca AND h.serial_hex = :s"
            f" AND {_OPEN_AT}",
            {"ca": ca_name, "s": serial_hex, "upto": _MAX},
        )
    )
    return rows[0] if rows else None


def open_holds(conn: sqlite3.Connection) -> list[HoldRow]:
    """Every open hold of every CA, oldest first (the escalation reads them)."""
    return _rows(
        conn.execute(
            f"SELECT {_COLUMNS} FROM holds h WHERE {_OPEN_AT} ORDER BY h.at, h.rowid",
            {"upto": _MAX},
        )
    )


def held_at(conn: sqlite3.Connection, ca_name: str, upto: int | None) -> list[HoldRow]:
    """The CA's holds open at version ``upto`` (None: now), in recording order: the
    certificateHold entries of a CRL allocated with that ``holds_upto``."""
    return _rows(
        conn.execute(
            f"SELECT {_COLUMNS} FROM holds h WHERE h.ca_name = :ca AND {_OPEN_AT}"
            " ORDER BY h.rowid",
            {"ca": ca_name, "upto": _MAX if upto is None else int(upto)},
        )
    )


def last_rowid(conn: sqlite3.Connection, ca_name: str) -> int:
    """The CA's newest hold row (0: none): the ``holds_upto`` of a CRL allocated now."""
    row = conn.execute(
        "SELECT COALESCE(MAX(rowid), 0) FROM holds WHERE ca_name = ?", (ca_name,)
    ).fetchone()
    return int(row[0])


def changes_after(conn: sqlite3.Connection, ca_name: str, upto: int | None) -> int:
    """How many hold events of the CA a CRL covering ``upto`` does not reflect."""
    row = conn.execute(
        "SELECT COUNT(*) FROM holds WHERE ca_name = ? AND rowid > ?",
        (ca_name, -1 if upto is None else int(upto)),
    ).fetchone()
    return int(row[0])


def end_by_revocation(conn: sqlite3.Connection, ca_names: Iterable[str]) -> list[str]:
    """Close the open holds of certificates that were just revoked (a revocation
    replaces a hold: the CRL lists the certificate once, with the revocation's reason).
    Returns their serials. Costs one query over the CA's hold rows, none per revocation."""
    ended: list[str] = []
    for ca in sorted(set(ca_names)):
        rows = conn.execute(
            "SELECT h.serial_hex, r.revoked_at, COALESCE(r.requested_by, '') FROM holds h"
            " JOIN revocations r ON r.ca_name = h.ca_name AND r.serial_hex = h.serial_hex"
            f" WHERE h.ca_name = :ca AND {_OPEN_AT} ORDER BY h.rowid",
            {"ca": ca, "upto": _MAX},
        ).fetchall()
        for serial, at, by in rows:
            add_event(conn, ca, str(serial), "revoked", int(at), str(by))
            ended.append(str(serial))
    return ended
