"""Workspace and CertificateAuthority: the batch issuance path of ARCHITECTURE.md.

A workspace is a directory:

    W/porthos.sqlite            the store (store.py); its presence means "initialised"
    W/keys/<ca>.p8              software CA keys, PKCS#8 DER, mode 0600 (software mode)
    W/hsm/                      HSM mode: hsm.json (module, tokens) and, for SoftHSM2, its
                                configuration and token store; the store's key_ref is then
                                an RFC 7512 PKCS#11 URI naming token and key label
    W/repository/<ca>.crt       each CA certificate, DER, under the file name its AIA
                                URL uses (000 §2.1: root-ca-1.crt, ha-device-ca-1.crt, ...)

Rust parses, verifies, fills and signs; this module decides (through policy.py) which
request gets which subject and validity, and records every issued certificate in one
store transaction per batch.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding as hsm_encoding
from cryptography.hazmat.primitives.serialization import PublicFormat as hsm_format
from numpy.typing import NDArray

from porthos import _native, hsm
from porthos.cpcps import policy
from porthos.cpcps.loader import CaProfile, Profile, ProfileSet, load_profile_set
from porthos.exceptions import (
    BatchArgumentError,
    KeyMaterialError,
    PolicyError,
    StoreError,
    WorkspaceError,
)
from porthos.issuance import signers
from porthos.issuance.pipeline import StageWorker, piece_cuts
from porthos.status import CsrStatus, IssueStatus
from porthos.store import audit
from porthos.store.sqlite import PARAM_SERIAL, PARAM_SUBJECT, CaRow, CertificateParams, Store
from porthos.workflows import changeover

__all__ = [
    "CertificateAuthority",
    "CsrInput",
    "IssueResult",
    "PemItem",
    "Workspace",
    "der_to_pem",
    "split_csr_pem",
    "subject_text",
]

CsrInput = str | bytes | bytearray | memoryview | Iterable[str | bytes]

STORE_FILE = "porthos.sqlite"
KEYS_DIR = "keys"
REPOSITORY_DIR = "repository"


# --------------------------------------------------------------------------------------
# PEM and names
# --------------------------------------------------------------------------------------

# RFC 7468 §7: "CERTIFICATE REQUEST"; "NEW CERTIFICATE REQUEST" is what older tools
# (Netscape, MS certreq) write and RFC 7468 §7 tells parsers to accept.
_PEM_BEGIN = re.compile(rb"-----BEGIN ((?:NEW )?CERTIFICATE REQUEST)-----")
_PEM_END = b"-----END %s-----"


@dataclass(frozen=True, slots=True)
class PemItem:
    """One CSR block: der is None when the block is unusable, and error says why."""

    der: bytes | None
    error: str = ""


def split_csr_pem(text: str | bytes) -> list[PemItem]:
    """Every CSR block of a PEM bundle, in order. Blocks of other labels are skipped.

    A block whose base64 is malformed, or that is never terminated, becomes an item with
    der=None (a per-item MALFORMED status later), never an exception: one broken request
    must not stop a batch."""
    data = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    items: list[PemItem] = []
    pos = 0
    while True:
        m = _PEM_BEGIN.search(data, pos)
        if m is None:
            break
        label = m.group(1)
        end_marker = _PEM_END % label
        end = data.find(end_marker, m.end())
        if end < 0:
            items.append(PemItem(None, f"PEM block '{label.decode()}' has no END line"))
            break
        next_begin = _PEM_BEGIN.search(data, m.end(), end)
        if next_begin is not None:
            # BEGIN, BEGIN, END: the first block lost its END line.
            items.append(PemItem(None, f"PEM block '{label.decode()}' has no END line"))
            pos = next_begin.start()
            continue
        body = b"".join(data[m.end() : end].split())
        try:
            der = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            items.append(PemItem(None, f"PEM base64 is malformed: {exc}"))
        else:
            if der:
                items.append(PemItem(der))
            else:
                items.append(PemItem(None, "PEM block is empty"))
        pos = end + len(end_marker)
    return items


def _looks_pem(data: bytes) -> bool:
    # DER starts with a SEQUENCE tag (0x30), which PEM text (RFC 7468 allows any
    # explanatory text before the BEGIN line) never does.
    return data[:1] != b"\x30" and b"-----BEGIN " in data


def _is_der_list(csrs: CsrInput) -> TypeGuard[list[bytes]]:
    """The common engine input, a list of DER requests: no PEM to look for. (A request
    starting 0x30 is never PEM, see _looks_pem.)"""
    return isinstance(csrs, list) and all(
        type(e) is bytes and e[:1] == b"\x30"
        for e in csrs  # noqa: E721 - exact type
    )


def split_csr_input(
    csrs: CsrInput,
) -> tuple[list[bytes], Sequence[int], list[tuple[int, str]]]:
    """The requests of ``csrs`` as (DER of each decodable item, its input index, (index,
    error) of each item that is not). A list of DER requests passes through as it is:
    one PemItem per request cost ~0.5 µs, on the one-core start of every batch."""
    if _is_der_list(csrs):
        return csrs, range(len(csrs)), []
    items = normalise_csr_input(csrs)
    ders = [item.der for item in items if item.der is not None]
    at = [i for i, item in enumerate(items) if item.der is not None]
    bad = [(i, item.error) for i, item in enumerate(items) if item.der is None]
    return ders, at, bad


def normalise_csr_input(csrs: CsrInput) -> list[PemItem]:
    """DER bytes, PEM text/bytes (a bundle), or a sequence of DER/PEM items -> items."""
    if isinstance(csrs, str):
        return split_csr_pem(csrs)
    if isinstance(csrs, (bytes, bytearray, memoryview)):
        data = bytes(csrs)
        return split_csr_pem(data) if _looks_pem(data) else [PemItem(data)]
    if _is_der_list(csrs):
        return [PemItem(e) for e in csrs]
    items: list[PemItem] = []
    for element in csrs:
        if isinstance(element, str) or _looks_pem(bytes(element)):
            blocks = split_csr_pem(element)
            if len(blocks) == 1:
                items.append(blocks[0])
            else:
                items.append(PemItem(None, f"expected one CSR PEM block, found {len(blocks)}"))
        else:
            items.append(PemItem(bytes(element)))
    return items


def der_to_pem(der: bytes, label: str = "CERTIFICATE") -> str:
    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


# Requests per piece when issue_batch streams a batch (parse+verify -> policy -> sign ->
# store): small enough that the first parse is short, large enough that each Rust call
# is still a real batch. At N = 10,000 on 2 cores, 2,048 and 3,072 were within noise of
# each other and ~3 % ahead of 1,024 (medians of 7, /tmp-style script in the issue 2
# notes). The last pieces shrink to _PIPELINE_LAST (pipeline.piece_cuts): the insert of
# the last piece has nothing left to overlap with.
_PIPELINE_PIECE = 2048
_PIPELINE_LAST = 256

# RFC 4514 §2.4: these are escaped anywhere in a value ('=' may be, but need not be;
# pyca/cryptography's rfc4514_string does not, and the store's subject column is
# compared with text that tools make from certificates).
_ESCAPE_RE = re.compile(r'([,+"\\<>;])')
# A compiled character-class search: ~0.25 µs on a 36-character UUID against ~0.5 µs
# for frozenset.isdisjoint, which looks every character up (once per certificate).
_NEEDS_ESCAPE = _ESCAPE_RE.search


def _rfc4514_escape(value: str) -> str:
    # Fast path first: issuance formats one subject per certificate, and almost no
    # value needs escaping, so skip the substitution unless a special character is there.
    if _NEEDS_ESCAPE(value):
        value = _ESCAPE_RE.sub(r"\\\1", value)
    if value.startswith((" ", "#")):
        value = "\\" + value
    # A trailing space is escaped too, unless it is the lone space just escaped.
    if value.endswith(" ") and value != "\\ ":
        value = value[:-1] + "\\ "
    return value


def subject_text(attributes: Sequence[tuple[str, str]]) -> str:
    """RFC 4514 string (most specific first) of a most-general-first attribute list."""
    if len(attributes) == 1:
        # One attribute (the CN of most profiles) whose value needs no escaping: the
        # common case of issuance, once per certificate, so no join and no regex.
        attr, value = attributes[0]
        if not _NEEDS_ESCAPE(value) and value[:1] not in _EDGE and value[-1:] != " ":
            return attr + "=" + value
    return ",".join([f"{a}={_rfc4514_escape(v)}" for a, v in reversed(attributes)])


_EDGE = ("", " ", "#")  # a value starting with these is escaped (or empty)


@dataclass(slots=True)
class _Screened:
    """The requests of one batch piece that passed every check, in request order:
    input index, the subject to issue, the SPKI DER and its SHA-256."""

    at: list[int]
    subjects: list[list[tuple[str, str]]]
    spkis: list[bytes]
    spki_hashes: list[bytes]


@dataclass(slots=True)
class _Issued:
    """What the batch's audit record needs of the stored rows: the serials in store
    order, and the subject of the first row (the record names it when it is alone)."""

    serials: list[str] = field(default_factory=list)
    first_subject: str | None = None

    def add(self, rows: Sequence[CertificateParams]) -> _Issued:
        if rows and self.first_subject is None:
            self.first_subject = rows[0][PARAM_SUBJECT]
        self.serials += [r[PARAM_SERIAL] for r in rows]
        return self


def _serial_texts(serials: NDArray[np.uint8]) -> list[str]:
    """Rows of serial octets -> the store's lower-case hex text, one string each."""
    text, width = serials.tobytes().hex(), 2 * serials.shape[1]
    return [text[r * width : (r + 1) * width] for r in range(serials.shape[0])]


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass
class IssueResult:
    """One slot per input request: certificate DER (None if rejected), status, reason."""

    certificates: list[bytes | None]
    status: NDArray[np.uint8]
    reasons: list[str]
    profile: str = ""
    ca: str = ""

    def __len__(self) -> int:
        return len(self.certificates)

    @property
    def issued_count(self) -> int:
        return int(np.count_nonzero(self.status == IssueStatus.ISSUED))

    @property
    def rejected_count(self) -> int:
        return len(self.certificates) - self.issued_count

    def issued(self) -> Iterator[tuple[int, bytes]]:
        for i, der in enumerate(self.certificates):
            if der is not None:
                yield i, der

    def rejected(self) -> Iterator[tuple[int, IssueStatus, str]]:
        for i in np.flatnonzero(self.status != IssueStatus.ISSUED).tolist():
            yield i, IssueStatus(int(self.status[i])), self.reasons[i]

    def pem(self) -> str:
        return "".join(der_to_pem(der) for _, der in self.issued())


