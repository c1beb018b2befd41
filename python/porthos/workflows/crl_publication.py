"""Publishing what the schedule says is due (000 §2.1, §4.9.7), through the one
publication path (porthos.workspace.publication).

:func:`publish` carries out the due scheduled revocations (§4.9.4) and the escalation
of holds past the CP/CPS's suspension limit (porthos.workflows.suspension), then issues the
due CRLs and writes them, and every CA certificate, to the files their CDP / AIA URLs
name: ``W/repository/<host>/<path>``, so a web server can serve ``W/repository`` as
is. :func:`publish_deltas` publishes delta CRLs (RFC 5280 §5.2.4) over the newest full
ones. Both take ``now`` (Unix seconds; the CLI's ``--now``), default the system clock
(§6.8).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from porthos.exceptions import LifecycleError
from porthos.issuance.crl import Progress
from porthos.store import audit
from porthos.workflows.crl_end import refuse_unless_publishing, retired_crls
from porthos.workflows.crl_schedule import crl_next_update, crl_targets, kept_cas
from porthos.workflows.revocation import process_scheduled
from porthos.workflows.suspension import escalate
from porthos.workspace import publication
from porthos.workspace.publication import Published
from porthos.workspace.repository import crl_urls, publication_map

if TYPE_CHECKING:
    from porthos import hsm
    from porthos.issuance.signers import Signer
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = ["Published", "publish", "publish_deltas"]

#: What a publication reads from the store, checked before each (issue 20 §3). Not
#: ``revocations``: the publication reads every page of it (SQLite reports a damaged
#: one, a StoreIntegrityError), and its index, which the read does not use, was 0.15 s
#: of a 1,000,000-revocation publish.
PUBLICATION_TABLES = ("cas", "holds", "crls", "crl_numbers", "scheduled_revocations")


def publish(
    ws: Workspace,
    cas: Sequence[str] | None = None,
    *,
    now: int | None = None,
    everything: bool = False,
    root_halves: Sequence[tuple[str, hsm.Secret]] | None = None,
    actor: str | None = None,
) -> list[Published]:
    """Carry out the due scheduled revocations, then issue the CRLs of ``cas`` (default:
    those due, or every kept CA with ``everything``) and write them, and every CA
    certificate, where the CDP / AIA URLs point (000 §2.1, §4.9.7). A CA whose profiles
    shard the CDP also gets its shard set.

    Signing: software keys as they are; in an HSM workspace the issuing CAs need
    ``ws.activate(pin)`` first, and the root's CRL ``root_halves`` (two officers' PIN
    halves, §6.2.2), used for this one operation (§6.2.2: the root key is activated
    only for a short period, to sign CA certificates and its CRL)."""
    now = int(time.time()) if now is None else int(now)
    # A damaged store must not become a CRL (issue 20 §3).
    ws.store.quick_check(PUBLICATION_TABLES)
    # A CA named that publishes no more (terminated, or past its final CRL) is refused
    # before the scheduled revocations below commit: a refusal changes nothing.
    for name in cas or ():
        refuse_unless_publishing(ws, ws.ca(name))
    process_scheduled(ws, now, actor=actor)
    # Holds past the CP/CPS's suspension limit become revocations first (§4.9.16).
    escalate(ws, now, actor=actor)
    # (The default targets are CAs that still publish: crl_schedule.kept_cas.)
    names = list(cas) if cas is not None else crl_targets(ws, now, everything=everything)
    out = publication.publish_ca_certificates(ws, publication_map(ws), actor=actor)
    for name in names:
        ca = ws.ca(name)
        if ca.hsm_ref is not None and ca.spec.self_signed:
            if not root_halves:
                raise LifecycleError(
                    f"the CRL of {name} is signed by the root key in the HSM: two "
                    "officers' PIN halves are needed (§6.2.2, --root-officer)"
                )
            with ws.root_activation(root_halves, f"CRL of {name}", name) as signer:
                out += _publish_full(ws, ca, signer, now, actor)
        else:
            out += _publish_full(ws, ca, ca.signer, now, actor)
    return out


def _publish_full(
    ws: Workspace, ca: CertificateAuthority, signer: Signer, now: int, actor: str | None
) -> list[Published]:
    # A retired CA's first CRL at or after the expiry of everything it issued is its
    # last (RFC 5280 §3.3; crl_end.py): said in its records and one of its own.
    end = retired_crls(ws, ca)
    final = end is not None and end.is_final(now)
    details = None if end is None or not final else {"final": True, "last_expiry": end.last_expiry}
    out = publication.publish_crl(
        ws,
        ca,
        signer,
        kind="full",
        this_update=now,
        next_update=crl_next_update(ca, now),
        urls=crl_urls(ws, ca.name),
        actor=actor,
        details=details,
    )
    if details is not None:
        number = next(p.number for p in out if p.kind == "crl")
        audit.record(
            ws.store,
            audit.Event.CRL_PUBLICATION_ENDED,
            actor=actor,
            ca=ca.name,
            number=number,
            this_update=now,
            last_expiry=details["last_expiry"],
            section="RFC 5280 §3.3; RFC 3647 §5.6",
        )
    return out


def publish_deltas(
    ws: Workspace,
    cas: Sequence[str] | None = None,
    *,
    now: int | None = None,
    actor: str | None = None,
    progress: Progress | None = None,
) -> list[Published]:
    """A delta CRL (RFC 5280 §5.2.4) for each CA of ``cas`` (default: every CA still
    publishing), over its newest full CRL, written to ``W/repository/<ca>-delta.crl``
    and audited like full CRLs (000 §5.4.1)."""
    now = int(time.time()) if now is None else int(now)
    ws.store.quick_check(PUBLICATION_TABLES)
    # Refused before anything below commits (crl_end.refuse_unless_publishing).
    for name in cas or ():
        refuse_unless_publishing(ws, ws.ca(name))
    # A delta lists what is due to be revoked too, as a full CRL does: the scheduled
    # revocations whose time has come and the holds past the suspension limit.
    process_scheduled(ws, now, actor=actor)
    escalate(ws, now, actor=actor)
    names = list(cas) if cas is not None else [ca.name for ca in kept_cas(ws)]
    out: list[Published] = []
    for name in names:
        ca = ws.ca(name)
        out += publication.publish_crl(
            ws,
            ca,
            ca.signer,
            kind="delta",
            this_update=now,
            next_update=crl_next_update(ca, now),
            actor=actor,
            progress=progress,
        )
    return out
