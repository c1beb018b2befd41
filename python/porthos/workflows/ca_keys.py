"""The CA keys of a workspace during a rollover or a termination (000 §5.6, §5.8): the
PINs that reach them (two officers for the root token, 000 §6.2.2), a signer over one
in its token, whether one is still there, and its destruction.

Software keys are PKCS#8 files under ``W/keys/``; HSM keys are objects in the
workspace's tokens, labelled with the CA name (porthos.hsm.key_objects).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from porthos import hsm
from porthos.cpcps.profiles import CaProfile
from porthos.durable_files import fsync_dir
from porthos.exceptions import LifecycleError
from porthos.hsm import key_objects
from porthos.issuance import signers
from porthos.issuance.names import subject_text
from porthos.store import audit
from porthos.workspace.authority import CertificateAuthority
from porthos.workspace.workspace import Workspace

__all__ = [
    "destroy_hsm_key",
    "destroy_ca_keys",
    "destroy_software_key",
    "hsm_signer",
    "key_present",
    "officer_pins",
    "spki_of",
]


def spki_of(cert_der: bytes) -> bytes:
    """The SubjectPublicKeyInfo (DER) of a certificate."""
    return (
        x509.load_der_x509_certificate(cert_der)
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )


def officer_pins(
    ws: Workspace,
    root_pin_halves: Sequence[tuple[str, hsm.Secret]] | None,
    pin: hsm.Secret | None,
    what: str,
) -> tuple[hsm.Secret, list[str], hsm.Secret]:
    """(root PIN, officers, issuing-token PIN) for an HSM operation on CA keys."""
    if not root_pin_halves:
        # 000 §6.2.2: creation and deletion of CA keys, and every use of the root key,
        # need two HSM Security Officers.
        raise LifecycleError(
            f"{what} needs the root PIN halves of two HSM Security Officers (000 §6.2.2)"
        )
    root_pin, officers = hsm.dual_control_pin(root_pin_halves)
    issuing_pin = pin if pin is not None else ws._hsm_pin
    if issuing_pin is None:
        raise LifecycleError(f"{what} needs the PIN of the issuing-CA token (000 §6.2.2)")
    return root_pin, officers, issuing_pin


def hsm_signer(
    ws: Workspace, name: str, spec: CaProfile, token: str, pin: hsm.Secret, spki: bytes
) -> signers.Pkcs11Signer:
    """A one-session signer over the key ``name`` in one of the workspace's tokens."""
    assert ws.hsm is not None
    return signers.Pkcs11Signer(
        ws.hsm.module, token, name, pin, spec.signature_algorithm, sessions=1, public_key=spki
    )


def destroy_hsm_key(ws: Workspace, token: str, label: str, pin: hsm.Secret) -> bool:
    """C_DestroyObject on a CA key (both halves) in one of the workspace's tokens;
    False when there was nothing to destroy."""
    assert ws.hsm is not None
    return key_objects.destroy_key(ws.hsm.module, token, pin, label)


def destroy_software_key(path: Path) -> bool:
    """Overwrite the PKCS#8 file with random bytes, flush it to disk, unlink it.
    (On copy-on-write or journalling file systems the overwrite is best effort; the
    unlink is what removes the key from the workspace.)"""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, os.urandom(max(size, 1)))
        os.fsync(fd)
    finally:
        os.close(fd)
    path.unlink()
    fsync_dir(path.parent)  # the removal survives a crash only once the directory does
    return True


def key_present(ws: Workspace, ca: CertificateAuthority, pins: dict[str, hsm.Secret]) -> bool:
    """Whether the workspace still holds the key of ``ca``."""
    if ca.hsm_ref is None:
        return (ws.path / ca.key_ref).exists()
    assert ws.hsm is not None
    flags = key_objects.private_key_flags(
        ws.hsm.module, ca.hsm_ref.token, pins[ca.hsm_ref.token], ca.hsm_ref.label
    )
    return flags is not None


def destroy_ca_keys(
    ws: Workspace,
    cas: Sequence[CertificateAuthority],
    pins: dict[str, hsm.Secret],
    actor: str,
    *,
    reason: str | None = None,
) -> list[tuple[str, str]]:
    """Destroy the key of every CA in ``cas`` (000 §5.8 last measure), one
    ca.key-destroyed record each; ``reason`` says what came before (an export)."""
    done = []
    extra: dict[str, Any] = {"after": reason} if reason else {}
    for ca in cas:
        if ca.hsm_ref is None:
            ca._key = None
            found = destroy_software_key(ws.path / ca.key_ref)
            where = ca.key_ref
        else:
            found = destroy_hsm_key(ws, ca.hsm_ref.token, ca.hsm_ref.label, pins[ca.hsm_ref.token])
            where = ca.hsm_ref.uri()
        ca.close()
        audit.record(
            ws.store,
            audit.Event.CA_KEY_DESTROYED,
            actor=actor,
            subject=subject_text(ca.subject),
            ca=ca.name,
            key_ref=where,
            found=found,
            method="C_DestroyObject" if ca.hsm_ref is not None else "overwrite+unlink",
            **extra,
        )
        done.append((ca.name, "destroyed"))
    return done
