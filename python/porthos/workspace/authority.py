"""CertificateAuthority: one CA of a workspace, an issuer (issuance/batch.py) plus the
store and the audit trail.

Rust parses, verifies, fills and signs; the CP/CPS (cpcps/policy.py) decides which
request gets which subject and validity, as the naming rule of the batch; this module
records every issued certificate, with the batch's audit record, in one store
transaction per batch (RFC 3647 §5.4.1).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from cryptography import x509
from numpy.typing import NDArray

from porthos import _native, hsm
from porthos.cpcps import policy
from porthos.cpcps.item_rules import judge_items
from porthos.cpcps.profiles import CaProfile, Profile, ProfileSet
from porthos.exceptions import KeyMaterialError, PolicyError
from porthos.issuance import signers
from porthos.issuance.batch import BatchIssuer, BatchResult
from porthos.issuance.batch_hooks import Naming, ShardedTemplates, SignedPiece
from porthos.issuance.csr_input import CsrInput, split_csr_input
from porthos.issuance.item_data import ItemData, item_data_list
from porthos.issuance.key_checks import (
    certificate_spki,
    check_certificate_signature,
    check_key_pair,
)
from porthos.issuance.names import subject_text
from porthos.status import IssueStatus
from porthos.store import audit, serial_reservations
from porthos.store.sqlite import (
    PARAM_DER,
    PARAM_SERIAL,
    PARAM_SUBJECT,
    CaRow,
    CertificateParams,
    Store,
)
from porthos.workspace import generations

if TYPE_CHECKING:
    from porthos.workspace.workspace import Workspace

__all__ = ["CertificateAuthority", "IssueResult", "StoreCommit"]

#: screen(parsed) -> refusals by index of ``parsed``: (IssueStatus, reason).
Screen = Callable[[_native.CsrBatch], dict[int, tuple[IssueStatus, str]]]


@dataclass
class IssueResult(BatchResult):
    """One slot per input request (BatchResult), and the profile and CA that issued."""

    profile: str = ""
    ca: str = ""
    #: The sequence number of the batch's ``certificates.issued`` audit record: the id
    #: ``porthos export --batch`` re-delivers the batch by (None: nothing was issued).
    batch: int | None = None


def _policy_naming(prof: Profile, parsed: _native.CsrBatch, ok: NDArray[np.intp]) -> Naming:
    """The batch's naming rule: the CP/CPS key, subject and SAN rules, one call per
    piece; the SANs (None when the profile has none) go into the certificates."""
    subjects = parsed.subjects()
    return policy.decide_batch(
        prof, [subjects[j] for j in ok.tolist()], parsed.key_type[ok], parsed.key_bits[ok]
    )


@dataclass
class StoreCommit:
    """The batch's commit hook: each signed piece becomes certificate rows, and the batch
    one ``certificates.issued`` record listing the serials in store order, all in one
    store transaction (RFC 3647 §5.4.1)."""

    store: Store
    ca_name: str
    prof: Profile
    not_before: int
    not_after: int
    actor: str | None
    audit_details: dict[str, Any] | None
    serials: list[str] = field(default_factory=list)
    first_subject: str | None = None
    prepared: audit.Details | None = None
    allocated: list[str] | None = None
    audit_seq: int | None = None
    #: The issuer's key and algorithm: the first certificate of the batch is verified
    #: before it is stored (issue 20 §2, "verify a sample of what is signed").
    issuer_spki: bytes | None = None
    algorithm: str | None = None
    #: The batch id of the serials it reserved (store/serial_reservations.py), if any:
    #: the commit turns those reservations into certificates.
    reservation: str | None = None

    def __post_init__(self) -> None:
        # Every subject is the profile's prefix + the rule's tail (policy.build_subject),
        # so its RFC 4514 text is the tail's text, then the prefix's, made once.
        self._cut = len(self.prof.subject_prefix)
        self._prefix_text = "," + subject_text(self.prof.subject_prefix) if self._cut else ""

    def transaction(self) -> AbstractContextManager[object]:
        return self.store.transaction()

    def serials_allocated(self, serials: list[str]) -> None:
        # Made ahead, and used if exactly these serials were stored (a software key
        # signs all or raises; an HSM may fail items, then the record is made again).
        self.allocated = serials
        self.prepared = self._details(serials)

    def store_piece(self, piece: SignedPiece) -> None:
        # A signed piece -> store rows: serial r and certificate r of item r; unsigned
        # (HSM-refused) items get no row.
        name, profile, cut, prefix = self.ca_name, self.prof.name, self._cut, self._prefix_text
        nb, na, at = self.not_before, self.not_after, piece.issued_at
        subjects, spki_hashes, serials = piece.subjects, piece.spki_hashes, piece.serials
        ends = piece.not_after  # items with their own notAfter (RA data), else None
        rows: list[CertificateParams] = [
            (name, serials[r], subject_text(subjects[r][cut:]) + prefix, profile, nb,
             na if ends is None else ends[r], der, at, spki_hashes[r])
            for r, der in enumerate(piece.certificates)
            if der is not None
        ]  # fmt: skip
        if rows and not self.serials and self.issuer_spki and self.algorithm:
            check_certificate_signature(
                rows[0][PARAM_DER], self.issuer_spki, self.algorithm, f"CA {name}"
            )
        self.store.insert_certificate_params(name, rows)
        if rows and self.first_subject is None:
            self.first_subject = rows[0][PARAM_SUBJECT]
        self.serials += [r[PARAM_SERIAL] for r in rows]

    def finish(self) -> None:
        if self.reservation is not None:
            serial_reservations.consume(
                self.store.conn, self.ca_name, self.reservation, self.serials
            )
        if not self.serials:
            return
        prepared = self.prepared if self.serials == self.allocated else None
        one = len(self.serials) == 1
        self.audit_seq = audit.record(
            self.store,
            audit.Event.CERTIFICATES_ISSUED,
            actor=self.actor,
            subject=self.first_subject if one else None,
            serial=self.serials[0] if one else None,
            prepared=prepared or self._details(self.serials),
        )

    def _details(self, serials: list[str]) -> audit.Details:
        return audit.prepare(
            ca=self.ca_name,
            profile=self.prof.name,
            count=len(serials),
            serials=serials,
            **(self.audit_details or {}),
        )


class CertificateAuthority:
    """One CA of a workspace: its certificate, its key and its compiled templates."""

    def __init__(self, workspace: Workspace, spec: CaProfile, row: CaRow) -> None:
        self.workspace = workspace
        self.spec = spec
        self.name = spec.name
        self.certificate: bytes = row.certificate
        self.parent = row.parent
        cert = x509.load_der_x509_certificate(row.certificate)
        self.not_before = int(cert.not_valid_before_utc.timestamp())
        self.not_after = int(cert.not_valid_after_utc.timestamp())
        self.serial_hex = format(cert.serial_number, "x")
        self.subject: list[tuple[str, str]] = list(spec.subject)
        self.key_ref = row.key_ref
        #: Set when the key lives in a PKCS#11 token (HSM mode).
        self.hsm_ref = hsm.HsmKeyRef.parse(row.key_ref)
        self._key_path = workspace.path / row.key_ref
        self._key: _native.SoftwareKey | None = None
        self._spki: bytes | None = None
        self._hsm_signer: signers.Pkcs11Signer | None = None
        self._templates: dict[tuple[str, int | None], _native.Template] = {}
        #: CA generation (RFC 3647 §5.6) and state ('active'|'retired'|'terminated'),
        #: with the profile set of that generation; changeover.attach_generations sets them.
        self.generation = 1
        self.status = "active"
        self.profile_set: ProfileSet = workspace.profile_set

    def __repr__(self) -> str:
        return f"<CertificateAuthority {self.name} ({self.workspace.env})>"

    @property
    def profiles(self) -> list[str]:
        """Names of the certificate profiles this CA issues."""
        return [p.name for p in self.profile_set.profiles_of(self.name)]

    @property
    def signer(self) -> signers.Signer:
        """The software key, or the PKCS#11 signer of an activated HSM workspace."""
        if self.hsm_ref is None:
            return self.key
        if self._hsm_signer is None:
            self._hsm_signer = self.workspace._open_hsm_signer(self)
        return self._hsm_signer

    def close(self) -> None:
        if self._hsm_signer is not None:
            self._hsm_signer.close()
            self._hsm_signer = None

    @property
    def key(self) -> _native.SoftwareKey:
        if self.hsm_ref is not None:
            raise KeyMaterialError(
                f"the key of CA {self.name} is in the HSM (token '{self.hsm_ref.token}', "
                f"label '{self.hsm_ref.label}'); it never leaves it (RFC 3647 §6.2.6)"
            )
        if self._key is None:
            try:
                der = self._key_path.read_bytes()
            except OSError as exc:
                raise KeyMaterialError(f"cannot read the key of CA {self.name}: {exc}") from None
            key = _native.SoftwareKey.from_pkcs8(der, self.spec.signature_algorithm)
            # A replaced or wrongly restored key file would sign certificates and CRLs
            # that fail verification, with exit 0 (issue 20 §2): checked once, here.
            check_key_pair(key, self.certificate, f"the key of CA {self.name} ({self._key_path})")
            self._key = key
        return self._key

    def _issuer_spki(self) -> bytes:
        if self._spki is None:
            self._spki = certificate_spki(self.certificate)
        return self._spki

    def _profile(self, name: str) -> Profile:
        # A retired (RFC 3647 §5.6) or terminated (§5.8) CA signs no certificate any more.
        generations.check_may_issue(self, name)
        prof = self.profile_set.profiles.get(name)
        if prof is None or prof.issuer != self.name:
            mine = ", ".join(self.profiles) or "none"
            raise PolicyError(
                f"CA {self.name} does not issue profile {name!r} "
                f"(its profiles: {mine}; RFC 3647 §7.1)"
            )
        return prof

    def template(self, profile: str, shard: int | None = None) -> _native.Template:
        """The profile compiled against this CA's certificate, once per CA object (and
        per CRL shard when the profile's CDP is sharded)."""
        tpl = self._templates.get((profile, shard))
        if tpl is None:
            prof = self._profile(profile)
            tpl = _native.Template.for_issuer(
                prof.template_spec_json(shard), self.certificate, self.spec.signature_algorithm
            )
            self._templates[(profile, shard)] = tpl
        return tpl

    def issuer(self, profile: str) -> BatchIssuer:
        """The batch issuer of one profile: this CA's template(s) and signer, the
        CP/CPS naming rule, and the refusal of any certificate outliving this CA."""
        return self._issuer(self._profile(profile))

    def _issuer(
        self, prof: Profile, serials: serial_reservations.ReservedSerials | None = None
    ) -> BatchIssuer:
        profile = prof.name
        template: _native.Template | ShardedTemplates
        if prof.crl_shards is None:
            template = self.template(profile)  # compile errors surface before any work
        else:
            template = ShardedTemplates(prof.crl_shards, partial(self.template, profile))
        return BatchIssuer(
            template,
            self.signer,
            serials=_native.generate_serials if serials is None else serials,
            naming=partial(_policy_naming, prof),
            issuer_not_after=self.not_after,
            issuer_label=f"CA {self.name}",
        )

    def issue_batch(
        self,
        csrs: CsrInput,
        profile: str,
        *,
        now: int | None = None,
        threads: int | None = None,
        actor: str | None = None,
        audit_details: dict[str, Any] | None = None,
        parsed: _native.CsrBatch | None = None,
        screen: Screen | None = None,
        ra_data: Sequence[Any] | None = None,
        reserved: serial_reservations.ReservedSerials | None = None,
    ) -> IssueResult:
        """Issue one certificate per acceptable request; one slot per input in the result.

        Steps (BatchIssuer): split PEM -> parse + verify proof of possession in one
        Rust call (RFC 3647 §3.2.1) -> ``screen`` -> key and subject rules (the CP/CPS
        policy) -> duplicates in the batch -> CSPRNG serials -> fill + sign -> one store
        transaction, which also holds the batch's ``certificates.issued`` record listing
        the serials (RFC 3647 §5.4.1); refused items get one ``application.rejected``
        record. Rejected items get a status and a reason and nothing is stored for them.

        ``parsed``: ``_native.parse_csrs(..., verify=True)`` of these requests, when the
        caller has it: they are not parsed again, and its statuses stand as the proof
        of possession (not verified again). ``screen(parsed)``: refusals by index of the
        parsed batch, (IssueStatus, reason) each; it runs after proof of possession and
        before serials are allocated. ``actor`` and ``audit_details`` go into the
        records (the RA passes who asked and how the identity was checked).

        ``reserved``: serials this batch reserved in the store beforehand
        (store/serial_reservations.py; the Dask workers do): it signs only those, and its
        commit turns the reservations into certificates. Without it, CSPRNG serials
        drawn here, their uniqueness held by the store's constraint at the commit.

        ``ra_data``: one entry per request, in order (docs/ra-data.md): ``{"sans":
        [[kind, value], ...], "not_after": "2027-03-01T00:00:00Z"}``, both optional. The
        profile decides what it accepts (its SAN ``from``/``required``, its
        ``item_not_after``); an item it does not accept is refused alone. A malformed
        list (wrong count, types, date) raises BatchArgumentError before anything runs.

        A batch that fails with an exception (HSM signing, store error, ...) rolled
        back and stored nothing; it is recorded as a failed ``certificates.issued``
        (RFC 3647 §5.4.1 "failures"), unless an outer transaction of the caller is
        still open: that one rolls back too, and its owner records."""
        items = None
        known = self.workspace.profile_set.profiles.get(profile)
        if ra_data is None and known is not None and known.san_required:
            # A SAN the profile requires comes from RA data only: a batch without any
            # is judged as RA data giving nothing, so each item is refused (not issued
            # without the SAN its CP/CPS requires).
            ders, _, malformed = split_csr_input(csrs)
            ra_data = [{}] * (len(ders) + len(malformed))
        if ra_data is not None:
            # Checked before the batch starts, so a malformed list stores nothing.
            ders, _, malformed = split_csr_input(csrs)
            items = item_data_list(ra_data, len(ders) + len(malformed))
        try:
            return self._issue_batch(
                csrs,
                profile,
                now,
                threads,
                actor,
                audit_details,
                parsed,
                screen,
                items,
                reserved,
            )
        except Exception as exc:
            store = self.workspace.store
            if not store.in_transaction:
                audit.record_failure(
                    store,
                    audit.Event.CERTIFICATES_ISSUED,
                    exc,
                    actor=actor,
                    ca=self.name,
                    profile=profile,
                    **(audit_details or {}),
                )
            raise

    def _issue_batch(
        self,
        csrs: CsrInput,
        profile: str,
        now: int | None,
        threads: int | None,
        actor: str | None,
        audit_details: dict[str, Any] | None,
        parsed: _native.CsrBatch | None,
        screen: Screen | None,
        items: list[ItemData] | None = None,
        reserved: serial_reservations.ReservedSerials | None = None,
    ) -> IssueResult:
        prof = self._profile(profile)
        issuer = self._issuer(prof, reserved)
        now = int(time.time()) if now is None else int(now)
        not_before, not_after = policy.validity(prof, now)
        columns = None
        if items is not None:
            columns = judge_items(
                prof,
                items,
                not_before=not_before,
                not_after=not_after,
                ca_not_after=self.not_after,
                ca_label=f"CA {self.name}",
            )
        store = self.workspace.store
        commit = StoreCommit(
            store,
            self.name,
            prof,
            not_before,
            not_after,
            actor,
            audit_details,
            issuer_spki=self._issuer_spki(),
            algorithm=self.spec.signature_algorithm,
            reservation=None if reserved is None else reserved.batch,
        )
        result = issuer.issue(
            csrs,
            not_before=not_before,
            not_after=not_after,
            threads=threads,
            parsed=parsed,
            screens=() if screen is None else (screen,),
            commit=commit,
            items=columns,
        )
        status, reasons = result.status, result.reasons
        refused = np.flatnonzero(status != IssueStatus.ISSUED)
        if len(refused):
            # Failed applications are audited too (RFC 3647 §5.4.1), in their own record.
            audit.record(
                store,
                audit.Event.APPLICATION_REJECTED,
                actor=actor,
                outcome="failure",
                ca=self.name,
                profile=prof.name,
                count=len(refused),
                items=[
                    {
                        "index": int(i),
                        "status": IssueStatus(int(status[i])).name,
                        "reason": reasons[i],
                    }
                    for i in refused[:1000]
                ],
                **(audit_details or {}),
            )
        return IssueResult(
            result.certificates,
            status,
            reasons,
            profile=prof.name,
            ca=self.name,
            batch=commit.audit_seq,
        )
