"""The OCSP ceremony of an offline CA (``porthos ocsp ceremony``): the CA's own key,
activated under dual control for this one operation, pre-signs one batch of responses
for every certificate it issued, valid for the window the CP/CPS data allows, and
writes them through the on-disk contract (W/ocsp/<CA>/, docs/ocsp.md).

Which CAs: those whose ``[ocsp.cas.<ca>]`` table says ``responder = "ca"`` (RFC 6960
§4.2.2.2: the CA itself signs; an offline root has no online delegated responder). The
snapshot, the incremental rule (only what changed or falls within the refresh margin
is signed again) and the files are pre-signing's own (workflows/ocsp_presign.py); the
responder is the CA certificate with the CA key.

Dual control: in an HSM workspace the root key is activated with two officers' PIN
halves (``Workspace.root_activation``: the key pair is checked before anything is
signed, so a wrong PIN or one officer writes nothing); a software workspace signs with
the CA's key file. Audited as ``ocsp.ceremony`` with the counts and the window.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from porthos.cpcps.ocsp_table import OcspCa
from porthos.exceptions import LifecycleError, PolicyError
from porthos.store import audit
from porthos.workflows.ocsp_presign import (
    PresignResult,
    _presign_with,
    ocsp_cas,
    retired_ocsp_cas,
    snapshot,
)
from porthos.workflows.ocsp_responder import Responder
from porthos.workspace.generations import ocsp_entry

if TYPE_CHECKING:
    from porthos import hsm
    from porthos.issuance.signers import Signer
    from porthos.workspace.authority import CertificateAuthority
    from porthos.workspace.workspace import Workspace

__all__ = ["EVENT", "ceremony"]

EVENT = audit.Event.OCSP_CEREMONY


@contextlib.contextmanager
def _ca_key(
    ws: Workspace,
    authority: CertificateAuthority,
    root_halves: Sequence[tuple[str, hsm.Secret]] | None,
) -> Iterator[Signer]:
    if authority.hsm_ref is None:
        yield authority.signer  # software workspace: the CA's key file
        return
    if not root_halves or len(root_halves) < 2:
        raise LifecycleError(
            f"the OCSP responses of {authority.name} are signed by its key in the HSM: "
            "two officers' PIN halves are needed (§6.2.2, --root-officer twice)"
        )
    with ws.root_activation(
        root_halves, f"OCSP ceremony of {authority.name}", authority.name
    ) as s:
        yield s


def _spec(ws: Workspace, ca_name: str, now: int) -> OcspCa:
    """The CA's ``[ocsp]`` entry in the data of its own generation: a root retired by a
    changeover still signs its ARL (§5.6), so its ceremony goes on too."""
    if ca_name not in {c.name for c in ws.cas}:
        (spec,) = ocsp_cas(ws, ca_name)  # an unknown CA: "does not answer OCSP"
        return spec
    # A retired root whose certificates have all expired holds no more ceremonies.
    _, ended = retired_ocsp_cas(ws, now)
    if ca_name in ended:
        raise PolicyError(ended[ca_name])
    found = ocsp_entry(ws.ca(ca_name))
    if found is None:
        raise PolicyError(f"CA {ca_name!r} does not answer OCSP in {ws.profile_set.identity}")
    if not found.ca_signed:
        raise PolicyError(
            f"CA {ca_name} answers OCSP through a delegated responder "
            f"({found.responder_profile}): porthos ocsp presign --ca {ca_name}"
        )
    return found


def ceremony(
    ws: Workspace,
    ca_name: str,
    *,
    root_halves: Sequence[tuple[str, hsm.Secret]] | None = None,
    now: int | None = None,
    actor: str | None = None,
) -> PresignResult:
    """Pre-sign ``ca_name``'s own responses in one batch (see the module docstring)."""
    now = int(time.time()) if now is None else int(now)
    spec = _spec(ws, ca_name, now)
    authority = ws.ca(ca_name)
    snap = snapshot(ws, spec, now)
    if snap.next_update > authority.not_after:
        raise PolicyError(
            f"the responses of {ca_name} would outlive its certificate "
            f"({snap.next_update} > {authority.not_after})"
        )
    try:
        with _ca_key(ws, authority, root_halves) as signer:
            serial = authority.serial_hex.upper()
            responder = Responder(authority.certificate, serial, authority.not_after, signer)
            result = _presign_with(ws, spec, authority, snap, responder, now, None)
    except BaseException as exc:
        audit.record_failure(ws.store, EVENT, exc, actor=actor, ca=ca_name)
        raise
    audit.record(
        ws.store,
        EVENT,
        actor=actor,
        ca=ca_name,
        crl_number=result.crl_number,
        responses=result.responses,
        signed=result.signed,
        removed=result.removed,
        this_update=snap.this_update,
        next_update=snap.next_update,
        hashes=list(spec.hashes),
    )
    return result
