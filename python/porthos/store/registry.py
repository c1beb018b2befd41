"""The RA's registries in the store: manufacturers and the Chip-ID allowlist (000
§3.2.3.1), transaction-IDs (§3.2.3.2), AORs (§3.2.3.3), and the certificate queries of
unique names (§3.1) and type A re-key (§4.7.3). The only SQL of the RA.

Every function takes the store's connection: the RA runs them inside its own
``Store.transaction()``, so a check and the change it guards commit together. Rows come
back named (NamedTuple), never as positional tuples.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import NamedTuple

__all__ = [
    "CertificateHolder",
    "IssuedCertificate",
    "ManufacturerRow",
    "TransactionRow",
    "add_aor_domains",
    "allow_chips",
    "aor_domains",
    "chip_allowed",
    "insert_manufacturer",
    "insert_transaction",
    "is_revoked",
    "is_scheduled_for_revocation",
    "issued_certificate",
    "manufacturer_exists",
    "manufacturers",
    "mark_transaction_used",
    "schedule_revocation",
    "transaction",
    "valid_holders",
]


class ManufacturerRow(NamedTuple):
    """A registered device manufacturer (RFC 3647 §3.2.3.1)."""

    name: str
    root_der: bytes
    issuing_der: bytes
    #: RFC 4514 texts of the issuer DNs a DMC may carry, as registered.
    acceptable_dns: list[str]
    #: The DMC subject attribute that holds the Chip-ID (short name or dotted OID).
    chip_id_attr: str


class TransactionRow(NamedTuple):
    """A transaction-ID's binding (RFC 3647 §3.2.3.2)."""

    csr_sha256: bytes
    expires_at: int
    #: None until the ID was used (single use).
    used_at: int | None


class CertificateHolder(NamedTuple):
    """A valid certificate that holds a subject name (RFC 3647 §3.1)."""

    ca_name: str
    serial_hex: str
    spki_sha256: bytes | None


class IssuedCertificate(NamedTuple):
    """A certificate porthos stored, as type A re-key (RFC 3647 §4.7.3) reads it."""

    serial_hex: str
    subject: str
    profile: str
    not_after: int
    der: bytes


# --------------------------------------------------------------------------------------
# RFC 3647 §3.2.3.1 manufacturers and the Chip-ID allowlist
# --------------------------------------------------------------------------------------


def manufacturer_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM manufacturers WHERE name = ?", (name,)).fetchone()
    return row is not None


def insert_manufacturer(conn: sqlite3.Connection, row: ManufacturerRow, added_at: int) -> None:
    conn.execute(
        "INSERT INTO manufacturers (name, root_der, issuing_der, acceptable_dns,"
        " chip_id_attr, added_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            row.name,
            row.root_der,
            row.issuing_der,
            json.dumps(list(row.acceptable_dns)),
            row.chip_id_attr,
            added_at,
        ),
    )


def manufacturers(conn: sqlite3.Connection) -> list[ManufacturerRow]:
    rows = conn.execute(
        "SELECT name, root_der, issuing_der, acceptable_dns, chip_id_attr FROM manufacturers"
    ).fetchall()
    return [
        ManufacturerRow(str(name), bytes(root), bytes(issuing), list(json.loads(dns)), str(attr))
        for name, root, issuing, dns, attr in rows
    ]


def allow_chips(conn: sqlite3.Connection, chip_ids: Iterable[str], added_at: int) -> int:
    """Add Chip-IDs to the allowlist; returns how many were new."""
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO chip_allowlist (chip_id, added_at) VALUES (?, ?)",
        [(c, added_at) for c in dict.fromkeys(chip_ids)],
    )
    return conn.total_changes - before


