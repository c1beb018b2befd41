"""The shard set of a sharded CRL built one shard at a time, by many workers (issue 19
§3): the one publication path (porthos.workspace.publication) cut at the shard.

* :func:`allocate` (the coordinator, once): the CA's next CRL number for the set and
  what it covers (revocations and holds up to a rowid), recorded ``crl.created``, in one
  store transaction. Unlike the single-process path the shards are built after that
  commit, elsewhere: a shard that fails leaves the number created and skipped (never
  repeated, RFC 5280 §5.2.3), and the next publication supersedes it.
* :func:`publish_shard` (a worker, per shard): lease the shard (store/shard_leases.py),
  read the revocations the number covers from the store, keep this shard's
  (``serial mod N``, the same function the single-process writer uses), build and sign
  its CRL, run the **gate** (no unexpired serial of the previous shard CRL dropped),
  write its files under the repository lock, then record ``crl.published`` and complete
  the lease in one transaction. A worker killed before that transaction leaves the
  lease to expire; the next worker rebuilds the shard, and the audit trail shows one
  ``crl.published`` for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from porthos import _native
from porthos.crl_reasons import REASONS
from porthos.exceptions import CrlGateError, PolicyError, PorthosError
from porthos.issuance.crl import RevocationColumns, build_crl, parse_crl, serial_ints
from porthos.issuance.key_checks import check_crl_signature
from porthos.store import audit, revocations, shard_leases
from porthos.workspace.fault_hooks import stall_if_asked
from porthos.workspace.publication import (
    hold_instruction,
    shard_file_name,
    shard_scheme,
    store_columns,
)
from porthos.workspace.repository import repository_lock, repository_path, write_crl_file

if TYPE_CHECKING:
    from pathlib import Path

    from porthos.issuance.signers import Signer
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = ["STALL_ENV", "ShardJob", "ShardResult", "allocate", "publish_shard"]

KIND = "shards"

#: Test hook (the killed-worker fault test): ``<file>:<shard>:<seconds>``. The first
#: worker to lease that shard writes its pid to <file> and sleeps, holding the lease,
#: so that the test can kill it there. Later workers find the file and do not stall.
STALL_ENV = "PORTHOS_TEST_SHARD_STALL"


@dataclass(frozen=True, slots=True)
class ShardJob:
    """One CRL number of a CA's shard set, as every worker needs it."""

    ca: str
    number: int
    this_update: int
    next_update: int
    revocations_upto: int
    holds_upto: int
    shards: int
    url: str  # the CDP template, with {shard}


@dataclass(frozen=True, slots=True)
class ShardResult:
    shard: int
    outcome: str  # shard_leases.Outcome value, or "published"
    entries: int | None = None
    sha256: str | None = None
    read_seconds: float | None = None  # the shard's rows from the store, as columns
    seconds: float | None = None  # lease to completion


def allocate(
    ws: Workspace,
    ca: CertificateAuthority,
    *,
    this_update: int,
    next_update: int,
    actor: str | None = None,
) -> ShardJob:
    """Number the CA's next shard set and record ``crl.created`` (one transaction)."""
    scheme = shard_scheme(ws, ca.name)
    if scheme is None:
        raise PolicyError(f"CA {ca.name} has no sharded CRL distribution point")
    store = ws.store
    with store.transaction():
        alloc = revocations.allocate_crl(store, ca.name, this_update=this_update, kind=KIND)
        job = ShardJob(
            ca.name,
            alloc.number,
            this_update,
            next_update,
            alloc.revocations_upto,
            alloc.holds_upto,
            scheme[0],
            scheme[1],
        )
        # entries: what the number covers, as the single-process path records it.
        audit.record(
            store,
            audit.Event.CRL_CREATED,
            actor=actor,
            **_details(job),
            entries=alloc.entries,
            executor="dask",
        )
    return job


def _details(job: ShardJob) -> dict[str, Any]:
    return dict(
        ca=job.ca,
        kind=KIND,
        number=job.number,
        this_update=job.this_update,
        next_update=job.next_update,
        revocations_upto=job.revocations_upto,
        holds_upto=job.holds_upto,
        shards=job.shards,
    )


def shard_columns(columns: RevocationColumns, shard: int, shards: int) -> RevocationColumns:
    """The entries of one shard: serial mod N == shard (the writer's crl_shard_of)."""
    if len(columns) == 0:
        return columns
    mask = _native.crl_shard_of(columns.serials, shards) == shard
    inv = columns.invalidity_dates
    return RevocationColumns(
        np.ascontiguousarray(columns.serials[mask]),
        columns.revocation_times[mask],
        columns.reasons[mask],
        None if inv is None else inv[mask],
    )


