"""The one CRL publication path: number -> ``crl.created`` -> revocation columns from
the store -> build -> files written under the repository lock -> ``crl.published``.

Full, sharded, delta and final CRLs all take it, in two steps:

* :func:`prepare_crl` allocates the CRL number, reads exactly the revocations that
  number covers, builds and signs the CRL(s) and records ``crl.created``, all in ONE
  store transaction (the caller's, when one is open: a CA termination puts its final
  CRLs into the transaction that revokes and terminates);
* :func:`write_prepared` writes the files after that commit, each atomically
  (temporary file, fsync, rename) under the repository lock and never over a newer CRL
  of the same issuer, then records ``crl.published`` per file.

The atomicity rule, and why it is this one: a CRL never leaves the process before the
store records its number and contents (ARCHITECTURE "Store": every state change is one
transaction, committed before the artefact leaves the process). Building inside the
transaction means a failed build or signature rolls the number back together with its
``crl.created`` record: nothing was published under it, so the number was never seen
and RFC 5280 §5.2.3 (strictly increasing numbers) still holds. A crash after the commit
skips the number, never repeats it. Building before the commit is also what a
termination needs: its final CRLs are built, or the CAs are not terminated. (The
earlier publishers disagreed: two committed the number first and built afterwards, so
a failed signature left a number recorded as created that no CRL carried.) The cost is
the store's write lock held while one CA's CRL is signed.

Failures are audited (RFC 3647 §5.4.1): a failed build as a failed ``crl.created``,
a failed write as a failed ``crl.published``.

What a CRL's validity is, and when it is due, is the CP/CPS's to say: callers pass
``next_update`` (see porthos.workflows.crl_schedule).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np
from numpy.typing import NDArray

from porthos import _native
from porthos.crl_reasons import REASONS
from porthos.durable_files import write_atomically
from porthos.exceptions import BatchArgumentError, PolicyError, StoreError, StoreIntegrityError
from porthos.issuance.crl import (
    INVALIDITY_NONE,
    REASON_NONE,
    Progress,
    RevocationColumns,
    build_crl,
    build_shards,
    delta_columns,
    serials_from_hex,
)
from porthos.issuance.key_checks import check_crl_signature
from porthos.issuance.names import subject_text
from porthos.store import audit, holds, revocations
from porthos.workspace import ca_bundle
from porthos.workspace.repository import (
    crl_file_name,
    repository_lock,
    repository_path,
    write_crl_file,
)

if TYPE_CHECKING:
    import sqlite3

    from porthos.issuance.signers import Signer
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = [
    "KINDS",
    "CrlFile",
    "PreparedCrl",
    "Published",
    "prepare_crl",
    "publish_ca_certificates",
    "publish_crl",
    "shard_file_name",
    "shard_scheme",
    "store_columns",
    "write_prepared",
]

#: The kinds of CRL the store numbers, and the label each gets in a :class:`Published`.
KINDS: dict[str, str] = {"full": "crl", "shards": "crl-shard", "delta": "delta-crl"}


@dataclass(frozen=True, slots=True)
class Published:
    """One file (or set of copies of one file) written to the repository."""

    ca: str
    kind: str  # "crl", "crl-shard", "delta-crl" or "crt"
    number: int | None
    entries: int | None
    paths: tuple[Path, ...]
    sha256: str


@dataclass(frozen=True, slots=True)
class CrlFile:
    """One built CRL and the repository files it goes to."""

    der: bytes
    paths: tuple[Path, ...]  # where the URLs point first, the flat copy last
    urls: tuple[str, ...]
    entries: int
    shard: int | None = None


@dataclass(frozen=True, slots=True)
class PreparedCrl:
    """A CRL numbered, built, signed and recorded as created: only the files remain."""

    ca: str
    kind: str  # "full", "shards" or "delta"
    number: int
    entries: int
    this_update: int
    next_update: int
    revocations_upto: int
    files: tuple[CrlFile, ...]
    details: dict[str, Any] = field(default_factory=dict)  # extra audit fields
    holds_upto: int = 0


def store_columns(
    conn: sqlite3.Connection,
    ca_name: str,
    upto: int | None = None,
    holds_upto: int | None = None,
    key_range: tuple[int, int] | None = None,
) -> RevocationColumns:
    """A CA's revocations and open holds from the store as CRL columns (with ``upto``
    and ``holds_upto``: the set a CRL number covered). A hold is an entry with reason
    certificateHold dated when the hold was placed (RFC 5280 §5.3.1)."""
    serials, times, reasons, invalidity = revocation_arrays(conn, ca_name, upto, key_range)
    # A CRL numbered before a hold existed has holds_upto 0: no hold listed.
    held = holds.held_at(conn, ca_name, holds_upto) if holds_upto != 0 else []
    if held:
        # Few (a hold lasts months at most): one row each is fine here.
        serials = np.concatenate([serials, serials_from_hex([h.serial_hex for h in held])])
        times = np.concatenate([times, np.array([h.held_at for h in held], np.int64)])
        hold = REASONS["certificateHold"]
        reasons = np.concatenate([reasons, np.full(len(held), hold, np.uint8)])
        invalidity = np.concatenate([invalidity, np.full(len(held), INVALIDITY_NONE, np.int64)])
    if len(times) == 0:
        return RevocationColumns.empty()
    return RevocationColumns(serials, times, reasons, invalidity)


def revocation_arrays(
    conn: sqlite3.Connection,
    ca_name: str,
    upto: int | None,
    key_range: tuple[int, int] | None = None,
) -> tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.uint8], NDArray[np.int64]]:
    """A CA's revocations as the CRL writer's four columns (serials N x 20), decoded from
    the store's column text without a Python object per row (``key_range``: only the
    serials of one CRL shard, revocations.shard_key_range)."""
    n, serial_text, times, reasons, invalidity = revocations.revocation_text_columns(
        conn,
        ca_name,
        upto,
        no_reason=REASON_NONE,
        no_invalidity=INVALIDITY_NONE,
        key_range=key_range,
    )
    try:
        serials = _native.serials_from_hex_text(serial_text, n)
    except BatchArgumentError as exc:
        raise StoreIntegrityError(f"CA {ca_name}: unreadable revocation serials ({exc})") from None
    return serials, times, reasons, invalidity


def hold_instruction(ws: Workspace) -> str | None:
    """The holdInstructionCode the CP/CPS gives certificateHold entries (None: absent,
    or no suspension)."""
    suspension = ws.profile_set.revocation.suspension
    return None if suspension is None else suspension.hold_instruction


def shard_scheme(ws: Workspace, ca_name: str) -> tuple[int, str] | None:
    """(shards, URL template) when the CA's profiles put shard URLs in their CDPs (the
    profile loader checks that all of a CA's sharded profiles agree). Read from the
    CA's own generation's data: a retired CA's certificates point at its shard URLs
    until they expire, so its shard sets are published as its full CRLs are (§5.6)."""
    ca = next((c for c in ws.cas if c.name == ca_name), None)
    profile_set = ws.profile_set if ca is None else ca.profile_set
    for prof in profile_set.profiles.values():
        if prof.issuer == ca_name and prof.crl_shards is not None:
            return prof.crl_shards, prof.crl_shard_urls[0]
    return None


def shard_file_name(url_template: str, shard: int) -> str:
    """The flat repository file of a shard: its URL's last path segment."""
    return Path(urlsplit(url_template.replace("{shard}", str(shard))).path).name