def chip_allowed(conn: sqlite3.Connection, chip_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM chip_allowlist WHERE chip_id = ?", (chip_id,)).fetchone()
    return row is not None


# --------------------------------------------------------------------------------------
# RFC 3647 §3.2.3.2 transaction-IDs
# --------------------------------------------------------------------------------------


def insert_transaction(
    conn: sqlite3.Connection,
    transaction_id: str,
    csr_sha256: bytes,
    agent: str,
    created_at: int,
    expires_at: int,
) -> None:
    conn.execute(
        "INSERT INTO transactions (id, csr_sha256, agent, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (transaction_id, csr_sha256, agent, created_at, expires_at),
    )


def transaction(conn: sqlite3.Connection, transaction_id: str) -> TransactionRow | None:
    row = conn.execute(
        "SELECT csr_sha256, expires_at, used_at FROM transactions WHERE id = ?",
        (transaction_id,),
    ).fetchone()
    if row is None:
        return None
    return TransactionRow(bytes(row[0]), int(row[1]), None if row[2] is None else int(row[2]))


def mark_transaction_used(conn: sqlite3.Connection, transaction_id: str, used_at: int) -> bool:
    """Mark an unused ID used; False when it was used meanwhile (another process)."""
    cur = conn.execute(
        "UPDATE transactions SET used_at = ? WHERE id = ? AND used_at IS NULL",
        (used_at, transaction_id),
    )
    return cur.rowcount == 1


# --------------------------------------------------------------------------------------
# RFC 3647 §3.2.3.3 the AOR registry
# --------------------------------------------------------------------------------------


def add_aor_domains(
    conn: sqlite3.Connection, name: str, domains: Sequence[str], added_at: int
) -> int:
    """Record the domains of AOR ``name``; returns how many were new."""
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO aors (name, domain, added_at) VALUES (?, ?, ?)",
        [(name, d, added_at) for d in dict.fromkeys(domains)],
    )
    return conn.total_changes - before


def aor_domains(conn: sqlite3.Connection, name: str) -> list[str]:
    rows = conn.execute(
        "SELECT domain FROM aors WHERE name = ? ORDER BY domain", (name,)
    ).fetchall()
    return [str(r[0]) for r in rows]


# --------------------------------------------------------------------------------------
# RFC 3647 §3.1 unique names, §4.7.3 type A re-key
# --------------------------------------------------------------------------------------


def valid_holders(conn: sqlite3.Connection, subject: str, now: int) -> list[CertificateHolder]:
    """Every certificate of ``subject`` valid at ``now``: unexpired and not revoked."""
    rows = conn.execute(
        "SELECT c.ca_name, c.serial_hex, c.spki_sha256 FROM certificates c"
        " WHERE c.subject = ? AND c.not_after > ? AND NOT EXISTS (SELECT 1 FROM"
        " revocations r WHERE r.ca_name = c.ca_name AND r.serial_hex = c.serial_hex)",
        (subject, now),
    ).fetchall()
    return [
        CertificateHolder(str(ca), str(serial), None if spki is None else bytes(spki))
        for ca, serial, spki in rows
    ]


def issued_certificate(
    conn: sqlite3.Connection, ca_name: str, serial_hex: str
) -> IssuedCertificate | None:
    row = conn.execute(
        "SELECT serial_hex, subject, profile, not_after, der FROM certificates"
        " WHERE ca_name = ? AND serial_hex = ?",
        (ca_name, serial_hex),
    ).fetchone()
    if row is None:
        return None
    return IssuedCertificate(str(row[0]), str(row[1]), str(row[2]), int(row[3]), bytes(row[4]))


def is_revoked(conn: sqlite3.Connection, ca_name: str, serial_hex: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM revocations WHERE ca_name = ? AND serial_hex = ?", (ca_name, serial_hex)
    ).fetchone()
    return row is not None


def is_scheduled_for_revocation(conn: sqlite3.Connection, ca_name: str, serial_hex: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM scheduled_revocations WHERE ca_name = ? AND serial_hex = ?",
        (ca_name, serial_hex),
    ).fetchone()
    return row is not None


def schedule_revocation(
    conn: sqlite3.Connection,
    ca_name: str,
    serial_hex: str,
    reason: int,
    due_at: int,
    requested_by: str,
    created_at: int,
) -> None:
    """A revocation the lifecycle slice carries out once due (store schema 4)."""
    conn.execute(
        "INSERT INTO scheduled_revocations (ca_name, serial_hex, reason, due_at,"
        " requested_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (ca_name, serial_hex, reason, due_at, requested_by, created_at),
    )
