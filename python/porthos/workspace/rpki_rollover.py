"""RPKI CA key rollover (RFC 6489 §2; RFC 7382 §5.6) for a CA whose key porthos holds
and whose parent is in this workspace (a hosted child CA).

* ``start``: a new key; the parent certifies it (same resources, same publication
  point ``caRepository``, its own manifest name) through the child-add path; the new
  CA instance is *staging*: published with an empty CRL and a manifest listing only
  that CRL, signing nothing else (RFC 6489 §2 steps 1-3).
* ``activate``, once the CP/CPS's staging period has passed: the old instance's ROAs
  are re-signed under the new key and its children's CA certificates re-issued under
  it (same child keys, resources and SIA; a hosted child's CA row follows its new
  certificate), the old instance is retired (its products withdrawn, RFC 6489 §2
  steps 4-5) and the parent revokes its certificate (CRL entry without extensions).
  One store transaction each; ``publish`` makes it visible.

A trust anchor's key rollover is refused: it is RFC 9691's procedure (the new TA key
published under a new TAL that relying parties must be given), not this one.
"""

from __future__ import annotations

import time

from porthos.exceptions import RpkiRolloverError
from porthos.issuance.key_checks import certificate_spki
from porthos.issuance.rpki_objects import parse_roa_prefix
from porthos.issuance.rpki_resources import parse_resources
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
        raise RpkiRolloverError(
            "a trust anchor's key rollover is RFC 9691 (a new TAL): not supported"
        )
    if ca.status != "active":
        raise RpkiRolloverError(f"CA {name} is {ca.status}, not active")
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
    """Steps 4-5 of RFC 6489 §2: the new key signs the CA's ROAs and certifies its
    children, the old is retired."""
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
    moved = [_recertify(ws, new, c, now) for c in db.children(ws.store.conn, old.name)
             if c.status == "live"]  # fmt: skip
    assert old.parent is not None
    (cert,) = [c for c in db.children(ws.store.conn, old.parent) if c.name == old.name]
    with ws.store.transaction() as conn:
        db.withdraw_roas(conn, old.name, now)
        db.add_roa(conn, rows, now)
        db.withdraw_children(conn, old.name)
        for child in moved:
            db.add_child(conn, child, now)
            if db.ca(conn, child.name) is not None:  # hosted: signs under the new one
                db.set_ca_certificate(conn, child.name, child.certificate, child.resources,
                                      new.name)  # fmt: skip
        db.set_status(conn, old.name, "retired")
        db.set_status(conn, new.name, "active")
        db.retire_child(conn, old.parent, old.name, cert.serial_hex, now)
        audit.record(ws.store, Event.CA_ROLLOVER, subject=name, when=now, step="activated",
                     new=new.name, roas=len(rows), children=len(moved),
                     revoked=cert.serial_hex)  # fmt: skip
    return ws.ca(new.name)


def _recertify(ws: RpkiWorkspace, new: db.RpkiCa, child: db.RpkiChild, now: int) -> db.RpkiChild:
    """The child's CA certificate as the new key issues it (RFC 6489 §2 step 4): the
    same key, name, resources and SIA, a new serial, the new instance's CRL and
    certificate URIs. Its file name is the same, in the same directory."""
    serial, cert = ws.certify_child(
        new,
        child.name,
        certificate_spki(child.certificate),
        parse_resources(child.resources),
        ca_repository=child.ca_repository,
        rpki_manifest=child.rpki_manifest,
        rpki_notify=child.rpki_notify,
        now=now,
    )
    return child._replace(ca_name=new.name, serial_hex=serial.hex(), certificate=cert)