def gate(
    ws: Workspace, ca: CertificateAuthority, job: ShardJob, previous: Path, new: bytes
) -> None:
    """Refuse a shard CRL that drops a serial its predecessor (the shard file in the
    repository) listed, unless that certificate has expired by this_update (RFC 5280
    §3.3) or the entry was a hold since released (certificateHold, §5.3.1)."""
    if not previous.is_file():
        return
    old = parse_crl(previous.read_bytes())
    if len(old) == 0:
        return
    kept = parse_crl(new).lookup(old.columns.serials) >= 0
    dropped = ~kept & (old.columns.reasons != REASONS["certificateHold"])
    if not dropped.any():
        return
    # Each serial under its two spellings in the store: minimal hex, and padded to
    # whole octets.
    spellings = [
        (h, h.zfill(len(h) + len(h) % 2))
        for h in (format(serial, "x") for serial in serial_ints(old.columns.serials[dropped]))
    ]
    expiry = revocations.certificate_expiries(
        ws.store.conn, ca.name, [form for pair in spellings for form in pair]
    )
    bad = []
    for h, padded in spellings:
        not_after = expiry.get(h, expiry.get(padded))
        if not_after is None or not_after >= job.this_update:
            bad.append(h)
    if bad:
        raise CrlGateError(
            f"CA {ca.name}: shard CRL number {job.number} would drop {len(bad)} unexpired "
            f"revoked serial(s) its predecessor lists (first: {bad[0]}); nothing published"
        )


def publish_shard(
    ws: Workspace,
    ca: CertificateAuthority,
    signer: Signer,
    job: ShardJob,
    shard: int,
    *,
    holder: str,
    ttl: int,
    actor: str | None = None,
) -> ShardResult:
    """Lease, read, build, gate, write and record one shard (see the module doc).
    ``busy``/``superseded`` when the lease says so: nothing done."""
    store = ws.store
    got = shard_leases.lease(
        store,
        ca.name,
        KIND,
        shard,
        number=job.number,
        holder=holder,
        ttl=ttl,
        now=int(time.time()),
    )
    if got is not shard_leases.Outcome.LEASED:
        return ShardResult(shard, got.value)
    began = time.perf_counter()
    try:
        stall_if_asked(STALL_ENV, shard)
        columns = shard_columns(
            store_columns(
                store.conn,
                ca.name,
                job.revocations_upto,
                job.holds_upto,
                revocations.shard_key_range(shard, job.shards),
            ),
            shard,
            job.shards,
        )
        read = time.perf_counter() - began
        url = job.url.replace("{shard}", str(shard))
        crl = build_crl(
            ca.certificate,
            signer,
            columns,
            crl_number=job.number,
            this_update=job.this_update,
            next_update=job.next_update,
            idp_urls=[url],
            hold_instruction=hold_instruction(ws),
        )
        der = bytes(crl)
        check_crl_signature(
            der, ca.certificate, f"CRL shard {shard} of CA {ca.name}", signer.signature_algorithm
        )
        paths = (
            repository_path(ws, url),
            ws.path / "repository" / shard_file_name(job.url, shard),
        )
        gate(ws, ca, job, paths[-1], der)
        shard_leases.renew(
            store, ca.name, KIND, shard, holder=holder, ttl=ttl, now=int(time.time())
        )
        with repository_lock(ws):
            first = None
            for p in paths:
                if write_crl_file(p, der, job.number, same_as=first) and first is None:
                    first = p
        digest = hashlib.sha256(der).hexdigest()
        with store.transaction():
            shard_leases.complete(store, ca.name, KIND, shard, number=job.number, holder=holder)
            audit.record(
                store,
                audit.Event.CRL_PUBLISHED,
                actor=actor,
                **_details(job),
                entries=len(columns),
                urls=[url],
                sha256=digest,
                paths=[str(p.relative_to(ws.path)) for p in paths],
                shard=shard,
                executor="dask",
            )
    except BaseException as exc:
        # Let the next worker have the shard now; a store that is down cannot take it
        # back, and then the lease expires (the error that matters is exc).
        with contextlib.suppress(PorthosError):
            shard_leases.release(store, ca.name, KIND, shard, holder=holder)
        audit.record_failure(
            store,
            audit.Event.CRL_PUBLISHED,
            exc,
            actor=actor,
            ca=ca.name,
            kind=KIND,
            number=job.number,
            shard=shard,
        )
        raise
    took = time.perf_counter() - began
    return ShardResult(shard, "published", len(columns), digest, read, took)