def _full_files(
    ws: Workspace, ca: CertificateAuthority, der: bytes, urls: Sequence[str], entries: int
) -> tuple[CrlFile, ...]:
    paths = [repository_path(ws, u) for u in urls]
    paths.append(ws.path / "repository" / crl_file_name(ca))
    return (CrlFile(der, tuple(paths), tuple(urls), entries),)


def _shard_files(
    ws: Workspace, crls: Sequence[Any], url: str, columns: RevocationColumns
) -> tuple[CrlFile, ...]:
    counts = np.bincount(_native.crl_shard_of(columns.serials, len(crls)), minlength=len(crls))
    out = []
    for s, shard_crl in enumerate(crls):
        shard_url = url.replace("{shard}", str(s))
        paths = (
            repository_path(ws, shard_url),
            ws.path / "repository" / shard_file_name(url, s),
        )
        out.append(CrlFile(bytes(shard_crl), paths, (shard_url,), int(counts[s]), s))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Dates:
    """The number and times every CRL of one preparation carries."""

    number: int
    this_update: int
    next_update: int
    progress: Progress | None


def _build(
    ws: Workspace,
    ca: CertificateAuthority,
    signer: Signer,
    columns: RevocationColumns,
    at: _Dates,
    *,
    scheme: tuple[int, str] | None,
    delta_base: int | None,
    urls: Sequence[str],
) -> tuple[CrlFile, ...]:
    """Build and sign: the shard set of ``scheme``, a delta CRL listing ``columns`` over
    ``delta_base``, or a full CRL; each with the files it goes to."""
    if scheme is not None:
        shards, url = scheme
        crls = build_shards(
            ca.certificate,
            signer,
            columns,
            crl_numbers=[at.number] * shards,
            url_template=url,
            this_update=at.this_update,
            next_update=at.next_update,
            progress=at.progress,
            hold_instruction=hold_instruction(ws),
        )
        for shard in crls:
            check_crl_signature(
                shard.der,
                ca.certificate,
                f"a CRL shard of CA {ca.name}",
                signer.signature_algorithm,
            )
        return _shard_files(ws, crls, url, columns)
    crl = build_crl(
        ca.certificate,
        signer,
        columns,
        crl_number=at.number,
        this_update=at.this_update,
        next_update=at.next_update,
        delta_base=delta_base,
        progress=at.progress,
        hold_instruction=hold_instruction(ws),
    )
    # One copy of the bytes, checked and written (a 1M-entry CRL is 50 MB: each copy
    # costs ~25 ms, and the check copies a memoryview it is given).
    der = bytes(crl)
    # Inside the transaction: a CRL that does not verify rolls its number back and is
    # never written (issue 20 §2; the key was checked at load, this checks the output).
    check_crl_signature(
        der, ca.certificate, f"the CRL of CA {ca.name}", signer.signature_algorithm
    )
    if delta_base is not None:
        path = ws.path / "repository" / f"{ca.name}-delta.crl"
        return (CrlFile(der, (path,), (), len(columns)),)
    return _full_files(ws, ca, der, urls, len(columns))


