"""Serials reserved by the database before they are signed (schema 9, issue 19 §3).

A batch that issues on one of many workers first reserves its serials: CSPRNG
candidates (``generate_serials``: 16 octets, 127 random bits; RFC 5280 §4.1.2.2 and the
CA/B Forum BR §7.1 ask for at least 64) are inserted into ``serial_reservations``
under its ``UNIQUE (ca_name, serial_hex)``, with INSERT OR IGNORE (PostgreSQL: ON
CONFLICT DO NOTHING); a candidate that someone reserved or issued before is drawn
again, until the batch holds as many as it asked for. That transaction commits before
anything is signed, so no two workers can sign the same serial: the certificates'
constraint is no longer the first to see a duplicate, after the fact.

The batch's commit (:func:`consume`, in the transaction that stores its certificates)
marks the serials it stored ``issued`` and the rest of its reservations ``void``, and
refuses to store a serial the batch did not reserve. Rows are never deleted: the
reservations of a worker that died after reserving stay ``reserved`` and burned, and
any retry draws new serials.

The reservation transaction appends no audit record (``row_transaction``: on
PostgreSQL it does not queue at the audit chain head, so workers reserve in parallel);
the serials are audited in the batch's ``certificates.issued`` record.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from porthos.exceptions import StoreError

if TYPE_CHECKING:
    import sqlite3

    from porthos.store.sqlite import Store

__all__ = ["MAX_ROUNDS", "Draw", "ReservedSerials", "consume", "reserve"]

#: A source of n CSPRNG serials, n x octets (``porthos.generate_serials``; a test
#: passes its own to force a collision).
Draw = Callable[[int], NDArray[np.uint8]]

#: Rounds of re-drawing before giving up: with 127 random bits a second round is
#: already a one-in-2^100 event; a draw that keeps colliding is broken, not unlucky.
MAX_ROUNDS = 8


def _postgres(conn: sqlite3.Connection) -> bool:
    return getattr(conn, "dialect", "sqlite") == "postgresql"


def _texts(serials: NDArray[np.uint8]) -> list[str]:
    # The store's spelling of a serial (issuance/batch_hooks.serial_texts).
    text, width = serials.tobytes().hex(), 2 * serials.shape[1]
    return [text[r * width : (r + 1) * width] for r in range(serials.shape[0])]


def reserve(
    store: Store, ca_name: str, n: int, *, now: int, draw: Draw, batch: str | None = None
) -> tuple[str, NDArray[np.uint8]]:
    """Reserve ``n`` serials of ``ca_name`` for a new batch, committed before returning:
    (batch id, serials n x octets in the order drawn). A candidate already reserved or
    issued (by anyone, any time) is drawn again."""
    batch = batch or secrets.token_hex(12)
    held: list[NDArray[np.uint8]] = []
    need = n
    with store.row_transaction() as conn:
        for _ in range(MAX_ROUNDS):
            if need == 0:
                break
            candidates = draw(need)
            if candidates.ndim != 2 or candidates.shape[0] != need:
                raise StoreError(f"the serial source gave {candidates.shape} for {need} serials")
            texts = _texts(candidates)
            inserted: set[str] | None = None
            if _postgres(conn):
                # One statement, one round trip (a pipelined row each: +0.44 s at 10,000),
                # which names the rows it inserted.
                inserted = {
                    str(r[0])
                    for r in conn.execute(
                        "INSERT INTO serial_reservations (ca_name, serial_hex, batch,"
                        " reserved_at) SELECT ?, unnest(?::text[]), ?, ?"
                        " ON CONFLICT DO NOTHING RETURNING serial_hex",
                        (ca_name, texts, batch, now),
                    ).fetchall()
                }
            else:
                conn.executemany(
                    "INSERT OR IGNORE INTO serial_reservations (ca_name, serial_hex, batch,"
                    " reserved_at) VALUES (?, ?, ?, ?)",
                    [(ca_name, t, batch, now) for t in texts],
                )
            mine = _held(conn, ca_name, batch, texts, inserted)
            keep = np.fromiter((t in mine for t in texts), bool, len(texts))
            held.append(candidates[keep])
            need -= int(keep.sum())
        if need:
            raise StoreError(
                f"CA {ca_name}: {need} of {n} serials still collided after {MAX_ROUNDS}"
                " draws; the serial source is broken; nothing reserved"
            )
    out = np.concatenate(held) if held else np.zeros((0, 16), np.uint8)
    return batch, out


def _held(
    conn: sqlite3.Connection,
    ca_name: str,
    batch: str,
    texts: list[str],
    inserted: set[str] | None = None,
) -> set[str]:
    """Which of ``texts`` this batch now holds: reserved by it (``inserted``, when the
    insert said), and not the serial of a certificate issued without a reservation
    (before schema 9, or by a path that does not reserve); those are voided, so the
    batch draws again."""
    if inserted is None:
        rows = conn.execute(
            "SELECT serial_hex FROM serial_reservations WHERE batch = ? AND state = 'reserved'",
            (batch,),
        ).fetchall()
        inserted = {str(r[0]) for r in rows}
    mine = inserted & set(texts)
    if _postgres(conn):
        found = conn.execute(
            "SELECT serial_hex FROM certificates WHERE ca_name = ? AND serial_hex = ANY(?)",
            (ca_name, texts),
        ).fetchall()
    else:
        found = [
            r
            for lo in range(0, len(texts), 500)
            for r in conn.execute(
                "SELECT serial_hex FROM certificates WHERE ca_name = ? AND serial_hex IN ("
                + ",".join("?" * len(texts[lo : lo + 500]))
                + ")",
                [ca_name, *texts[lo : lo + 500]],
            )
        ]
    issued = {str(r[0]) for r in found}
    if issued & mine:
        conn.execute(
            "UPDATE serial_reservations SET state = 'void' WHERE batch = ? AND serial_hex IN ("
            + ",".join("?" * len(issued & mine))
            + ")",
            [batch, *sorted(issued & mine)],
        )
    return mine - issued


def consume(conn: sqlite3.Connection, ca_name: str, batch: str, stored: list[str]) -> None:
    """In the batch's commit transaction: its reservations of ``stored`` serials become
    ``issued``, the others ``void``. A stored serial the batch did not hold reserved
    raises (the transaction rolls back: nothing stored)."""
    # The stored ones first, then the rest (the few refused): each row written once.
    if _postgres(conn):
        conn.execute(
            "UPDATE serial_reservations SET state = 'issued'"
            " WHERE ca_name = ? AND serial_hex = ANY(?) AND batch = ? AND state = 'reserved'",
            (ca_name, stored, batch),
        )
    else:
        conn.executemany(
            "UPDATE serial_reservations SET state = 'issued'"
            " WHERE ca_name = ? AND serial_hex = ? AND batch = ? AND state = 'reserved'",
            [(ca_name, s, batch) for s in stored],
        )
    conn.execute(
        "UPDATE serial_reservations SET state = 'void' WHERE batch = ? AND state = 'reserved'",
        (batch,),
    )
    row = conn.execute(
        "SELECT count(*) FROM serial_reservations WHERE batch = ? AND state = 'issued'",
        (batch,),
    ).fetchone()
    if int(row[0]) != len(stored):
        raise StoreError(
            f"CA {ca_name}: {len(stored) - int(row[0])} serial(s) of the batch were not"
            " reserved by it; nothing stored"
        )


class ReservedSerials:
    """The serial source of a batch that reserved its serials (BatchIssuer.serials):
    hands them out in order, never more than were reserved."""

    def __init__(self, ca_name: str, batch: str, serials: NDArray[np.uint8]) -> None:
        self.ca_name = ca_name
        self.batch = batch
        self._serials = serials
        self._next = 0

    @classmethod
    def reserve(
        cls, store: Store, ca_name: str, n: int, *, now: int, draw: Draw
    ) -> ReservedSerials:
        batch, serials = reserve(store, ca_name, n, now=now, draw=draw)
        return cls(ca_name, batch, serials)

    def __call__(self, n: int) -> NDArray[np.uint8]:
        if self._next + n > len(self._serials):
            raise StoreError(
                f"CA {self.ca_name}: the batch asked for more serials than it reserved"
                f" ({self._next + n} of {len(self._serials)})"
            )
        out = self._serials[self._next : self._next + n]
        self._next += n
        return out
