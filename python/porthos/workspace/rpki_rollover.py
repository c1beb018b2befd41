"""RPKI CA key rollover (RFC 6489 §2; RFC 7382 §5.6) for a CA whose key porthos holds
and whose parent is in this workspace (a hosted child CA).

* ``start``: a new key; the parent certifies it (same resources, same publication
  point ``caRepository``, its own manifest name) through the child-add path; the new
  CA instance is *staging*: published with an empty CRL and a manifest listing only
  that CRL, signing nothing else (RFC 6489 §2 steps 1-3).
* ``activate``, once the CP/CPS's staging period has passed: the old instance's ROAs
  are re-signed under the new key, the old instance is retired (its products
  withdrawn, RFC 6489 §2 step 4-5) and the parent revokes its certificate (CRL entry
  without extensions). One store transaction each; ``publish`` makes it visible.

A trust anchor's key rollover (RFC 9691, a new TAL) and a CA with children of its own
(their certificates would move too) are refused.
"""

from __future__ import annotations

import time

from porthos.exceptions import RpkiRolloverError
from porthos.issuance.rpki_objects import parse_roa_prefix
from porthos.store import audit
from porthos.store import rpki as db
from porthos.store.audit import Event
from porthos.workspace.rpki_ca import RoaRequest, RpkiWorkspace

__all__ = ["activate", "start"]


def _staging(ws: RpkiWorkspace, ca: db.RpkiCa) -> db.RpkiCa | None:
    return next(
        (
            c
            for c in db.cas(ws.store.conn)
            if c.status == "staging" and c.directory == ca.directory and c.parent == ca.parent
        ),
        None,
    )


def start(ws: RpkiWorkspace, name: str, *, now: int | None = None) -> db.RpkiCa:
    """Steps 1-3 of RFC 6489 §2: the new key's CA certificate, staging."""
    now = int(time.time()) if now is None else now
    ca = ws.ca(name)
    if ca.parent is None:
        raise RpkiRolloverError("a trust anchor's key rollover is not supported (RFC 9691)")
    if ca.status != "active":
        raise RpkiRolloverError(f"CA {name} is {ca.status}, not active")
    if db.children(ws.store.conn, name):
        raise RpkiRolloverError(f"CA {name} has child CAs: their rollover is not supported")
    if _staging(ws, ca) is not None:
        raise RpkiRolloverError(f"a new key for CA {name} is staging already")
    generation = 1 + sum(
        1 for c in db.cas(ws.store.conn, retired=True) if c.directory == ca.directory
    )
    new_name = f"{ca.directory}-k{generation}"
    key, csr = ws.hosted_csr(new_name, ca.directory)
    with ws.store.transaction():
        ws.add_child(
            csr, ca.resources, name=new_name, parent=ca.parent, now=now, hosted_key=key,
            status="staging",
        )  # fmt: skip
        audit.record(ws.store, Event.CA_ROLLOVER, subject=name, when=now, step="staging",
                     new=new_name)  # fmt: skip
    return ws.ca(new_name)


def activate(ws: RpkiWorkspace, name: str, *, now: int | None = None) -> db.RpkiCa:
    """Steps 4-5 of RFC 6489 §2: the new key signs the CA's ROAs, the old is retired."""
    now = int(time.time()) if now is None else now
    old = ws.ca(name)
    new = _staging(ws, old)
    if new is None or old.status != "active":
        raise RpkiRolloverError(f"no key rollover of CA {name} is staging")
    assert new.staged_at is not None
    ready = new.staged_at + ws.policy.rollover_staging
    if now < ready:
        raise RpkiRolloverError(
            f"the new key of CA {name} stages until {ready} (rollover.staging_hours,"
            " RFC 6489 §2): not activated"
        )
    roas = db.roas(ws.store.conn, old.name)
    requests = [
        RoaRequest(r.asn, tuple(parse_roa_prefix(p) for p in r.prefixes.split(","))) for r in roas
    ]
    rows = ws.sign_roas(new, requests, now=now)
    assert old.parent is not None
    (cert,) = [c for c in db.children(ws.store.conn, old.parent) if c.name == old.name]
    with ws.store.transaction() as conn:
        db.withdraw_roas(conn, old.name, now)
        db.add_roa(conn, rows, now)
        db.set_status(conn, old.name, "retired")
        db.set_status(conn, new.name, "active")
        db.retire_child(conn, old.parent, old.name, cert.serial_hex, now)
        audit.record(ws.store, Event.CA_ROLLOVER, subject=name, when=now, step="activated",
                     new=new.name, roas=len(rows), revoked=cert.serial_hex)  # fmt: skip
    return ws.ca(new.name)
