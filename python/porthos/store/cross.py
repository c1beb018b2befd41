"""Cross-certificates in the store (issue 16): those other CAs issued to ours
(imported, table ``cross_certificates``, schema 7) and the query for those our CAs
issued (ordinary ``certificates`` rows whose profile is a cross profile). The only SQL
of cross-certification. Writes run inside the caller's ``Store.transaction()``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "ImportedCross",
    "imported_for",
    "insert_imported",
    "is_issued_cross",
    "issued_with_profiles",
]


class ImportedCross(NamedTuple):
    """A cross-certificate another CA issued to one of ours."""

    ca_name: str
    #: RFC 4514 text of its issuer.
    issuer: str
    serial_hex: str
    not_before: int
    not_after: int
    der: bytes
    issuer_der: bytes
    sha256: str
    #: Its file under W/repository/.
    file: str


def insert_imported(conn: sqlite3.Connection, row: ImportedCross, imported_at: int) -> bool:
    """Store one import; False when this CA already holds that certificate."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO cross_certificates (ca_name, issuer, serial_hex, not_before,"
        " not_after, der, issuer_der, sha256, file, imported_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*row, imported_at),
    )
    return cur.rowcount == 1


def imported_for(conn: sqlite3.Connection, ca_name: str) -> list[ImportedCross]:
    """The cross-certificates imported for a CA, in import order."""
    rows = conn.execute(
        "SELECT ca_name, issuer, serial_hex, not_before, not_after, der, issuer_der, sha256,"
        " file FROM cross_certificates WHERE ca_name = ? ORDER BY rowid",
        (ca_name,),
    ).fetchall()
    return [
        ImportedCross(str(a), str(b), str(c), int(d), int(e), bytes(f), bytes(g), str(h), str(i))
        for a, b, c, d, e, f, g, h, i in rows
    ]


def issued_with_profiles(
    conn: sqlite3.Connection, profiles: Sequence[str], spki_sha256: bytes
) -> list[bytes]:
    """DER of the certificates our CAs issued under ``profiles`` to the key whose SPKI
    hashes to ``spki_sha256`` (a cross profile certifying one of our own CAs)."""
    if not profiles:
        return []
    marks = ",".join("?" * len(profiles))
    rows = conn.execute(
        f"SELECT der FROM certificates WHERE profile IN ({marks}) AND spki_sha256 = ?"
        " ORDER BY rowid",
        (*profiles, spki_sha256),
    ).fetchall()
    return [bytes(r[0]) for r in rows]


def is_issued_cross(
    conn: sqlite3.Connection, ca_name: str, serial_hex: str, profiles: Sequence[str]
) -> bool:
    """Whether CA ``ca_name`` issued ``serial_hex`` under one of the cross ``profiles``
    (a CA certificate for an external CA: revoked with the CA reasons)."""
    if not profiles:
        return False
    marks = ",".join("?" * len(profiles))
    row = conn.execute(
        f"SELECT 1 FROM certificates WHERE ca_name = ? AND serial_hex = ?"
        f" AND profile IN ({marks})",
        (ca_name, serial_hex, *profiles),
    ).fetchone()
    return row is not None
