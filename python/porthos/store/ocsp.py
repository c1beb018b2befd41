"""What OCSP pre-signing reads from the store (the only SQL of it): a CA's
certificates as columns, the CRL snapshot a pre-signing run answers from, and the
responder certificate a CA uses.

No state of its own: which responses are already signed is the on-disk index's
business (workflows/ocsp_presign.py says why)."""

from __future__ import annotations

import json
import sqlite3
import warnings
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from porthos.exceptions import StoreIntegrityError

__all__ = [
    "CrlSnapshot",
    "ResponderRow",
    "ca_certificate_columns",
    "certificate_columns",
    "crl_snapshot",
    "latest_responder",
]


def ca_certificate_columns(conn: sqlite3.Connection, ca_name: str) -> tuple[list[str], list[int]]:
    """(serials in hex, notAfter) of the CA certificates ``ca_name`` issued that live in
    the ``cas`` table (the sub CAs a root certified at init or in a changeover): they
    are certificates the CA issued too, so its OCSP answers for them. A handful of
    rows: read one by one."""
    from cryptography import x509

    try:
        rows = conn.execute(
            "SELECT certificate FROM cas WHERE parent = ? AND name != ? ORDER BY rowid",
            (ca_name, ca_name),
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreIntegrityError(f"CA {ca_name}: CA certificates unreadable: {exc}") from None
    hexes, not_after = [], []
    for (der,) in rows:
        try:
            cert = x509.load_der_x509_certificate(bytes(der))
        except ValueError as exc:
            raise StoreIntegrityError(f"CA {ca_name}: unreadable CA certificate ({exc})") from None
        h = format(cert.serial_number, "X")
        hexes.append(h if len(h) % 2 == 0 else "0" + h)
        not_after.append(int(cert.not_valid_after_utc.timestamp()))
    return hexes, not_after


class CrlSnapshot(NamedTuple):
    """The newest full CRL a CA published: the revocations (rowid <= revocations_upto)
    and holds (version holds_upto) it lists, and its thisUpdate / nextUpdate."""

    number: int
    this_update: int
    next_update: int
    revocations_upto: int
    holds_upto: int


class ResponderRow(NamedTuple):
    serial_hex: str
    der: bytes
    not_before: int
    not_after: int


def certificate_columns(
    conn: sqlite3.Connection, ca_name: str
) -> tuple[int, str, NDArray[np.int64]]:
    """(count, the serials' hex joined by ',', notAfter per row) of every certificate
    the CA issued, in recording order, with no Python object per row (as
    store.revocations.revocation_text_columns)."""
    try:
        row = conn.execute(
            "SELECT count(*), group_concat(serial_hex, ','), group_concat(not_after, ',')"
            " FROM (SELECT serial_hex, not_after FROM certificates WHERE +ca_name = ?"
            " ORDER BY rowid)",
            (ca_name,),
        ).fetchone()
    except sqlite3.DatabaseError as exc:
        raise StoreIntegrityError(f"CA {ca_name}: certificates unreadable: {exc}") from None
    n = int(row[0])
    if n == 0:
        return 0, "", np.zeros(0, np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        not_after = np.fromstring(str(row[2]), dtype=np.int64, sep=",")
    if len(not_after) != n or not isinstance(row[1], str):
        raise StoreIntegrityError(f"CA {ca_name}: unreadable certificate rows")
    return n, row[1], not_after


def crl_snapshot(
    conn: sqlite3.Connection, ca_name: str, published_event: str
) -> CrlSnapshot | None:
    """The CA's newest full CRL that was published (its successful ``published_event``
    audit record carries what it covered and its dates); None before the first."""
    row = conn.execute(
        "SELECT details FROM audit WHERE event = ? AND outcome = 'success'"
        " AND json_extract(details, '$.ca') = ? AND json_extract(details, '$.kind') = 'full'"
        " ORDER BY seq DESC LIMIT 1",
        (published_event, ca_name),
    ).fetchone()
    if row is None:
        return None
    d = json.loads(row[0])
    return CrlSnapshot(
        int(d["number"]),
        int(d["this_update"]),
        int(d["next_update"]),
        int(d.get("revocations_upto") or 0),
        int(d.get("holds_upto") or 0),
    )


def latest_responder(
    conn: sqlite3.Connection, ca_name: str, rotated_event: str
) -> ResponderRow | None:
    """The responder certificate in use: the one the CA's newest successful
    ``rotated_event`` audit record names (a certificate of the responder profile
    issued any other way, e.g. a demo sample whose key was not kept, never is)."""
    row = conn.execute(
        "SELECT c.serial_hex, c.der, c.not_before, c.not_after FROM audit a"
        " JOIN certificates c ON c.ca_name = json_extract(a.details, '$.ca')"
        " AND c.serial_hex = a.serial"
        " WHERE a.event = ? AND a.outcome = 'success' AND json_extract(a.details, '$.ca') = ?"
        " ORDER BY a.seq DESC LIMIT 1",
        (rotated_event, ca_name),
    ).fetchone()
    if row is None:
        return None
    return ResponderRow(str(row[0]), bytes(row[1]), int(row[2]), int(row[3]))


def serial_of(conn: sqlite3.Connection, ca_name: str, der: bytes, serial: int) -> str:
    """The serial of a certificate the CA issued, as the store spells it (looked up by
    its hex spellings through the (ca_name, serial_hex) index, then by DER)."""
    h = format(serial, "x")
    forms = sorted({h, h.zfill(len(h) + len(h) % 2)})
    marks = ",".join("?" * len(forms))
    row = conn.execute(
        f"SELECT serial_hex FROM certificates WHERE ca_name = ? AND serial_hex IN ({marks})"
        " AND der = ?",
        (ca_name, *forms, der),
    ).fetchone()
    if row is None:
        raise StoreIntegrityError(f"CA {ca_name}: an issued certificate is not in the store")
    return str(row[0])
