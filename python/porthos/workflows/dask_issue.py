"""Batch issuance across Dask workers (issue 19 §3).

The CSR batch is split into chunks; each worker issues its chunk through the CA's own
batch path (``CertificateAuthority.issue_batch``: policy, CSPRNG serials, fill and sign
with the worker's key or HSM session pool, opened once per worker by
:class:`porthos.workflows.dask_crl.WorkspacePlugin`), and the chunk's certificates and
its ``certificates.issued`` record are ONE store transaction. Serial uniqueness across
workers is the database's: the ``UNIQUE (ca_name, serial_hex)`` constraint fails a
chunk that would repeat a serial (then nothing of that chunk is stored; RFC 5280
§4.1.2.2), and the other chunks stand. The result keeps the input order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from distributed import Client, get_worker

from porthos.workflows.dask_crl import PLUGIN, WorkspacePlugin

if TYPE_CHECKING:
    from porthos.hsm import Secret
    from porthos.workspace.workspace import Workspace

__all__ = ["ChunkResult", "issue_chunks"]


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """One chunk as issued: (input index, DER) of each certificate, (input index,
    reason) of each refusal, and the id of its ``certificates.issued`` record."""

    issued: list[tuple[int, bytes]]
    rejected: list[tuple[int, str]]
    batch: int | None


def _issue_task(
    profile: str, chunk: list[bytes], offset: int, now: int, actor: str | None
) -> ChunkResult:
    plugin: WorkspacePlugin = get_worker().plugins[PLUGIN]  # type: ignore[assignment]
    with plugin.lock:
        ws = plugin.workspace()
        issuer = ws.profile_set.profile(profile).issuer
        res = ws.ca(issuer).issue_batch(chunk, profile, now=now, actor=actor)
    return ChunkResult(
        [(offset + i, der) for i, der in res.issued()],
        [(offset + i, reason) for i, _, reason in res.rejected()],
        res.batch,
    )


def issue_chunks(
    ws: Workspace,
    csrs: Sequence[bytes],
    profile: str,
    *,
    client: Client,
    chunk: int = 1000,
    now: int | None = None,
    pin: Secret | None = None,
    actor: str | None = None,
) -> list[ChunkResult]:
    """Issue ``csrs`` (DER) under ``profile`` in chunks of ``chunk`` on the cluster
    behind ``client``; one result per chunk, in input order. A chunk that fails (a
    serial collision, the store gone) raises its error after the others finished."""
    now = int(time.time()) if now is None else int(now)
    ws.profile_set.profile(profile)  # an unknown profile: one clear error first
    client.register_plugin(
        WorkspacePlugin(str(ws.path.resolve()), None if pin is None else pin.reveal()),
        name=PLUGIN,
    )
    futures = [
        client.submit(_issue_task, profile, list(csrs[lo : lo + chunk]), lo, now, actor,
                      pure=False)
        for lo in range(0, len(csrs), chunk)
    ]  # fmt: skip
    try:
        return list(client.gather(futures))
    finally:
        client.cancel(futures)
