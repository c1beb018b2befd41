"""OCSP pre-signing (RFC 6960, RFC 5019): a signed response for every certificate of
each CA the CP/CPS says answers OCSP (``[ocsp]``, cpcps/ocsp_table.py), from one store
snapshot, consistent with the CRL of that snapshot, written as the files the responder
serves (workflows/ocsp_files.py; docs/ocsp.md).

The snapshot is the CA's newest published full CRL: the revocations and holds it lists
(the publication path's store columns, workspace.publication.store_columns) give
revoked, with time and reason; every other certificate the CA issued is good. With
``validity = { from_crl = true }`` thisUpdate / nextUpdate are that CRL's (Carillon
001 §10.5 fn 18), otherwise the run's time plus the CP/CPS's validity.

Incremental: a response is signed again only when its status (or revocation time or
reason) changed, its nextUpdate is within the refresh margin, the responder
certificate changed, or it was never signed. That state lives next to the files it
describes (``state.npz``, replaced just before the index), not in the store: it is a
statement about what is on disk, it is lost exactly when the files are (a lost state
means one full re-sign, which is always correct), and it needs no schema migration.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from porthos import _native
from porthos.cpcps.ocsp_table import OcspCa
from porthos.exceptions import BatchArgumentError, PolicyError, StoreIntegrityError
from porthos.issuance import ocsp
from porthos.issuance.crl import REASON_NONE
from porthos.store import audit
from porthos.store import ocsp as ocsp_store
from porthos.store.generations import RETIRED
from porthos.timestamps import iso_utc
from porthos.workflows import crl_end, ocsp_files
from porthos.workflows.ocsp_responder import ROTATED, Responder, current_responder
from porthos.workspace.generations import ocsp_entry
from porthos.workspace.publication import store_columns
from porthos.workspace.repository import repository_lock
from porthos.workspace.workspace import Workspace

if TYPE_CHECKING:
    from porthos import hsm
    from porthos.workspace.authority import CertificateAuthority

__all__ = [
    "OnDemandSigner",
    "PresignResult",
    "Snapshot",
    "ocsp_cas",
    "presign",
    "retired_ocsp_cas",
    "snapshot",
]

#: ``ocsp.presigned`` (docs/audit.md): one record per CA and run.
EVENT = audit.Event.OCSP_PRESIGNED


def ocsp_cas(ws: Workspace, only: str | None = None, *, now: int | None = None) -> list[OcspCa]:
    """The CAs the CP/CPS says answer OCSP (``only``: that one, which must be one): the
    active generation's, then each CA retired by a changeover that still answers, as
    its own generation's data says, until everything it issued has expired at ``now``
    (:func:`retired_ocsp_cas`)."""
    now = int(time.time()) if now is None else int(now)
    policy = ws.profile_set.ocsp
    cas = [] if policy is None else list(policy.cas.values())
    retired, ended = retired_ocsp_cas(ws, now)
    cas += retired
    if only is not None:
        if only in ended:
            raise PolicyError(ended[only])
        cas = [c for c in cas if c.ca == only]
        if not cas:
            raise PolicyError(f"CA {only!r} does not answer OCSP in {ws.profile_set.identity}")
    return cas


def retired_ocsp_cas(ws: Workspace, now: int) -> tuple[list[OcspCa], dict[str, str]]:
    """The retired CAs (RFC 3647 §5.6) whose ``[ocsp]`` entry in their own generation's
    data still applies: while anything they issued is unexpired their responses are
    refreshed (signed by their responder, or in a ceremony by a root), as their CRLs
    are (crl_end.py). After that, none: RFC 6960 §2.2 / §4.4.4 make a status for an
    expired certificate optional and BR §4.9.10 asks it only until expiry. Returns the
    entries, and a one-line reason for each CA whose responses stopped."""
    out: list[OcspCa] = []
    ended: dict[str, str] = {}
    for ca in ws.cas:
        if ca.status != RETIRED or ca.profile_set is ws.profile_set:
            continue
        spec = ocsp_entry(ca)
        if spec is None:
            continue
        last = crl_end.last_expiry(ws, ca)
        if last > now:
            out.append(spec)
        else:
            ended[ca.name] = (
                f"CA {ca.name} is retired and everything it issued expired by "
                f"{iso_utc(last)}: its OCSP responses are no longer refreshed "
                "(RFC 6960 §4.4.4, RFC 3647 §5.6)"
            )
    return out, ended


@dataclass
class Snapshot:
    """One CA's responses as of one CRL: the columns to sign, the serials as the
    store spells them (upper-case), and the times."""

    ca: str
    crl_number: int
    serial_hex: NDArray[np.str_]
    columns: ocsp.ResponseColumns
    this_update: int
    next_update: int


def _keys(serials: NDArray[np.uint8]) -> NDArray[np.bytes_]:
    # Rows are 20-octet big-endian magnitudes: as S20 they compare as the numbers do.
    return np.ascontiguousarray(serials).view("S20").ravel()


def snapshot(ws: Workspace, ca: OcspCa, now: int) -> Snapshot:
    """Read one CA's snapshot in one store transaction (store -> columns, no Python
    loop per row)."""
    store = ws.store
    with store.transaction() as conn:
        crl = ocsp_store.crl_snapshot(conn, ca.ca, audit.Event.CRL_PUBLISHED)
        if crl is None:
            raise PolicyError(
                f"CA {ca.ca} has published no full CRL: OCSP answers from the CRL's "
                "snapshot (porthos crl publish first)"
            )
        n, text, not_after = ocsp_store.certificate_columns(conn, ca.ca)
        # The CA certificates it issued (a root's sub CAs) are in the cas table.
        sub_hex, sub_not_after = ocsp_store.ca_certificate_columns(conn, ca.ca)
        if sub_hex:
            text = ",".join(([text] if n else []) + sub_hex)
            not_after = np.concatenate([not_after, np.asarray(sub_not_after, np.int64)])
            n += len(sub_hex)
        revoked = store_columns(conn, ca.ca, crl.revocations_upto, crl.holds_upto)
    try:
        serials = _native.serials_from_hex_text(text, n) if n else np.zeros((0, 20), np.uint8)
    except BatchArgumentError as exc:
        raise StoreIntegrityError(f"CA {ca.ca}: unreadable certificate serials ({exc})") from None
    hexes = np.char.upper(np.asarray(text.split(",") if n else [], dtype=np.str_))
    if ca.from_crl:
        this_update, next_update = crl.this_update, crl.next_update
    else:
        this_update, next_update = now, now + int(ca.validity_seconds or 0)
    keep = np.ones(n, bool) if ca.include_expired else not_after >= this_update
    serials, hexes = serials[keep], hexes[keep]
    status = np.zeros(len(serials), np.uint8)
    times = np.zeros(len(serials), np.int64)
    reasons = np.full(len(serials), REASON_NONE, np.uint8)
    if len(revoked) and len(serials):
        rk = _keys(revoked.serials)
        order = np.argsort(rk, kind="stable")
        sorted_keys = rk[order]
        ck = _keys(serials)
        at = np.minimum(np.searchsorted(sorted_keys, ck), len(sorted_keys) - 1)
        hit = sorted_keys[at] == ck
        rows = order[at[hit]]
        status[hit] = ocsp.REVOKED
        times[hit] = revoked.revocation_times[rows]
        reasons[hit] = revoked.reasons[rows]
    cols = ocsp.ResponseColumns(serials, status, times, reasons)
    return Snapshot(ca.ca, crl.number, hexes, cols, this_update, next_update)


@dataclass(frozen=True, slots=True)
class PresignResult:
    ca: str
    crl_number: int
    responses: int  # in the index after the run
    signed: int  # signed by this run (all hashes)
    removed: int  # responses dropped (expired certificates)
    responder_serial: str


def _stale(
    prev: ocsp_files.PresignState | None,
    snap: Snapshot,
    hash_name: str,
    now: int,
    margin: int,
    responder: str,
) -> NDArray[np.bool_]:
    """Which rows of the snapshot must be signed (again) for ``hash_name``."""
    n = len(snap.columns)
    if prev is None or prev.responder != responder or len(prev) == 0:
        return np.ones(n, bool)
    mine = np.flatnonzero(prev.hash == hash_name)
    old = prev.take(mine)
    order = np.argsort(old.serial_hex, kind="stable")
    sorted_hex = old.serial_hex[order]
    at = np.minimum(np.searchsorted(sorted_hex, snap.serial_hex), max(len(sorted_hex) - 1, 0))
    if len(sorted_hex) == 0:
        return np.ones(n, bool)
    found = sorted_hex[at] == snap.serial_hex
    rows = order[at]
    c = snap.columns
    changed = (old.status[rows] != c.status) | (
        (c.status == ocsp.REVOKED)
        & ((old.revocation_time[rows] != c.revocation_times) | (old.reason[rows] != c.reasons))
    )
    due = old.next_update[rows] - now <= margin
    return ~found | changed | due


def presign(
    ws: Workspace,
    ca_name: str | None = None,
    *,
    now: int | None = None,
    threads: int | None = None,
    actor: str | None = None,
) -> list[PresignResult]:
    """Pre-sign the responses of every OCSP-serving CA (or ``ca_name``); see the module
    docstring. Audited as ``ocsp.presigned`` per CA, after the files are in place."""
    now = int(time.time()) if now is None else int(now)
    out = []
    for ca in ocsp_cas(ws, ca_name, now=now):
        if ca.ca_signed and ca_name is None:
            continue  # an offline root signs in its ceremony (workflows/ocsp_ceremony.py)
        try:
            out.append(_presign_ca(ws, ca, now, threads))
        except BaseException as exc:
            audit.record_failure(ws.store, EVENT, exc, actor=actor, ca=ca.ca)
            raise
        r = out[-1]
        audit.record(
            ws.store,
            EVENT,
            actor=actor,
            ca=r.ca,
            crl_number=r.crl_number,
            responses=r.responses,
            signed=r.signed,
            removed=r.removed,
            responder=r.responder_serial,
            hashes=list(ca.hashes),
        )
    return out


def _presign_ca(ws: Workspace, ca: OcspCa, now: int, threads: int | None) -> PresignResult:
    authority = ws.ca(ca.ca)
    snap = snapshot(ws, ca, now)
    responder = current_responder(ws, authority, ca, now)
    try:
        if responder.not_after < snap.next_update:
            raise PolicyError(
                f"the OCSP responder certificate of {ca.ca} expires before nextUpdate "
                f"({responder.not_after} < {snap.next_update}): porthos ocsp rotate-responder"
            )
        return _presign_with(ws, ca, authority, snap, responder, now, threads)
    finally:
        responder.close()


def _presign_with(
    ws: Workspace,
    ca: OcspCa,
    authority: CertificateAuthority,
    snap: Snapshot,
    responder: Responder,
    now: int,
    threads: int | None,
) -> PresignResult:
    folder = ocsp_files.ca_dir(ws.path, ca.ca)
    folder.mkdir(parents=True, exist_ok=True)
    prev = ocsp_files.read_state(folder)
    parts: list[ocsp_files.PresignState] = []
    signed = 0
    with repository_lock(ws):
        for hash_name in ca.hashes:
            stale = _stale(prev, snap, hash_name, now, ca.refresh_margin, responder.fingerprint)
            rows = np.flatnonzero(stale)
            fresh = _sign_rows(authority, responder, snap, hash_name, rows, now, threads, folder)
            signed += len(rows)
            parts.append(fresh)
            if prev is not None and prev.responder == responder.fingerprint:
                kept = _kept(prev, snap, hash_name, rows)
                parts.append(kept)
        state = ocsp_files.PresignState.concat(parts, responder.fingerprint)
        removed = 0 if prev is None else max(len(prev) - len(state), 0)
        (folder / "issuer.der").write_bytes(authority.certificate)
        ocsp_files.write_config(
            folder,
            nonce=ca.nonce,
            hashes=ca.hashes,
            max_age_hint=max(snap.next_update - now, 0),
        )
        ocsp_files.write_state(folder, state)
        ocsp_files.write_index(folder, state)
        if prev is not None:
            _remove_dropped(folder, prev, state)
    return PresignResult(ca.ca, snap.crl_number, len(state), signed, removed, responder.serial_hex)


def _kept(
    prev: ocsp_files.PresignState, snap: Snapshot, hash_name: str, resigned: NDArray[np.intp]
) -> ocsp_files.PresignState:
    """The previous rows of ``hash_name`` still in the snapshot and not signed again."""
    wanted = np.setdiff1d(snap.serial_hex, snap.serial_hex[resigned])
    mask = (prev.hash == hash_name) & np.isin(prev.serial_hex, wanted)
    return prev.take(np.flatnonzero(mask))


def _sign_rows(
    authority: CertificateAuthority,
    responder: Responder,
    snap: Snapshot,
    hash_name: str,
    rows: NDArray[np.intp],
    now: int,
    threads: int | None,
    folder: Path,
) -> ocsp_files.PresignState:
    template = responder.template(authority.certificate, hash_name)
    cols = snap.columns.take(rows)
    batch = ocsp.sign_responses(
        template,
        responder.signer,
        cols,
        this_update=snap.this_update,
        next_update=snap.next_update,
        produced_at=now,
        threads=threads,
    )
    hexes = snap.serial_hex[rows]
    digests = ocsp_files.write_response_files(folder, hash_name, hexes.tolist(), batch)
    n = len(rows)
    return ocsp_files.PresignState(
        serial_hex=hexes.astype(np.str_),
        hash=np.full(n, hash_name, dtype="<U8"),
        status=cols.status,
        revocation_time=cols.revocation_times,
        reason=cols.reasons,
        this_update=np.full(n, snap.this_update, np.int64),
        next_update=np.full(n, snap.next_update, np.int64),
        produced_at=np.full(n, now, np.int64),
        sha256=np.asarray(digests, dtype="<U64"),
        responder=responder.fingerprint,
    )


def _remove_dropped(
    folder: Path, prev: ocsp_files.PresignState, state: ocsp_files.PresignState
) -> None:
    """Delete the files of responses no longer in the index (after it was replaced)."""
    gone = np.setdiff1d(prev.keys(), state.keys())
    for key in gone.tolist():
        serial, _, hash_name = key.partition("/")
        (folder / ocsp_files.response_path(hash_name, serial)).unlink(missing_ok=True)


@dataclass
class _Answering:
    """What the on-demand signer answers one CA from, and when it read it."""

    responder: Responder
    issuer: bytes
    snap: Snapshot
    read_at: float
    sorted_keys: NDArray[np.bytes_]
    order: NDArray[np.intp]


class OnDemandSigner:
    """One signed response at a time, for the responder's nonce / unknown-serial /
    other-hash path: the status comes from the same snapshot pre-signing uses (good,
    revoked with time and reason, or unknown for a serial the CA never issued).
    ``pin``: the issuing-CA token PIN of an HSM workspace.

    Safe to call from several threads (an HTTP server's workers): the store is read in
    a workspace opened by whichever thread refreshes (an SQLite connection belongs to
    its thread), at most every :data:`REFRESH` seconds per CA, under a lock; signing
    runs outside it."""

    REFRESH = 10.0

    def __init__(self, workdir: str | Path, *, pin: hsm.Secret | None = None) -> None:
        self.workdir = Path(workdir)
        self._pin = pin
        self._lock = threading.Lock()
        self._cache: dict[str, _Answering] = {}
        with Workspace.open(self.workdir):
            pass  # a bad workdir fails here, not on the first request

    def close(self) -> None:
        with self._lock:
            for a in self._cache.values():
                a.responder.close()
            self._cache.clear()

    def _answering(self, ca_name: str) -> _Answering:
        a = self._cache.get(ca_name)
        if a is not None and time.monotonic() - a.read_at < self.REFRESH:
            return a
        with self._lock:
            a = self._cache.get(ca_name)
            if a is not None and time.monotonic() - a.read_at < self.REFRESH:
                return a
            now = int(time.time())
            with Workspace.open(self.workdir) as ws:
                (ca,) = ocsp_cas(ws, ca_name)
                snap = snapshot(ws, ca, now)
                row = ocsp_store.latest_responder(ws.store.conn, ca_name, ROTATED)
                same = a is not None and row is not None and row.der == a.responder.certificate
                if same and a is not None and a.responder.not_after > now:
                    # The same responder: keep its signer (and its HSM sessions).
                    responder = a.responder
                else:
                    if self._pin is not None:
                        ws.activate(self._pin)  # HSM: the key is in the issuing-CA token
                    responder = current_responder(ws, ws.ca(ca_name), ca, now)
                    if a is not None:
                        a.responder.close()
                issuer = ws.ca(ca_name).certificate
            keys = _keys(snap.columns.serials)
            order = np.argsort(keys, kind="stable")
            a = _Answering(responder, issuer, snap, time.monotonic(), keys[order], order)
            self._cache[ca_name] = a
            return a

    def sign(self, ca_name: str, serial: bytes, hash: str, nonce: bytes | None) -> bytes:
        """One OCSPResponse for ``serial`` (its big-endian magnitude) of ``ca_name``,
        with CertID hash ``hash`` ("sha1" / "sha256") and, when given, ``nonce`` (the
        Nonce octets of RFC 8954 §2.1, 1 to 32) echoed."""
        a = self._answering(ca_name)
        key = _keys(ocsp.serial_row(serial))[0]
        at = int(np.searchsorted(a.sorted_keys, key))
        c = a.snap.columns
        if at < len(a.sorted_keys) and a.sorted_keys[at] == key:
            i = int(a.order[at])
            status, rev, reason = int(c.status[i]), int(c.revocation_times[i]), int(c.reasons[i])
        else:
            status, rev, reason = ocsp.UNKNOWN, 0, REASON_NONE
        template = a.responder.template(a.issuer, hash)
        return ocsp.sign_one(
            template,
            a.responder.signer,
            serial,
            status=status,
            this_update=a.snap.this_update,
            next_update=a.snap.next_update,
            produced_at=int(time.time()),
            revocation_time=rev,
            reason=reason,
            nonce=nonce,
        )

    def __enter__(self) -> OnDemandSigner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
