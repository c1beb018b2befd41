"""RPKI state in the store (schema 10): the CAs porthos holds keys for, the children
they certified, their ROAs, revoked EE serials and the files of the current
publication. The only SQL of the RPKI; writes run inside the caller's
``Store.transaction()`` so that a change, its audit record and its publication state
commit together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, NamedTuple

__all__ = [
    "RpkiCa",
    "RpkiChild",
    "RpkiRoa",
    "add_child",
    "add_roa",
    "ca",
    "cas",
    "children",
    "insert_ca",
    "live_roa",
    "mark_dirty",
    "published",
    "remove_roa",
    "reissue_child",
    "retire_child",
    "set_ca_certificate",
    "set_status",
    "withdraw_children",
    "withdraw_roas",
    "revoked",
    "roas",
    "set_issued",
    "set_published",
]

_CA_COLS = (
    "name, parent, key_file, certificate, cert_uri, directory, resources, manifest_number,"
    " crl_number, this_update, next_update, manifest, crl, dirty, created_at, status, staged_at"
)


class RpkiCa(NamedTuple):
    name: str
    parent: str | None
    key_file: str
    certificate: bytes
    cert_uri: str
    directory: str
    resources: str
    manifest_number: int
    crl_number: int
    this_update: int | None
    next_update: int | None
    manifest: bytes | None
    crl: bytes | None
    dirty: bool
    created_at: int
    #: RFC 6489: 'staging' (new key published, not yet used), 'active', 'retired'.
    status: str = "active"
    staged_at: int | None = None


class RpkiChild(NamedTuple):
    ca_name: str
    name: str
    ski: str
    resources: str
    ca_repository: str
    rpki_manifest: str
    rpki_notify: str | None
    serial_hex: str
    certificate: bytes
    file: str
    status: str


class RpkiRoa(NamedTuple):
    ca_name: str
    asn: int
    prefixes: str
    ee_serial: str
    file: str
    object: bytes
    status: str


def _opt(v: Any) -> int | None:
    return None if v is None else int(v)


def _ca(r: tuple[Any, ...]) -> RpkiCa:
    return RpkiCa(
        str(r[0]),
        None if r[1] is None else str(r[1]),
        str(r[2]),
        bytes(r[3]),
        str(r[4]),
        str(r[5]),
        str(r[6]),
        int(r[7]),
        int(r[8]),
        _opt(r[9]),
        _opt(r[10]),
        None if r[11] is None else bytes(r[11]),
        None if r[12] is None else bytes(r[12]),
        bool(r[13]),
        int(r[14]),
        str(r[15]),
        _opt(r[16]),
    )


def insert_ca(conn: sqlite3.Connection, row: RpkiCa) -> None:
    conn.execute(
        f"INSERT INTO rpki_cas ({_CA_COLS}) VALUES ({', '.join('?' * 17)})",
        (*row[:13], int(row.dirty), row.created_at, row.status, row.staged_at),
    )


def cas(conn: sqlite3.Connection, *, retired: bool = False) -> list[RpkiCa]:
    """Every CA (retired ones only if asked), parents before children (creation order)."""
    where = "" if retired else " WHERE status <> 'retired'"
    rows = conn.execute(
        f"SELECT {_CA_COLS} FROM rpki_cas{where} ORDER BY created_at, rowid"
    ).fetchall()
    return [_ca(r) for r in rows]


def set_status(conn: sqlite3.Connection, name: str, status: str) -> None:
    """A CA instance's place in a key rollover (RFC 6489); it is re-published."""
    conn.execute("UPDATE rpki_cas SET status = ?, dirty = 1 WHERE name = ?", (status, name))


def retire_child(
    conn: sqlite3.Connection, ca_name: str, name: str, serial_hex: str, when: int
) -> None:
    """The parent revokes a child CA certificate: off its point, onto its CRL."""
    conn.execute(
        "UPDATE rpki_children SET status = 'revoked' WHERE ca_name = ? AND name = ?",
        (ca_name, name),
    )
    conn.execute(
        "INSERT INTO rpki_revoked (ca_name, serial_hex, revoked_at) VALUES (?, ?, ?)",
        (ca_name, serial_hex, when),
    )
    mark_dirty(conn, ca_name)


