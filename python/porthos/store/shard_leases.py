"""Leases on the shards of a sharded CRL (schema 8, issue 19 §3).

Many workers rebuild the shards of one CRL number; each first leases its shard here.
A lease has an expiry: a worker that dies holding one only delays its shard until the
lease runs out, then the next worker takes it over. The lease row also carries the
newest number published for the shard, so that:

* two rebuilders never publish the same shard under the same number twice (the second
  finds ``number >= target`` and is told the shard is ``superseded``);
* a slower rebuilder never publishes a lower number after a higher one (RFC 5280
  §5.2.3: each shard is its own CRL scope, and its numbers strictly increase).

On PostgreSQL a lease is taken with ``SELECT ... FOR UPDATE SKIP LOCKED`` in a
transaction that does not queue at the audit chain head (``row_transaction``): a worker
finding the row locked by another is told ``busy`` at once instead of waiting. On
SQLite, one writer at a time, it is a plain transaction. Lease times are the clock of
the process asking (Unix seconds); the expiry is generous (minutes) against skew.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from porthos.exceptions import ShardLeaseError

if TYPE_CHECKING:
    from porthos.store.sqlite import Store

__all__ = [
    "LEASE_SECONDS",
    "MAX_LEASE_SECONDS",
    "MIN_LEASE_SECONDS",
    "Lease",
    "Outcome",
    "complete",
    "lease",
    "lease_rows",
    "release",
    "renew",
]

#: Seconds a lease lasts before another worker may take the shard over; renewed after
#: the build. Long enough for a shard of a few million entries (seconds, measured in
#: docs/scale.md) with room for a slow disk. ``crl publish --lease-ttl`` sets it.
LEASE_SECONDS = 120
#: The range ``--lease-ttl`` accepts. Below 10 s a slow build or a GC pause outlives
#: its lease (the shard is then rebuilt by another worker and the first one's
#: completion refused: work done twice, never a wrong CRL); above a day a dead
#: worker's shard waits longer than any CRL's nextUpdate interval allows.
MIN_LEASE_SECONDS = 10
MAX_LEASE_SECONDS = 86_400


class Outcome(enum.Enum):
    LEASED = "leased"  # yours until expires_at
    BUSY = "busy"  # another holder's unexpired lease, or its row is locked: try later
    SUPERSEDED = "superseded"  # the shard already carries this number or a higher one


@dataclass(frozen=True, slots=True)
class Lease:
    """One row of ``shard_leases``."""

    ca: str
    kind: str
    shard: int
    number: int
    target: int | None
    holder: str | None
    expires_at: int | None
    state: str


_KEY = "ca_name = ? AND kind = ? AND shard = ?"


def lease(
    store: Store,
    ca: str,
    kind: str,
    shard: int,
    *,
    number: int,
    holder: str,
    ttl: int,
    now: int,
) -> Outcome:
    """Lease ``shard`` to build ``number``: free, or held past its expiry (taken over),
    and not yet carrying ``number`` or a higher one."""
    with store.row_transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO shard_leases (ca_name, kind, shard) VALUES (?, ?, ?)",
            (ca, kind, shard),
        )
    with store.row_transaction() as conn:
        row = conn.execute(
            f"SELECT number, holder, expires_at, state FROM shard_leases WHERE {_KEY}"
            + store.SKIP_LOCKED,
            (ca, kind, shard),
        ).fetchone()
        if row is None:  # locked by another worker's transaction right now
            return Outcome.BUSY
        have, current, expires, state = int(row[0]), row[1], row[2], str(row[3])
        if have >= number:
            return Outcome.SUPERSEDED
        if state == "leased" and current != holder and int(expires or 0) > now:
            return Outcome.BUSY
        conn.execute(
            "UPDATE shard_leases SET target = ?, holder = ?, expires_at = ?, state = 'leased'"
            f" WHERE {_KEY}",
            (number, holder, now + ttl, ca, kind, shard),
        )
    return Outcome.LEASED


def renew(
    store: Store, ca: str, kind: str, shard: int, *, holder: str, ttl: int, now: int
) -> None:
    """Push the expiry of a lease one holds ``ttl`` seconds on; ShardLeaseError when it
    is no longer ours (it expired and another worker took it over)."""
    with store.row_transaction() as conn:
        cur = conn.execute(
            "UPDATE shard_leases SET expires_at = ?"
            f" WHERE {_KEY} AND holder = ? AND state = 'leased'",
            (now + ttl, ca, kind, shard, holder),
        )
        if cur.rowcount != 1:
            raise ShardLeaseError(
                f"CA {ca}: the lease on {kind} shard {shard} was lost (expired and taken over)"
            )


def complete(store: Store, ca: str, kind: str, shard: int, *, number: int, holder: str) -> None:
    """Record ``number`` as published for the shard and free it. Joins the caller's
    transaction (the one that records ``crl.published``): both commit or neither.
    ShardLeaseError when the lease is not ours, or the number would not increase."""
    row = store.conn.execute(
        f"SELECT number, holder, state FROM shard_leases WHERE {_KEY}" + store.FOR_UPDATE,
        (ca, kind, shard),
    ).fetchone()
    if row is None or row[1] != holder or row[2] != "leased":
        raise ShardLeaseError(
            f"CA {ca}: the lease on {kind} shard {shard} was lost before number {number} "
            "was recorded"
        )
    if int(row[0]) >= number:
        raise ShardLeaseError(
            f"CA {ca}: {kind} shard {shard} already carries number {row[0]} >= {number}"
        )
    store.conn.execute(
        "UPDATE shard_leases SET number = ?, target = NULL, holder = NULL, expires_at = NULL,"
        f" state = 'free' WHERE {_KEY}",
        (number, ca, kind, shard),
    )


def release(store: Store, ca: str, kind: str, shard: int, *, holder: str) -> None:
    """Give a lease back after a failure (the shard keeps its number): the next worker
    need not wait for the expiry. Nothing when it is not ours any more."""
    with store.row_transaction() as conn:
        conn.execute(
            "UPDATE shard_leases SET target = NULL, holder = NULL, expires_at = NULL,"
            f" state = 'free' WHERE {_KEY} AND holder = ?",
            (ca, kind, shard, holder),
        )


def lease_rows(store: Store, ca: str, kind: str) -> list[Lease]:
    """The CA's lease rows of ``kind``, by shard."""
    rows = store.conn.execute(
        "SELECT ca_name, kind, shard, number, target, holder, expires_at, state"
        " FROM shard_leases WHERE ca_name = ? AND kind = ? ORDER BY shard",
        (ca, kind),
    ).fetchall()
    return [
        Lease(
            str(r[0]),
            str(r[1]),
            int(r[2]),
            int(r[3]),
            None if r[4] is None else int(r[4]),
            r[5],
            None if r[6] is None else int(r[6]),
            str(r[7]),
        )
        for r in rows
    ]
