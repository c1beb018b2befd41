"""The CA generations in the store: which generation each CA belongs to and whether it
is active, retired or terminated (the ``cas.generation`` and ``cas.status`` columns of
schema 4; RFC 3647 §5.6 key changeover, §5.8 CA termination).

The workspace reads these states when it opens (porthos.workspace.generations); the
rollover retires a generation inside its own transaction, so the functions that change
state take the open connection of ``Store.transaction()``.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

__all__ = ["ACTIVE", "RETIRED", "TERMINATED", "CaState", "ca_states", "retire_generation"]

#: The values of ``cas.status``. A retired CA signs only the CRLs of what it issued
#: (RFC 3647 §5.6); a terminated one signs nothing any more (§5.8).
ACTIVE, RETIRED, TERMINATED = "active", "retired", "terminated"


class CaState(NamedTuple):
    """One CA's place in the generations."""

    name: str
    generation: int
    status: str


def ca_states(conn: sqlite3.Connection) -> dict[str, CaState]:
    """Every CA in the store, by name."""
    rows = conn.execute("SELECT name, generation, status FROM cas").fetchall()
    return {str(n): CaState(str(n), int(g), str(s)) for n, g, s in rows}


def retire_generation(conn: sqlite3.Connection, generation: int) -> None:
    """Mark every CA of ``generation`` retired (inside the rollover's transaction)."""
    conn.execute("UPDATE cas SET status = ? WHERE generation = ?", (RETIRED, generation))