def reissue_child(
    conn: sqlite3.Connection, old: RpkiChild, serial_hex: str, certificate: bytes,
    resources: str, when: int,
) -> None:  # fmt: skip
    """The parent replaces a child's CA certificate (same key, same name): the row holds
    the new one, the old serial goes on the parent's CRL."""
    conn.execute(
        "UPDATE rpki_children SET serial_hex = ?, certificate = ?, resources = ?"
        " WHERE ca_name = ? AND name = ? AND status = 'live'",
        (serial_hex, certificate, resources, old.ca_name, old.name),
    )
    conn.execute(
        "INSERT INTO rpki_revoked (ca_name, serial_hex, revoked_at) VALUES (?, ?, ?)",
        (old.ca_name, old.serial_hex, when),
    )
    mark_dirty(conn, old.ca_name)


def set_ca_certificate(
    conn: sqlite3.Connection, name: str, certificate: bytes, resources: str, parent: str
) -> None:
    """A hosted CA's certificate re-issued by its parent (same key): what its products
    are signed under from now on."""
    conn.execute(
        "UPDATE rpki_cas SET certificate = ?, resources = ?, parent = ? WHERE name = ?",
        (certificate, resources, parent, name),
    )


def withdraw_children(conn: sqlite3.Connection, ca_name: str) -> None:
    """All of a retired CA's child CA certificates leave the repository with it (its own
    certificate is revoked, so they are no longer valid; RFC 6489 §2)."""
    conn.execute(
        "UPDATE rpki_children SET status = 'revoked' WHERE ca_name = ? AND status = 'live'",
        (ca_name,),
    )


def withdraw_roas(conn: sqlite3.Connection, ca_name: str, when: int) -> None:
    """All of a retired CA's ROAs leave the repository (its certificate is revoked)."""
    conn.execute(
        "UPDATE rpki_roas SET status = 'removed', removed_at = ? WHERE ca_name = ?"
        " AND status = 'live'",
        (when, ca_name),
    )


def ca(conn: sqlite3.Connection, name: str) -> RpkiCa | None:
    r = conn.execute(f"SELECT {_CA_COLS} FROM rpki_cas WHERE name = ?", (name,)).fetchone()
    return None if r is None else _ca(r)


def mark_dirty(conn: sqlite3.Connection, name: str) -> None:
    conn.execute("UPDATE rpki_cas SET dirty = 1 WHERE name = ?", (name,))


def set_issued(
    conn: sqlite3.Connection,
    name: str,
    *,
    manifest_number: int,
    crl_number: int,
    this_update: int,
    next_update: int,
    manifest: bytes,
    crl: bytes,
) -> None:
    """A CA's new manifest and CRL (RFC 9286 §4.2.1: the numbers only grow)."""
    conn.execute(
        "UPDATE rpki_cas SET manifest_number = ?, crl_number = ?, this_update = ?,"
        " next_update = ?, manifest = ?, crl = ?, dirty = 0 WHERE name = ?",
        (manifest_number, crl_number, this_update, next_update, manifest, crl, name),
    )


def add_child(conn: sqlite3.Connection, row: RpkiChild, added_at: int) -> None:
    conn.execute(
        "INSERT INTO rpki_children (ca_name, name, ski, resources, ca_repository,"
        " rpki_manifest, rpki_notify, serial_hex, certificate, file, status, added_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*row, added_at),
    )