def prepare_crl(
    ws: Workspace,
    ca: CertificateAuthority,
    signer: Signer,
    *,
    kind: str,
    this_update: int,
    next_update: int,
    urls: Sequence[str] = (),
    actor: str | None = None,
    details: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> PreparedCrl:
    """Number, build, sign and record (``crl.created``) one CRL of ``ca`` in one
    transaction: a full CRL (for the CDP ``urls`` and the flat ``<ca>.crl``), the shard
    set of a sharded CDP (one number for the set: each shard is its own scope, and each
    scope's numbers still strictly increase), or a delta CRL over the CA's newest full
    CRL (RFC 5280 §5.2.4, the flat ``<ca>-delta.crl``). ``details`` go into both audit
    records."""
    if kind not in KINDS:
        raise StoreError(f"unknown CRL kind {kind!r}")
    store = ws.store
    extra = dict(details or {})
    base = None
    if kind == "delta":
        base = revocations.last_full_crl(store.conn, ca.name)
        if base is None:
            raise PolicyError(
                f"CA {ca.name} has no full CRL to be the base of a delta CRL; publish one first"
            )
        extra["delta_base"] = base.number
    scheme = shard_scheme(ws, ca.name) if kind == "shards" else None
    if kind == "shards" and scheme is None:
        raise PolicyError(f"CA {ca.name} has no sharded CRL distribution point")
    try:
        with store.transaction() as conn:
            alloc = revocations.allocate_crl(store, ca.name, this_update=this_update, kind=kind)
            columns = store_columns(conn, ca.name, alloc.revocations_upto, alloc.holds_upto)
            if scheme is not None:
                extra["shards"] = scheme[0]
            elif base is not None:
                columns = delta_columns(
                    store_columns(conn, ca.name, base.revocations_upto, base.holds_upto),
                    columns,
                )
            files = _build(
                ws,
                ca,
                signer,
                columns,
                _Dates(alloc.number, this_update, next_update, progress),
                scheme=scheme,
                delta_base=None if base is None else base.number,
                urls=urls,
            )
            entries = len(columns)
            prepared = PreparedCrl(
                ca.name,
                kind,
                alloc.number,
                entries,
                this_update,
                next_update,
                alloc.revocations_upto,
                files,
                extra,
                alloc.holds_upto,
            )
            audit.record(store, audit.Event.CRL_CREATED, actor=actor, **_created(prepared))
    except BaseException as exc:
        # After the rollback (or inside the caller's transaction, which rolls it back).
        audit.record_failure(
            store, audit.Event.CRL_CREATED, exc, actor=actor, ca=ca.name, kind=kind
        )
        raise
    return prepared


def _created(p: PreparedCrl) -> dict[str, Any]:
    return dict(
        ca=p.ca,
        kind=p.kind,
        number=p.number,
        entries=p.entries,
        this_update=p.this_update,
        next_update=p.next_update,
        revocations_upto=p.revocations_upto,
        holds_upto=p.holds_upto,
        **p.details,
    )


def write_prepared(
    ws: Workspace, prepared: PreparedCrl, *, actor: str | None = None
) -> list[Published]:
    """Write a prepared CRL's files (after the transaction that prepared it committed)
    under the repository lock, then record ``crl.published`` for each file."""
    store = ws.store
    try:
        with repository_lock(ws):
            for f in prepared.files:
                first: Path | None = None
                for p in f.paths:
                    if write_crl_file(p, f.der, prepared.number, same_as=first) and not first:
                        first = p  # holds these bytes now: link the other paths to it
    except BaseException as exc:
        audit.record_failure(
            store,
            audit.Event.CRL_PUBLISHED,
            exc,
            actor=actor,
            ca=prepared.ca,
            kind=prepared.kind,
            number=prepared.number,
        )
        raise
    out = []
    with store.transaction():
        for f in prepared.files:
            digest = hashlib.sha256(f.der).hexdigest()
            details = _created(prepared)
            details.update(entries=f.entries, urls=list(f.urls), sha256=digest)
            details["paths"] = [str(p.relative_to(ws.path)) for p in f.paths]
            if f.shard is not None:
                details["shard"] = f.shard
            audit.record(store, audit.Event.CRL_PUBLISHED, actor=actor, **details)
            label = KINDS[prepared.kind]
            out.append(Published(prepared.ca, label, prepared.number, f.entries, f.paths, digest))
    return out


def publish_crl(
    ws: Workspace,
    ca: CertificateAuthority,
    signer: Signer,
    *,
    kind: str,
    this_update: int,
    next_update: int,
    urls: Sequence[str] = (),
    actor: str | None = None,
    progress: Progress | None = None,
    details: dict[str, Any] | None = None,
) -> list[Published]:
    """:func:`prepare_crl` then :func:`write_prepared`; a full CRL of a CA whose
    profiles shard the CDP is followed by its shard set. ``details``: added to the
    CRL's audit records (e.g. a retired CA's final CRL)."""
    prepared = prepare_crl(
        ws,
        ca,
        signer,
        kind=kind,
        this_update=this_update,
        next_update=next_update,
        urls=urls,
        actor=actor,
        details=details,
        progress=progress,
    )
    out = write_prepared(ws, prepared, actor=actor)
    if kind == "full" and shard_scheme(ws, ca.name) is not None:
        out += publish_crl(
            ws,
            ca,
            signer,
            kind="shards",
            this_update=this_update,
            next_update=next_update,
            actor=actor,
            progress=progress,
        )
    return out


def publish_ca_certificates(
    ws: Workspace, urls: dict[str, tuple[str, str]], *, actor: str | None = None
) -> list[Published]:
    """Every CA certificate at the AIA URLs naming it (RFC 3647 §2.1, §2.3): the DER
    certificate at a ``.crt`` URL, the certs-only bundle of every certificate issued to
    the CA at a ``.p7c`` URL (workspace/ca_bundle.py; also kept as the flat
    ``W/repository/<ca>.p7c``). A file is rewritten (and audited) only when its content
    changes."""
    out = []
    for ca in ws.cas:
        mine = sorted(u for u, (kind, name) in urls.items() if kind == "crt" and name == ca.name)
        files = [(repository_path(ws, u), ca_bundle.published_bytes(ws, ca, u)) for u in mine]
        bundles = [
            data for u, (_, data) in zip(mine, files, strict=True) if ca_bundle.is_bundle_url(u)
        ]
        if bundles:
            files.append((ca_bundle.flat_path(ws, ca.name, ca_bundle.BUNDLE_SUFFIX), bundles[0]))
        changed = [p for p, data in files if write_atomically(p, data)]
        if not changed:
            continue
        digest = hashlib.sha256(ca.certificate).hexdigest()
        extra: dict[str, Any] = {}
        if bundles:
            extra["bundle_sha256"] = hashlib.sha256(bundles[0]).hexdigest()
        audit.record(
            ws.store,
            audit.Event.CA_CERTIFICATE_PUBLISHED,
            actor=actor,
            subject=subject_text(ca.subject),
            serial=ca.serial_hex,
            ca=ca.name,
            paths=[str(p.relative_to(ws.path)) for p in changed],
            urls=mine,
            sha256=digest,
            **extra,
        )
        out.append(Published(ca.name, "crt", None, None, tuple(changed), digest))
    return out