# --------------------------------------------------------------------------------------
# CertificateAuthority
# --------------------------------------------------------------------------------------


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
        self._hsm_signer: signers.Pkcs11Signer | None = None
        self._templates: dict[tuple[str, int | None], _native.Template] = {}
        #: CA generation (000 §5.6) and state ('active'|'retired'|'terminated'), with
        #: the profile set of that generation; changeover.attach_generations sets them.
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
                f"label '{self.hsm_ref.label}'); it never leaves it (000 §6.2.6)"
            )
        if self._key is None:
            try:
                der = self._key_path.read_bytes()
            except OSError as exc:
                raise KeyMaterialError(f"cannot read the key of CA {self.name}: {exc}") from None
            self._key = _native.SoftwareKey.from_pkcs8(der, self.spec.signature_algorithm)
        return self._key

    def _profile(self, name: str) -> Profile:
        # A retired (000 §5.6) or terminated (§5.8) CA signs no certificate any more.
        changeover.check_may_issue(self)
        prof = self.profile_set.profiles.get(name)
        if prof is None or prof.issuer != self.name:
            mine = ", ".join(self.profiles) or "none"
            raise PolicyError(
                f"CA {self.name} does not issue profile {name!r} (its profiles: {mine}; 000 §7.1)"
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
        screen: Callable[[_native.CsrBatch], dict[int, tuple[IssueStatus, str]]] | None = None,
    ) -> IssueResult:
        """See ``_issue_batch``. A batch that fails with an exception (HSM signing,
        store error, ...) rolled back and stored nothing; it is recorded as a failed
        ``certificates.issued`` (000 §5.4.1 "failures"), unless an outer transaction
        of the caller is still open: that one rolls back too, and its owner records."""
        try:
            return self._issue_batch(
                csrs,
                profile,
                now=now,
                threads=threads,
                actor=actor,
                audit_details=audit_details,
                parsed=parsed,
                screen=screen,
            )
        except Exception as exc:
            store = self.workspace.store
            if not store.conn.in_transaction:
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
        *,
        now: int | None = None,
        threads: int | None = None,
        actor: str | None = None,
        audit_details: dict[str, Any] | None = None,
        parsed: _native.CsrBatch | None = None,
        screen: Callable[[_native.CsrBatch], dict[int, tuple[IssueStatus, str]]] | None = None,
    ) -> IssueResult:
        """Issue one certificate per acceptable request; one slot per input in the result.

        Steps: split PEM -> parse + verify proof of possession in one Rust call (000
        §3.2.1) -> key and subject rules (policy.py) -> duplicates in the batch -> CSPRNG
        serials -> one fill+sign call -> one store transaction, which also holds the
        batch's audit records (000 §5.4.1: one ``certificates.issued`` record listing the
        serials, one ``application.rejected`` record listing the refused items). Rejected
        items get a status and a reason and nothing is stored for them. ``actor`` and
        ``audit_details`` go into those records (the RA passes who asked and how the
        identity was checked).

        ``parsed``: ``csrs`` (DER requests) already parsed and verified by parse_csrs,
        not parsed again. ``screen``: the caller's checks on the parsed batch (the RA's),
        refusals by item index, applied like a policy refusal after proof of possession
        and before serials are allocated. Either turns streaming off."""
        prof = self._profile(profile)
        if prof.crl_shards is None:
            self.template(profile)  # compile errors surface before any work
        now = int(time.time()) if now is None else int(now)

        if parsed is None:
            ders, parsed_at, malformed = split_csr_input(csrs)
        else:
            # The caller's DER requests, one per parsed item (the RA's one parse).
            ders, parsed_at, malformed = list(csrs), range(len(parsed)), []  # type: ignore[arg-type]
            if len(ders) != len(parsed):
                raise BatchArgumentError(
                    f"parsed= holds {len(parsed)} requests for {len(ders)} CSRs; it must be "
                    "parse_csrs of exactly these DER requests"
                )
        n = len(ders) + len(malformed)
        status = np.zeros(n, dtype=np.uint8)
        reasons = [""] * n
        certificates: list[bytes | None] = [None] * n
        for i, error in malformed:
            status[i] = IssueStatus.MALFORMED
            reasons[i] = error

        not_before, not_after = policy.validity(prof, now)
        refusal = ""
        if not_after > self.not_after:
            # A certificate must not outlive its issuer: it would be unverifiable for
            # its tail (RFC 5280 §6.1.3 (a)(2)); 000 §5.6 replaces the hierarchy instead.
            refusal = (
                f"notAfter {_iso(not_after)} would be later than CA {self.name}'s notAfter "
                f"{_iso(self.not_after)} (000 §5.6)"
            )

        first_seen: dict[bytes, int] = {}

        def screen_piece(lo: int, hi: int, batch: Any) -> _Screened:
            """Verdicts for requests ders[lo:hi] (parsed and verified as ``batch``):
            refused ones get their status and reason; the accepted ones are returned,
            in request order."""
            piece = _Screened([], [], [], [])
            csr_status = batch.status
            for j in np.flatnonzero(csr_status != CsrStatus.OK).tolist():
                code = int(csr_status[j])
                i = parsed_at[lo + j]
                # IssueStatus 1-4 mirror CsrStatus 1-4 (status.py).
                status[i] = code if 1 <= code <= 4 else IssueStatus.REFUSED
                reasons[i] = batch.detail(j) or f"CSR status {code}"
            # Whole-batch columns and one policy call: per-item calls into Rust and
            # into policy.decide were most of the serial (one-core) part of issuance.
            ok = np.flatnonzero(csr_status == CsrStatus.OK)
            refused_by_hook = screen(batch) if screen is not None else {}
            for j, (code, reason) in refused_by_hook.items():
                if csr_status[j] == CsrStatus.OK:
                    status[parsed_at[lo + j]], reasons[parsed_at[lo + j]] = code, reason
            if refused_by_hook:
                ok = ok[~np.isin(ok, list(refused_by_hook))]
            ok_at = ok.tolist()
            all_subjects = batch.subjects()
            decided, why, decided_subjects = policy.decide_batch(
                prof, [all_subjects[j] for j in ok_at], batch.key_type[ok], batch.key_bits[ok]
            )
            all_spkis = batch.spkis()
            all_hashes = batch.spki_sha256()
            for j, code, reason, subject in zip(
                ok_at, decided, why, decided_subjects, strict=True
            ):
                i = parsed_at[lo + j]
                if code != IssueStatus.ISSUED:
                    status[i] = code
                    reasons[i] = reason
                    continue
                request = ders[lo + j]
                if request in first_seen:
                    status[i] = IssueStatus.DUPLICATE_IN_BATCH
                    reasons[i] = f"same request as item {first_seen[request]} of this batch"
                    continue
                first_seen[request] = i
                if refusal:
                    status[i] = IssueStatus.REFUSED
                    reasons[i] = refusal
                    continue
                assert subject is not None
                piece.at.append(i)
                piece.subjects.append(subject)
                piece.spkis.append(all_spkis[j])
                piece.spki_hashes.append(all_hashes[j])
            return piece

        # Every subject is the profile's prefix + the rule's tail (policy.build_subject),
        # so its RFC 4514 text is the tail's text, then the prefix's, made once.
        cut = len(prof.subject_prefix)
        prefix_text = "," + subject_text(prof.subject_prefix) if cut else ""

        name, profile_name = self.name, prof.name

        def rows_for(piece: _Screened, serials: list[str], signed: Sequence[bytes | None],
                     issued_at: int) -> list[CertificateParams]:  # fmt: skip
            # A screened piece -> store rows: serial r and certificate r of item r;
            # unsigned (HSM-refused) items get no row.
            subjects, spki_hashes = piece.subjects, piece.spki_hashes
            return [
                (
                    name,
                    serials[r],
                    subject_text(subjects[r][cut:]) + prefix_text,
                    profile_name,
                    not_before,
                    not_after,
                    der,
                    issued_at,
                    spki_hashes[r],
                )
                for r, der in enumerate(signed)
                if der is not None
            ]

        # With more than one core, a large unsharded batch signed by the software key is
        # streamed: pieces of _PIPELINE_PIECE requests go parse+verify -> policy -> sign
        # -> store, the Rust stages (GIL released, every core) on one helper thread and
        # the Python stages (policy, store rows, SQLite insert) on this one, so each
        # overlaps the other's work on the neighbouring pieces. Done one after the other,
        # the serial Python + SQLite part (~15 µs a request) left the cores idle for about
        # a third of the batch. Same verdicts, rows in the same order, one transaction;
        # the write lock is held from the first piece on (a fraction of a second).
        # One thread (threads=1) stays strictly sequential.
        streamed = (
            threads != 1
            and prof.crl_shards is None
            and self.hsm_ref is None  # the software key (HSM batches go to the pool)
            and not refusal
            and parsed is None
            and screen is None
            and len(parsed_at) >= 2 * _PIPELINE_PIECE
        )
        store = self.workspace.store
        piece = _Screened([], [], [], [])
        if streamed:
            self._issue_streamed(prof, ders, screen_piece, rows_for, certificates, not_before,
                                 not_after, threads, actor, audit_details)  # fmt: skip
        elif parsed_at:
            if parsed is None:
                parsed = _native.parse_csrs(ders, verify=True, threads=threads)
            piece = screen_piece(0, len(ders), parsed)

        k = len(piece.at)
        subjects, spkis = piece.subjects, piece.spkis
        if k and not streamed:
            signer = self.signer
            serials = _native.generate_serials(k)
            groups: list[tuple[int | None, NDArray[np.intp]]]
            if prof.crl_shards is None:
                groups = [(None, np.arange(k))]
            else:
                # Sharded CDP: one compiled template per shard (its CDP names the shard
                # URL); the serial decides the shard, so items are grouped by it. A
                # per-item CDP hole would save the compiles, but the templates are
                # cached and the groups still sign in parallel.
                of = _native.crl_shard_of(serials, prof.crl_shards)
                groups = [(int(s), np.flatnonzero(of == s)) for s in np.unique(of)]
            signed: list[bytes | None] = [None] * k
            sign_status = np.zeros(k, dtype=np.uint8)
            sign_reasons = [""] * k
            for shard, idx in groups:
                template = self.template(profile, shard)
                args: dict[str, Any] = dict(
                    serials=serials[idx],
                    not_before=np.full(len(idx), not_before, dtype=np.int64),
                    not_after=np.full(len(idx), not_after, dtype=np.int64),
                    # One group (no shards) is the whole batch: no per-item copy.
                    subjects=subjects if shard is None else [subjects[j] for j in idx.tolist()],
                    spkis=spkis if shard is None else [spkis[j] for j in idx.tolist()],
                )
                if isinstance(signer, signers.Pkcs11Signer):
                    # One item the HSM cannot sign fails alone; the batch goes on (issue 5).
                    part, part_status, part_reasons = signers.issue_certificates_partial(
                        template, signer, **args
                    )
                    for r, j in enumerate(idx.tolist()):
                        sign_status[j] = part_status[r]
                        sign_reasons[j] = part_reasons[r]
                else:
                    part = list(
                        signers.issue_certificates(
                            template, signer, threads=threads, **args
                        ).to_list()
                    )
                for j, der in zip(idx.tolist(), part, strict=True):
                    signed[j] = der
            # Committed before any certificate leaves this call (ARCHITECTURE "Store"),
            # with its audit record in the same transaction.
            rows = rows_for(piece, _serial_texts(serials), signed, int(time.time()))
            with store.transaction():
                store.insert_certificate_params(self.name, rows)
                self._record_issued(_Issued().add(rows), prof, actor, audit_details)
            for r, i in enumerate(piece.at):
                if signed[r] is None:
                    status[i] = IssueStatus.SIGNING_FAILED
                    reasons[i] = f"HSM signing failed: {sign_reasons[r]} (status {sign_status[r]})"
                else:
                    certificates[i] = signed[r]
        refused = np.flatnonzero(status != IssueStatus.ISSUED)
        if len(refused):
            # Failed applications are audited too (000 §5.4.1), in their own record.
            audit.record(
                self.workspace.store,
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
        return IssueResult(certificates, status, reasons, profile=prof.name, ca=self.name)

    def _record_issued(
        self,
        issued: _Issued,
        prof: Profile,
        actor: str | None,
        audit_details: dict[str, Any] | None,
        prepared: audit.Details | None = None,
    ) -> None:
        """The batch's one ``certificates.issued`` record (000 §5.4.1), listing the
        serials in store order; inside the caller's transaction. ``prepared``: its
        details made ahead by ``_issued_details`` for exactly ``issued.serials``."""
        if not issued.serials:
            return
        one = len(issued.serials) == 1
        audit.record(
            self.workspace.store,
            audit.Event.CERTIFICATES_ISSUED,
            actor=actor,
            subject=issued.first_subject if one else None,
            serial=issued.serials[0] if one else None,
            prepared=prepared or self._issued_details(issued.serials, prof, audit_details),
        )

    def _issued_details(
        self, serials: list[str], prof: Profile, audit_details: dict[str, Any] | None
    ) -> audit.Details:
        return audit.prepare(
            ca=self.name,
            profile=prof.name,
            count=len(serials),
            serials=serials,
            **(audit_details or {}),
        )

    def _issue_streamed(
        self,
        prof: Profile,
        ders: list[bytes],
        screen: Callable[[int, int, Any], _Screened],
        rows_for: Callable[..., list[CertificateParams]],
        certificates: list[bytes | None],
        not_before: int,
        not_after: int,
        threads: int | None,
        actor: str | None,
        audit_details: dict[str, Any] | None,
    ) -> None:
        """The streamed form of issue_batch (see there): ``screen`` gives each piece's
        accepted requests; their certificates go into ``certificates`` (returned to the
        caller only after the commit). Each piece's rows and inputs are dropped once it
        is stored, so freeing them overlaps the signing instead of following the commit
        (~3 ms of the one-core tail at N = 10,000)."""
        template = self.template(prof.name)
        signer = self.signer
        store = self.workspace.store
        cuts = piece_cuts(len(ders), _PIPELINE_PIECE, _PIPELINE_LAST)
        issued_at = int(time.time())
        issued = _Issued()

        def parse(p: int) -> Any:
            return _native.parse_csrs(ders[cuts[p] : cuts[p + 1]], verify=True, threads=threads)

        def sign(piece: _Screened, serials: NDArray[np.uint8]) -> list[bytes | None]:
            k = len(piece.at)
            return list(
                signers.issue_certificates(
                    template,
                    signer,
                    threads=threads,
                    serials=serials,
                    not_before=np.full(k, not_before, dtype=np.int64),
                    not_after=np.full(k, not_after, dtype=np.int64),
                    subjects=piece.subjects,
                    spkis=piece.spkis,
                ).to_list()
            )

        def store_piece(signing: tuple[Future[list[bytes | None]], _Screened, list[str]]) -> None:
            future, piece, serials = signing
            signed = future.result()
            rows = rows_for(piece, serials, signed, issued_at)
            store.insert_certificate_params(self.name, rows)
            issued.add(rows)
            for i, der in zip(piece.at, signed, strict=True):
                certificates[i] = der

        # The Rust stages run on one helper thread (pipeline.py): it parses pieces ahead
        # on its own and signs each piece as soon as this thread has screened it, while
        # this thread screens piece p and stores piece p-1.
        # The audit record lists every serial (~4 ms of JSON at 10,000): its details are
        # made once the last piece is screened, while the worker signs the last pieces,
        # and used if every serial was stored (the software key signs all or raises).
        serial_texts: list[str] = []
        prepared: audit.Details | None = None
        pieces = len(cuts) - 1
        with StageWorker[Any, list[bytes | None]](parse, pieces) as stages:
            with store.transaction():
                signing = None
                for p, (lo, hi) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
                    piece = screen(lo, hi, stages.parsed(p))
                    serials = _native.generate_serials(len(piece.at))
                    texts = _serial_texts(serials)
                    serial_texts += texts
                    queued = (stages.sign(functools.partial(sign, piece, serials)), piece, texts)
                    if p == pieces - 1:
                        prepared = self._issued_details(serial_texts, prof, audit_details)
                    if signing is not None:
                        store_piece(signing)
                    signing = queued
                if signing is not None:
                    store_piece(signing)
                if issued.serials != serial_texts:
                    prepared = None
                self._record_issued(issued, prof, actor, audit_details, prepared)

    def revoke(
        self,
        serials: Iterable[int | str],
        reason: str | int | None = None,
        *,
        when: int | None = None,
        invalidity_date: int | None = None,
        requester: str | None = None,
        now: int | None = None,
    ) -> int:
        """Revoke certificates of this CA (serials as ints or hex) with a RFC 5280
        §5.3.1 reason, through the rules of porthos.workflows.lifecycle.revoke (000 §4.9: reason
        allowed for the certificate, no suspension, all or nothing, requester and
        reason recorded and audited). ``requester`` defaults to the acting operator
        (audit.default_actor). Returns the number revoked; refusals raise
        LifecycleError. The next CRL of this CA lists them (§4.9.7)."""
        from porthos.workflows import lifecycle

        return len(
            lifecycle.revoke(
                self.workspace,
                serials,
                reason,
                requester=requester or audit.default_actor(),
                ca=self.name,
                when=when,
                invalidity_date=invalidity_date,
                now=now,
            )
        )


# --------------------------------------------------------------------------------------
# Workspace
# --------------------------------------------------------------------------------------


def _record_hierarchy(
    store: Store,
    rows: Sequence[CaRow],
    *,
    mode: str,
    generation: int = 1,
    transferable: bool = False,
) -> None:
    """Store the CAs of a new hierarchy (or CA generation, 000 §5.6) with their audit
    records, in one transaction (000 §5.4.1: CA key generation and CA certificate
    lifecycle events)."""
    from porthos import __version__

    extra: dict[str, Any] = {}
    if mode == "hsm":
        # 000 §6.2.6: whether the key may ever leave the HSM (wrapped under a key the
        # Security Officer trusts) or never (000 §6.1.1).
        extra["extractable"] = "wrap-with-trusted only" if transferable else "never"
    with store.transaction():
        store.add_cas(rows, generation=generation)
        for r in rows:
            cert = x509.load_der_x509_certificate(r.certificate)
            audit.record(
                store,
                audit.Event.CA_KEYGEN,
                subject=r.subject,
                ca=r.name,
                key_type=r.key_type,
                key_ref=r.key_ref,
                mode=mode,
                **extra,
            )
            audit.record(
                store,
                audit.Event.CA_CREATED,
                subject=r.subject,
                serial=format(cert.serial_number, "x"),
                ca=r.name,
                issuer=r.parent,
                not_after=int(cert.not_valid_after_utc.timestamp()),
                fingerprint_sha256=hashlib.sha256(r.certificate).hexdigest(),
            )
        audit.note_software_version(store, __version__)


def _write_private(path: Path, data: bytes) -> None:
    """Create a new file readable by the owner only (0600) and write data to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


@dataclass
class _Built:
    spec: CaProfile
    key: _native.SoftwareKey
    der: bytes
    files: list[Path] = field(default_factory=list)


class Workspace:
    """A CA hierarchy on disk: store, keys, published CA certificates."""

    def __init__(self, path: Path, store: Store, profile_set: ProfileSet) -> None:
        self.path = path
        self.store = store
        self.profile_set = profile_set
        #: HSM mode: module and tokens (None for software keys).
        self.hsm = hsm.WorkspaceHsm.load(path)
        self._hsm_pin: hsm.Secret | None = None
        self._hsm_sessions: int | None = None
        self._cas: dict[str, CertificateAuthority] = {}
        rows = {row.name: row for row in store.cas()}
        for name, spec in profile_set.cas.items():
            row = rows.get(name)
            if row is None:
                raise WorkspaceError(f"{path}: CA {name} is missing from the store")
            self._cas[name] = CertificateAuthority(self, spec, row)
        #: Profile set per CA generation (000 §5.6); ``profile_set`` is the active one.
        self.profile_sets: dict[int, ProfileSet] = {1: profile_set}
        self.generation = 1
        changeover.attach_generations(self)

    def __repr__(self) -> str:
        return f"<Workspace {self.path} ({self.env})>"

    @property
    def env(self) -> str:
        return self.profile_set.env

    @property
    def cas(self) -> list[CertificateAuthority]:
        """The CAs, root first."""
        return list(self._cas.values())

    def ca(self, name: str) -> CertificateAuthority:
        try:
            return self._cas[name]
        except KeyError:
            raise WorkspaceError(
                f"no CA {name!r} in this workspace; CAs: {', '.join(self._cas)}"
            ) from None

    @property
    def root(self) -> CertificateAuthority:
        """The self-signed root of the active generation (000 §5.6)."""
        return next(ca for ca in self.cas_of(self.generation) if ca.spec.self_signed)

    def cas_of(self, generation: int) -> list[CertificateAuthority]:
        """The CAs of one generation, root first."""
        return [ca for ca in self._cas.values() if ca.generation == generation]

    def rollover(
        self,
        *,
        now: int | None = None,
        root_pin_halves: Sequence[tuple[str, hsm.Secret]] | None = None,
        pin: hsm.Secret | None = None,
        actor: str | None = None,
    ) -> changeover.RolloverResult:
        """Create the next CA generation and the link certificates between the two
        roots (000 §5.6); see porthos.workflows.changeover.rollover."""
        return changeover.rollover(
            self, now=now, root_pin_halves=root_pin_halves, pin=pin, actor=actor
        )

    def terminate(
        self,
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
    ) -> changeover.TerminationResult:
        """Terminate every CA of the workspace (000 §5.8), destroying the CA keys or
        exporting them to the successor token ``export_to`` (in PKCS#11 ``module``,
        user PIN ``successor_pin``; HSM keys also need the tokens' Security Officer PIN
        ``so_pin``); see porthos.workflows.changeover.terminate."""
        return changeover.terminate(
            self,
            destroy_keys=destroy_keys,
            export_to=export_to,
            now=now,
            root_pin_halves=root_pin_halves,
            pin=pin,
            actor=actor,
            module=module,
            successor_pin=successor_pin,
            so_pin=so_pin,
        )

    def ca_for_profile(self, profile: str) -> CertificateAuthority:
        """The CA that issues a profile (PolicyError for an unknown profile)."""
        prof = self.profile_set.profiles.get(profile)
        if prof is None:
            raise PolicyError(
                f"unknown profile {profile!r}; profiles: {', '.join(self.profile_set.profiles)}"
            )
        return self._cas[prof.issuer]

    def repository_path(self, ca_name: str) -> Path:
        return self.path / REPOSITORY_DIR / f"{ca_name}.crt"

    # -- HSM mode ----------------------------------------------------------------------

    def activate(self, pin: hsm.Secret, *, sessions: int | None = None) -> None:
        """Give the issuing-CA token's PIN (one PIN: 000 §6.2.2); the issuing CAs
        then sign through session pools of ``sessions`` sessions (default: cores)."""
        if self.hsm is None:
            raise WorkspaceError(f"{self.path} keeps software keys; there is no HSM to activate")
        self.hsm.activate_module(self.path)
        self._hsm_pin = pin
        self._hsm_sessions = sessions
        # 000 §5.4.1: key activation is an audited event (the PIN itself never is, §6.4.2).
        audit.record(
            self.store, audit.Event.HSM_ACTIVATION, token=self.hsm.issuing_token, role="issuing"
        )

    def _open_hsm_signer(self, ca: CertificateAuthority) -> signers.Pkcs11Signer:
        assert ca.hsm_ref is not None and self.hsm is not None
        if ca.spec.self_signed:
            raise KeyMaterialError(
                f"the root key ({ca.name}) signs only inside Workspace.root_activation, "
                "with the PIN halves of two officers (000 §6.2.2)"
            )
        if self._hsm_pin is None:
            raise KeyMaterialError(
                f"the key of CA {ca.name} is in token '{ca.hsm_ref.token}': activate the "
                "workspace with the issuing-CA PIN first (Workspace.activate, --pin-file)"
            )
        spki = (
            x509.load_der_x509_certificate(ca.certificate)
            .public_key()
            .public_bytes(hsm_encoding.DER, hsm_format.SubjectPublicKeyInfo)
        )
        return signers.Pkcs11Signer(
            self.hsm.module,
            ca.hsm_ref.token,
            ca.hsm_ref.label,
            self._hsm_pin,
            ca.spec.signature_algorithm,
            sessions=self._hsm_sessions,
            public_key=spki,
        )

    @contextmanager
    def root_activation(
        self,
        halves: Sequence[tuple[str, hsm.Secret]],
        purpose: str,
        root_name: str | None = None,
    ) -> Iterator[signers.Pkcs11Signer]:
        """The root key, activated by two officers' PIN halves for one root operation
        (issuing-CA certificates, the root CRL); its sessions close on exit (000 §6.2.2).
        ``root_name``: a root of another generation (000 §5.6); default: the active one."""
        if self.hsm is None:
            raise WorkspaceError(f"{self.path} keeps software keys; the root is not in an HSM")
        root = self.ca(root_name) if root_name else self.root
        assert root.hsm_ref is not None
        pin, officers = hsm.dual_control_pin(halves)
        self.hsm.activate_module(self.path)
        signer = signers.Pkcs11Signer(
            self.hsm.module,
            root.hsm_ref.token,
            root.hsm_ref.label,
            pin,
            root.spec.signature_algorithm,
            sessions=1,
        )
        # 000 §5.4.1, §6.2.2: the activation names both officers. Recorded through the
        # caller's open transaction if there is one (a rollover records it with the
        # certificates the root signs), else on its own.
        audit.record(
            self.store,
            audit.Event.HSM_ACTIVATION,
            token=root.hsm_ref.token,
            role="root",
            officers=officers,
            purpose=purpose,
        )
        try:
            yield signer
        finally:
            signer.close()
            audit.record(
                self.store, audit.Event.HSM_DEACTIVATION, token=root.hsm_ref.token, role="root"
            )

    def close(self) -> None:
        for ca in self._cas.values():
            ca.close()
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Workspace:
        root = Path(path)
        db = root / STORE_FILE
        if not db.is_file():
            raise WorkspaceError(
                f"{root} is not an initialised porthos workspace (no {STORE_FILE})"
            )
        try:
            store = Store.open(db)
        except StoreError as exc:
            raise WorkspaceError(str(exc)) from None
        try:
            profile_set = load_profile_set(store.profile_set, store.env)
            ws = cls(root, store, profile_set)
            # 000 §5.4.1: a change of the CA software is an audited event; detected
            # here, the first time a porthos of another version opens the store.
            from porthos import __version__

            audit.note_software_version(store, __version__)
            return ws
        except BaseException:
            store.close()
            raise

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        env: str = "prod",
        *,
        profile_set: str = "porthos",
        now: int | None = None,
        hsm_setup: hsm.HsmSetup | None = None,
        transferable_keys: bool = False,
    ) -> Workspace:
        """Create the hierarchy of a profile set: CA keys (software, or generated in
        the HSM with ``hsm_setup``: 000 §6.1.1), the self-signed root, the issuing CAs
        signed by it, the store, the published CA certificates.

        ``transferable_keys`` (HSM mode only): the CA keys are generated sensitive but
        extractable under a trusted key only (hsm.generate_key ``transferable``), so
        that ``terminate --export-to`` can transfer them to a successor HSM in
        encrypted form under multi-person control (000 §6.2.6, §5.8)."""
        root = Path(path)
        if (root / STORE_FILE).exists():
            raise WorkspaceError(f"{root} is already an initialised porthos workspace")
        if transferable_keys:
            if hsm_setup is None:
                raise WorkspaceError(
                    "transferable keys are an HSM option (000 §6.2.6): software CA keys "
                    "are files and are exported by terminate --export-to without it"
                )
            hsm_setup = dataclasses.replace(hsm_setup, transferable_keys=True)
        ps = load_profile_set(profile_set, env)
        now = int(time.time()) if now is None else int(now)
        if hsm_setup is not None:
            return cls._init_hsm(root, env, ps, profile_set, now, hsm_setup)

        built: dict[str, _Built] = {}
        for spec in ps.cas.values():
            key = _native.SoftwareKey.generate(spec.key_type, spec.signature_algorithm)
            spki = key.public_key_der()
            not_after = spec.validity.not_after(now)
            if spec.self_signed:
                signer = key
                template = _native.Template(
                    spec.template_spec_json(),
                    _native.encode_name(list(spec.subject)),
                    _native.key_identifier(spki),
                    key.signature_algorithm,
                )
            else:
                parent = built[spec.issuer]
                signer = parent.key
                template = _native.Template.for_issuer(
                    spec.template_spec_json(), parent.der, parent.key.signature_algorithm
                )
                parent_not_after = parent.spec.validity.not_after(now)
                if not_after > parent_not_after:
                    raise WorkspaceError(
                        f"CA {spec.name} would outlive its issuer {parent.spec.name}"
                    )
            der = template.issue(
                signer,
                serials=_native.generate_serials(1),
                not_before=[now],
                not_after=[not_after],
                subjects=[list(spec.subject)],
                spkis=[spki],
            )[0]
            built[spec.name] = _Built(spec, key, der)

        # Everything is built in memory first; files are written only now, and removed
        # again if anything below fails, so a failed init leaves no half workspace.
        created: list[Path] = []
        try:
            for sub in ("", KEYS_DIR, REPOSITORY_DIR):
                d = root / sub
                if not d.exists():
                    d.mkdir(parents=True, mode=0o700 if sub == KEYS_DIR else 0o755)
                    created.append(d)
            rows = []
            for name, b in built.items():
                key_rel = f"{KEYS_DIR}/{name}.p8"
                try:
                    _write_private(root / key_rel, b.key.to_pkcs8())
                except FileExistsError:
                    raise WorkspaceError(
                        f"{root / key_rel} exists: not an empty workspace directory"
                    ) from None
                created.append(root / key_rel)
                crt = root / REPOSITORY_DIR / f"{name}.crt"
                crt.write_bytes(b.der)
                created.append(crt)
                rows.append(
                    CaRow(
                        name=name,
                        env=env,
                        subject=subject_text(b.spec.subject),
                        certificate=b.der,
                        key_ref=key_rel,
                        key_type=b.spec.key_type,
                        parent=b.spec.issuer,
                        created_at=now,
                    )
                )
            store = Store.create(root / STORE_FILE, env=env, profile_set=profile_set)
            created.append(root / STORE_FILE)
            try:
                _record_hierarchy(store, rows, mode="software")
            except BaseException:
                store.close()
                raise
        except BaseException:
            for p in reversed(created):
                if p.is_dir():
                    try:
                        p.rmdir()
                    except OSError:
                        pass
                else:
                    p.unlink(missing_ok=True)
                    for suffix in ("-wal", "-shm"):
                        Path(str(p) + suffix).unlink(missing_ok=True)
            raise
        return cls(root, store, ps)

    @classmethod
    def _init_hsm(
        cls,
        root: Path,
        env: str,
        ps: ProfileSet,
        profile_set: str,
        now: int,
        setup: hsm.HsmSetup,
    ) -> Workspace:
        """HSM mode of init: every CA key generated inside a token, the root key in its
        own token under the officers' dual-control PIN, used once (for its own
        certificate and the issuing-CA certificates) and its session closed."""
        for d in (root, root / REPOSITORY_DIR):
            d.mkdir(parents=True, exist_ok=True)
        pin, officers = hsm.dual_control_pin(setup.root_pin_halves)
        conf_rel: str | None = None
        if setup.softhsm:
            conf = hsm.softhsm_conf(root / "hsm")
            hsm.use_softhsm_conf(conf)
            conf_rel = str(conf.relative_to(root.resolve()))
        module = str(hsm.find_module(setup.module))
        hsm.load_module(module)
        hsm.init_token(module, setup.root_token, setup.so_pin, pin)
        hsm.init_token(module, setup.issuing_token, setup.so_pin, setup.user_pin)
        # The store does not exist yet: the HSM events are kept here and recorded, with
        # their own times, in the transaction that records the CAs (000 §5.4.1).
        events: list[tuple[str, int, dict[str, Any]]] = []

        def note(event: str, **details: Any) -> None:
            events.append((event, int(time.time()), details))

        note(audit.Event.HSM_TOKEN_INIT, token=setup.root_token, role="root", officers=officers)
        note(audit.Event.HSM_TOKEN_INIT, token=setup.issuing_token, role="issuing")
        spkis: dict[str, bytes] = {}
        for spec in ps.cas.values():
            token = setup.root_token if spec.self_signed else setup.issuing_token
            key_pin = pin if spec.self_signed else setup.user_pin
            spkis[spec.name] = hsm.generate_key(
                module,
                token,
                key_pin,
                spec.name,
                spec.key_type,
                transferable=setup.transferable_keys,
            )

        root_spec = next(s for s in ps.cas.values() if s.self_signed)
        ders: dict[str, bytes] = {}
        note(
            audit.Event.HSM_ACTIVATION,
            token=setup.root_token,
            role="root",
            officers=officers,
            purpose="root and issuing-CA certificates",
        )
        with signers.Pkcs11Signer(
            module,
            setup.root_token,
            root_spec.name,
            pin,
            root_spec.signature_algorithm,
            sessions=1,
            public_key=spkis[root_spec.name],
        ) as root_signer:
            for spec in ps.cas.values():
                spki = spkis[spec.name]
                if spec.self_signed:
                    template = _native.Template(
                        spec.template_spec_json(),
                        _native.encode_name(list(spec.subject)),
                        _native.key_identifier(spki),
                        spec.signature_algorithm,
                    )
                else:
                    if spec.issuer != root_spec.name:
                        raise WorkspaceError(
                            f"CA {spec.name} is issued by {spec.issuer}; HSM mode supports "
                            "a root and issuing CAs directly under it"
                        )
                    if spec.validity.not_after(now) > root_spec.validity.not_after(now):
                        raise WorkspaceError(f"CA {spec.name} would outlive its issuer")
                    template = _native.Template.for_issuer(
                        spec.template_spec_json(), ders[root_spec.name], spec.signature_algorithm
                    )
                ders[spec.name] = signers.issue_certificates(
                    template,
                    root_signer,
                    serials=_native.generate_serials(1),
                    not_before=np.array([now], dtype=np.int64),
                    not_after=np.array([spec.validity.not_after(now)], dtype=np.int64),
                    subjects=[list(spec.subject)],
                    spkis=[spki],
                )[0]
        note(audit.Event.HSM_DEACTIVATION, token=setup.root_token, role="root")

        ws_hsm = hsm.WorkspaceHsm(
            module, conf_rel, setup.root_token, setup.issuing_token, setup.transferable_keys
        )
        ws_hsm.save(root)
        rows = []
        for spec in ps.cas.values():
            token = setup.root_token if spec.self_signed else setup.issuing_token
            (root / REPOSITORY_DIR / f"{spec.name}.crt").write_bytes(ders[spec.name])
            rows.append(
                CaRow(
                    name=spec.name,
                    env=env,
                    subject=subject_text(spec.subject),
                    certificate=ders[spec.name],
                    key_ref=hsm.HsmKeyRef(token, spec.name).uri(),
                    key_type=spec.key_type,
                    parent=spec.issuer,
                    created_at=now,
                )
            )
        store = Store.create(root / STORE_FILE, env=env, profile_set=profile_set)
        try:
            # One transaction (the inner one joins it): the HSM events noted while no
            # store existed, then the CAs and their records.
            with store.transaction():
                for event, when, details in events:
                    audit.record(store, event, when=when, **details)
                _record_hierarchy(store, rows, mode="hsm", transferable=setup.transferable_keys)
        except BaseException:
            store.close()
            raise
        return cls(root, store, ps)
