"""The SQL of approval-gated requests (store schema 6): a request (CSR, RA data) that
waits for the approvals a profile's rule asks for (porthos.cpcps.approval), and the
approvals given. One approval per person and request is a schema constraint.

Writes run in the caller's transaction, next to their audit records."""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

__all__ = [
    "Approval",
    "PendingRequest",
    "add_approval",
    "add_request",
    "approvals_of",
    "mark_issued",
    "request",
]


class PendingRequest(NamedTuple):
    id: str
    profile: str
    csr_der: bytes
    ra_data: str | None  # JSON text, as given
    requested_by: str
    created_at: int
    issued_at: int | None
    serial_hex: str | None


class Approval(NamedTuple):
    operator: str
    role: str
    approved_at: int


def add_request(
    conn: sqlite3.Connection,
    request_id: str,
    profile: str,
    csr_der: bytes,
    ra_data: str | None,
    requested_by: str,
    now: int,
) -> None:
    conn.execute(
        "INSERT INTO approval_requests (id, profile, csr_der, ra_data, requested_by,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (request_id, profile, csr_der, ra_data, requested_by, now),
    )


def request(conn: sqlite3.Connection, request_id: str) -> PendingRequest | None:
    row = conn.execute(
        "SELECT id, profile, csr_der, ra_data, requested_by, created_at, issued_at,"
        " serial_hex FROM approval_requests WHERE id = ?",
        (request_id,),
    ).fetchone()
    if row is None:
        return None
    return PendingRequest(
        str(row[0]),
        str(row[1]),
        bytes(row[2]),
        row[3],
        str(row[4]),
        int(row[5]),
        None if row[6] is None else int(row[6]),
        row[7],
    )


def approvals_of(conn: sqlite3.Connection, request_id: str) -> list[Approval]:
    """The approvals of a request, in the order given."""
    return [
        Approval(str(o), str(r), int(a))
        for o, r, a in conn.execute(
            "SELECT operator, role, approved_at FROM approvals WHERE request_id = ?"
            " ORDER BY rowid",
            (request_id,),
        )
    ]


def add_approval(
    conn: sqlite3.Connection, request_id: str, operator: str, role: str, now: int
) -> bool:
    """Record an approval; False when this operator (the key the caller normalised)
    already approved the request (nothing written)."""
    try:
        conn.execute(
            "INSERT INTO approvals (request_id, operator, role, approved_at) VALUES (?, ?, ?, ?)",
            (request_id, operator, role, now),
        )
    except sqlite3.IntegrityError:
        return False
    return True


def mark_issued(conn: sqlite3.Connection, request_id: str, serial_hex: str, now: int) -> None:
    conn.execute(
        "UPDATE approval_requests SET issued_at = ?, serial_hex = ? WHERE id = ?",
        (now, serial_hex, request_id),
    )