def children(conn: sqlite3.Connection, ca_name: str | None = None) -> list[RpkiChild]:
    sql = (
        "SELECT ca_name, name, ski, resources, ca_repository, rpki_manifest, rpki_notify,"
        " serial_hex, certificate, file, status FROM rpki_children"
    )
    args: tuple[str, ...] = ()
    if ca_name is not None:
        sql += " WHERE ca_name = ?"
        args = (ca_name,)
    rows = conn.execute(sql + " ORDER BY rowid", args).fetchall()
    return [
        RpkiChild(
            str(a),
            str(b),
            str(c),
            str(d),
            str(e),
            str(f),
            None if g is None else str(g),
            str(h),
            bytes(i),
            str(j),
            str(k),
        )
        for a, b, c, d, e, f, g, h, i, j, k in rows
    ]


def add_roa(conn: sqlite3.Connection, rows: Iterable[RpkiRoa], created_at: int) -> None:
    conn.executemany(
        "INSERT INTO rpki_roas (ca_name, asn, prefixes, ee_serial, file, object, status,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(*r, created_at) for r in rows],
    )


def roas(
    conn: sqlite3.Connection, ca_name: str | None = None, *, live: bool = True
) -> list[RpkiRoa]:
    sql = "SELECT ca_name, asn, prefixes, ee_serial, file, object, status FROM rpki_roas"
    where, args = [], []
    if ca_name is not None:
        where.append("ca_name = ?")
        args.append(ca_name)
    if live:
        where.append("status = 'live'")
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = conn.execute(sql + " ORDER BY rowid", tuple(args)).fetchall()
    return [
        RpkiRoa(str(a), int(b), str(c), str(d), str(e), bytes(f), str(g))
        for a, b, c, d, e, f, g in rows
    ]


def live_roa(conn: sqlite3.Connection, asn: int, prefixes: str) -> RpkiRoa | None:
    """The live ROA stating exactly (asn, canonical prefixes), if any."""
    r = conn.execute(
        "SELECT ca_name, asn, prefixes, ee_serial, file, object, status FROM rpki_roas"
        " WHERE asn = ? AND prefixes = ? AND status = 'live'",
        (asn, prefixes),
    ).fetchone()
    return (
        None
        if r is None
        else RpkiRoa(str(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), bytes(r[5]), str(r[6]))
    )


def remove_roa(conn: sqlite3.Connection, roa: RpkiRoa, when: int) -> None:
    """Mark the ROA removed and its EE serial revoked (RFC 6487 §5)."""
    conn.execute(
        "UPDATE rpki_roas SET status = 'removed', removed_at = ? WHERE ca_name = ? AND file = ?",
        (when, roa.ca_name, roa.file),
    )
    conn.execute(
        "INSERT INTO rpki_revoked (ca_name, serial_hex, revoked_at) VALUES (?, ?, ?)",
        (roa.ca_name, roa.ee_serial, when),
    )
    mark_dirty(conn, roa.ca_name)


def revoked(conn: sqlite3.Connection, ca_name: str) -> list[tuple[str, int]]:
    rows = conn.execute(
        "SELECT serial_hex, revoked_at FROM rpki_revoked WHERE ca_name = ? ORDER BY rowid",
        (ca_name,),
    ).fetchall()
    return [(str(a), int(b)) for a, b in rows]


def published(conn: sqlite3.Connection) -> tuple[int, dict[str, str]]:
    """(version, {path under the module: sha256 hex}) of the current publication."""
    row = conn.execute("SELECT MAX(version) FROM rpki_published").fetchone()
    version = 0 if row is None or row[0] is None else int(row[0])
    rows = conn.execute(
        "SELECT path, sha256 FROM rpki_published WHERE version = ?", (version,)
    ).fetchall()
    return version, {str(p): str(h) for p, h in rows}


def set_published(conn: sqlite3.Connection, version: int, files: dict[str, str]) -> None:
    """Record publication ``version``'s files; earlier versions' rows are dropped."""
    conn.execute("DELETE FROM rpki_published WHERE version < ?", (version,))
    conn.executemany(
        "INSERT INTO rpki_published (version, path, sha256) VALUES (?, ?, ?)",
        [(version, p, h) for p, h in sorted(files.items())],
    )
