"""CA termination (000 §5.8).

Every unexpired certificate is revoked (cessationOfOperation, RFC 5280 §5.3.1), each CA
publishes a final CRL whose nextUpdate lies after the last expiry of anything it issued
(RFC 5280 §5.1.2.5 puts no bound on nextUpdate; 000 §5.8 asks exactly this), the CAs
are marked terminated, and then their keys are destroyed (porthos.workflows.ca_keys) or
exported to a successor token (porthos.workflows.key_export).

Each state change is one store transaction with its audit records (issue 6
"Atomicity"); a refusal changes nothing and is audited as a failure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from porthos import hsm
from porthos.crl_reasons import REASON_NAMES
from porthos.exceptions import LifecycleError
from porthos.hsm.key_objects import Export
from porthos.issuance import signers
from porthos.issuance.names import subject_text
from porthos.store import audit
from porthos.store import revocations as stored
from porthos.store.generations import TERMINATED, ca_states
from porthos.workflows.ca_keys import destroy_ca_keys, key_present, officer_pins

# The names _final_crls (below, verbatim: its body is being moved onto the one CRL
# publication path in another branch) calls these helpers by.
from porthos.workflows.ca_keys import hsm_signer as _hsm_signer
from porthos.workflows.ca_keys import spki_of as _spki_of
from porthos.workflows.crl_schedule import crl_next_update
from porthos.workflows.key_export import Successor, finish_export, prepare_export, resume_export
from porthos.workspace import publication
from porthos.workspace.authority import CertificateAuthority
from porthos.workspace.generations import attach_generations
from porthos.workspace.repository import crl_urls
from porthos.workspace.workspace import Workspace

__all__ = ["TerminationResult", "terminate"]


@dataclass
class TerminationResult:
    """What a termination did, per CA."""

    revoked: dict[str, int]
    #: (CA, path, CRL number, entries, nextUpdate)
    crls: list[tuple[str, Path, int, int, int]]
    #: (CA, "destroyed") or (CA, "exported to token 'T' (label L), file destroyed")
    keys: list[tuple[str, str]]


def terminate(
    ws: Workspace,
    *,
    destroy_keys: bool = False,
    export_to: str | None = None,
    now: int | None = None,
    root_pin_halves: Sequence[tuple[str, hsm.Secret]] | None = None,
    pin: hsm.Secret | None = None,
    actor: str | None = None,
    module: str | None = None,
    successor_pin: hsm.Secret | None = None,
    so_pin: hsm.Secret | None = None,
) -> TerminationResult:
    """Terminate every CA of the workspace, all generations (000 §5.8):

    1. revoke every unexpired, unrevoked certificate, subscriber, link and issuing-CA
       certificates alike (reason cessationOfOperation, requester recorded: §3.4);
    2. build each CA's final CRL, nextUpdate one day after the last expiry it covers;
    3. mark the CAs terminated, all in ONE store transaction with the audit records
       (revocation.requested, crl.created, ca.terminated);
    4. write the CRLs to the repository (crl.published), then
    5. destroy the keys (software: overwrite + unlink; HSM: C_DestroyObject), each
       audited ca.key-destroyed, or export them to the successor token ``export_to``
       (PKCS#11 ``module``, default $PORTHOS_PKCS11_MODULE else SoftHSM2; its user PIN
       ``successor_pin``). Software keys are imported and checked in the successor
       BEFORE step 1, so a refusal or failure changes nothing; their files are
       destroyed in step 5, each audited ca.key-exported and ca.key-destroyed. HSM
       keys of a workspace made with transferable keys are transferred the same way,
       before step 1, in encrypted form under the tokens' Security Officer
       (``so_pin``) and the root officers (porthos.hsm.key_transfer.transfer_hsm_keys,
       000 §6.2.6); the source keys are destroyed in step 5. Never-extractable HSM
       keys are refused (see porthos.workflows.key_export).

    A workspace already terminated is refused; one whose keys survived a crash after
    step 4 only gets its remaining keys destroyed (or exported)."""
    actor = actor or audit.default_actor()
    try:
        return _terminate(
            ws,
            destroy_keys,
            export_to,
            now,
            root_pin_halves,
            pin,
            actor,
            module,
            successor_pin,
            so_pin,
        )
    except Exception as exc:
        audit.record_failure(ws.store, audit.Event.CA_TERMINATED, exc, actor=actor)
        raise


def _terminate(
    ws: Workspace,
    destroy_keys: bool,
    export_to: str | None,
    now: int | None,
    root_pin_halves: Sequence[tuple[str, hsm.Secret]] | None,
    pin: hsm.Secret | None,
    actor: str,
    module: str | None,
    successor_pin: hsm.Secret | None,
    so_pin: hsm.Secret | None,
) -> TerminationResult:
    if destroy_keys == (export_to is not None):
        raise LifecycleError(
            "termination needs exactly one of: destroy the CA keys, or export them to a "
            "successor token (000 §5.8)"
        )
    now = int(time.time()) if now is None else int(now)
    store = ws.store
    cas = ws.cas

    # PINs first: every later step (the final CRLs, the keys) needs them in HSM mode.
    pins: dict[str, hsm.Secret] = {}
    officers: list[str] = []
    if ws.hsm is not None:
        root_pin, officers, issuing_pin = officer_pins(ws, root_pin_halves, pin, "termination")
        ws.hsm.activate_module(ws.path)
        pins = {ws.hsm.root_token: root_pin, ws.hsm.issuing_token: issuing_pin}

    states = ca_states(store.conn)
    terminated = [name for name, state in states.items() if state.status == TERMINATED]
    if terminated:
        left = [ca for ca in cas if key_present(ws, ca, pins)]
        if not left:
            raise LifecycleError(
                f"{ws.path} is already terminated (000 §5.8): CAs {', '.join(terminated)}"
            )
        # A crash after the final CRLs left keys behind: finish step 5 only.
        if export_to is None:
            return TerminationResult({}, [], destroy_ca_keys(ws, left, pins, actor))
        dest = Successor(export_to, module, successor_pin, so_pin, officers, actor)
        return TerminationResult({}, [], resume_export(ws, left, pins, dest))

    export: Export | None = None
    if export_to is not None:
        dest = Successor(export_to, module, successor_pin, so_pin, officers, actor)
        export = prepare_export(ws, cas, pins, dest)
    try:
        result = _final_crls(ws, cas, now, pins, officers, actor, destroy_keys, export_to)
    except BaseException:
        # The workspace keeps its keys: the copies in the successor go again.
        if export is not None:
            export.rollback()
        raise
    # 5. The keys (000 §5.8 last measure, §6.2.2 two officers in HSM mode).
    if export is not None:
        result.keys = finish_export(ws, cas, export, pins, actor)
    else:
        result.keys = destroy_ca_keys(ws, cas, pins, actor)
    return result


def _serial_hex(cert_der: bytes) -> str:
    # The store keys serials as the hex of the 16-octet generated value (ca.revoke).
    value = x509.load_der_x509_certificate(cert_der).serial_number
    return format(value, "x").zfill(32) if value < 1 << 128 else format(value, "x")


def subject_of(ca: CertificateAuthority) -> str:
    return subject_text(ca.subject)


def _final_crls(
    ws: Workspace,
    cas: list[CertificateAuthority],
    now: int,
    pins: dict[str, hsm.Secret],
    officers: list[str],
    actor: str,
    destroy_keys: bool,
    export_to: str | None,
) -> TerminationResult:
    """Steps 1-4 of :func:`terminate`; the result's ``keys`` are left empty. The final
    CRLs take the one publication path (porthos.workspace.publication): prepared
    (numbered, built, signed, ``crl.created``) inside the transaction that revokes and
    terminates, written (``crl.published``) after it commits."""
    store = ws.store

    signers_open: list[signers.Pkcs11Signer] = []

    def signer_of(ca: CertificateAuthority) -> signers.Signer:
        if ca.hsm_ref is None:
            return ca.key
        s = _hsm_signer(
            ws,
            ca.name,
            ca.spec,
            ca.hsm_ref.token,
            pins[ca.hsm_ref.token],
            _spki_of(ca.certificate),
        )
        signers_open.append(s)
        return s

    # What the CP/CPS decides (its termination section): the reason every unexpired
    # certificate is revoked with, and how far past the last expiry a final CRL runs.
    policy = ws.profile_set.termination
    reason = policy.revocation_reason
    section = f"§{policy.section}" if policy.section else "termination"
    revoked: dict[str, int] = {}
    prepared: list[publication.PreparedCrl] = []
    try:
        with store.transaction() as conn:
            # 1. Revocations (000 §5.8 first measure).
            for ca in cas:
                serials = stored.unrevoked_serials(conn, ca.name, now)
                if serials:
                    store.add_revocations(
                        ca.name,
                        [(s, now, reason, None) for s in serials],
                        requested_by=actor,
                    )
                # The CA certificates this CA issued live in `cas`, not `certificates`
                # (add_revocations checks the latter), so they are recorded here.
                children = [
                    c for c in cas if c.parent == ca.name and c is not ca and c.not_after > now
                ]
                child_serials = [
                    s
                    for s in (_serial_hex(child.certificate) for child in children)
                    if not stored.is_revoked(conn, ca.name, [s])
                ]
                stored.insert_revocations(
                    conn,
                    [
                        stored.NewRevocation(ca.name, s, now, reason, None, actor)
                        for s in child_serials
                    ],
                )
                revoked[ca.name] = len(serials) + len(child_serials)
                if revoked[ca.name]:
                    audit.record(
                        store,
                        audit.Event.REVOCATION_REQUESTED,
                        actor=actor,
                        ca=ca.name,
                        reason=REASON_NAMES[reason],
                        count=revoked[ca.name],
                        serials=serials[:1000],
                        ca_certificates=[c.name for c in children],
                        section=section,
                    )
            # 2. Final CRLs, one per CA, signed by that CA's own key (000 §5.6: old
            # generations sign the CRLs of their own certificates). They go where the
            # CDP URLs point, like every published CRL (§2.1), and to the flat
            # W/repository/<ca>.crl.
            for ca in cas:
                expiries = [stored.last_expiry(conn, ca.name)]
                expiries += [c.not_after for c in cas if c.parent == ca.name and c is not ca]
                last_expiry = max((e for e in expiries if e is not None), default=now)
                next_update = max(
                    last_expiry + policy.final_crl_margin.seconds, crl_next_update(ca, now)
                )
                prepared.append(
                    publication.prepare_crl(
                        ws,
                        ca,
                        signer_of(ca),
                        kind="full",
                        this_update=now,
                        next_update=next_update,
                        urls=crl_urls(ws, ca.name),
                        actor=actor,
                        details={"last_expiry": last_expiry, "final": True},
                    )
                )
            # 3. The CAs are terminated.
            stored.set_every_ca_status(conn, TERMINATED)
            for ca in cas:
                audit.record(
                    store,
                    audit.Event.CA_TERMINATED,
                    actor=actor,
                    subject=subject_of(ca),
                    serial=ca.serial_hex,
                    ca=ca.name,
                    generation=ca.generation,
                    previous_status=ca.status,
                    key_disposition="destroy" if destroy_keys else f"export to {export_to}",
                    officers=officers,
                )
    finally:
        for opened_signer in signers_open:
            opened_signer.close()

    # 4. Publication, after the commit: the repository never shows a CRL the store
    # does not record (000 §2.2, §5.8 "available for download until nextUpdate").
    crls = []
    for crl in prepared:
        (written,) = publication.write_prepared(ws, crl, actor=actor)
        crls.append((crl.ca, written.paths[-1], crl.number, crl.entries, crl.next_update))
    attach_generations(ws)
    return TerminationResult(revoked, crls, [])
