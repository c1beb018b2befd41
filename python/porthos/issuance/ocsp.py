"""OCSP responses (RFC 6960, RFC 5019 profile): a compiled template and batch signing.

Columns in (the CRL code's shapes, one NumPy array per field, no per-item Python
object), a DerBatch of complete ``OCSPResponse``\\ s out:

* ``serials``: N x W ``uint8``, each row a serial's big-endian magnitude, left
  zero-padded (the N x 20 matrix of the CRL columns and the store readers);
* ``status``: ``uint8``: :data:`GOOD`, :data:`REVOKED`, :data:`UNKNOWN`;
* ``revocation_times``: ``int64`` Unix seconds (read for revoked rows only);
* ``reasons``: ``uint8`` CRLReason (RFC 5280 §5.3.1), :data:`REASON_NONE` (255) = no
  revocationReason.

One template per (responder certificate, issuer certificate, CertID hash): the
responderID is byKey (SHA-1 of the responder key), ``certs`` holds the responder
certificate, the single response's CertID hashes are fixed. A software key fills,
signs and assembles in Rust (parallel, GIL released); a :class:`DigestSigner` (the
PKCS#11 pool) gets the N digests of the filled tbsResponseData in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from porthos import _native
from porthos.exceptions import BatchArgumentError, SigningError

if TYPE_CHECKING:
    from porthos.issuance.signers import Signer

__all__ = [
    "GOOD",
    "REASON_NONE",
    "REVOKED",
    "UNKNOWN",
    "OcspTemplate",
    "ResponseColumns",
    "sign_one",
    "sign_responses",
]

GOOD, REVOKED, UNKNOWN = 0, 1, 2
REASON_NONE = 255

OcspTemplate = _native.OcspTemplate


@dataclass
class ResponseColumns:
    """The per-response columns of a batch (see the module docstring)."""

    serials: NDArray[np.uint8]
    status: NDArray[np.uint8]
    revocation_times: NDArray[np.int64]
    reasons: NDArray[np.uint8]

    def __post_init__(self) -> None:
        s = np.asarray(self.serials)
        if s.ndim != 2 or s.dtype != np.uint8:
            raise BatchArgumentError("serials: expected an N x W uint8 array")
        self.serials = np.ascontiguousarray(s)
        self.status = np.ascontiguousarray(self.status, dtype=np.uint8)
        self.revocation_times = np.ascontiguousarray(self.revocation_times, dtype=np.int64)
        self.reasons = np.ascontiguousarray(self.reasons, dtype=np.uint8)

    def __len__(self) -> int:
        return len(self.status)

    def take(self, rows: NDArray[np.intp]) -> ResponseColumns:
        return ResponseColumns(
            self.serials[rows], self.status[rows], self.revocation_times[rows], self.reasons[rows]
        )


def sign_responses(
    template: _native.OcspTemplate,
    signer: Signer,
    columns: ResponseColumns,
    *,
    this_update: int,
    next_update: int | None,
    produced_at: int,
    nonce: bytes | None = None,
    threads: int | None = None,
) -> _native.DerBatch:
    """One signed OCSPResponse per row of ``columns``, by whichever path ``signer``
    takes. ``threads``: software keys only (None: every core, 1: this thread)."""
    if signer.signature_algorithm != template.signature_algorithm:
        raise SigningError(
            f"signer uses {signer.signature_algorithm}, the OCSP template was compiled for "
            f"{template.signature_algorithm}"
        )
    c = columns
    if isinstance(signer, _native.SoftwareKey):
        return template.sign(
            signer,
            c.serials,
            c.status,
            c.revocation_times,
            c.reasons,
            this_update=this_update,
            next_update=next_update,
            produced_at=produced_at,
            nonce=nonce,
            threads=threads,
        )
    if signer.public_key_der() != template.responder_public_key_der():
        raise SigningError(
            "the signer's key is not the responder certificate's (RFC 6960 §4.2.2.2)"
        )
    from porthos.issuance.signers import HASH_OF

    tbs = template.fill(
        c.serials,
        c.status,
        c.revocation_times,
        c.reasons,
        this_update=this_update,
        next_update=next_update,
        produced_at=produced_at,
        nonce=nonce,
    )
    digests = _native.tbs_digests(tbs, HASH_OF[template.signature_algorithm])
    signatures = list(signer.sign_digests(digests))
    if len(signatures) != len(tbs):
        raise SigningError(f"external signer returned {len(signatures)} signatures for {len(tbs)}")
    return template.assemble(tbs, signatures)


def serial_row(serial: bytes) -> NDArray[np.uint8]:
    """One serial magnitude as a 1 x 20 row (BatchArgumentError past 20 octets)."""
    if not isinstance(serial, bytes):
        raise BatchArgumentError(f"serial: expected bytes, got {type(serial).__name__}")
    magnitude = serial.lstrip(b"\x00")
    if not magnitude or len(magnitude) > 20:
        raise BatchArgumentError("serial: zero or longer than 20 octets (RFC 5280 §4.1.2.2)")
    return np.frombuffer(magnitude.rjust(20, b"\x00"), np.uint8).reshape(1, 20).copy()


def sign_one(
    template: _native.OcspTemplate,
    signer: Signer,
    serial: bytes,
    *,
    status: int,
    this_update: int,
    next_update: int | None,
    produced_at: int,
    revocation_time: int = 0,
    reason: int = REASON_NONE,
    nonce: bytes | None = None,
) -> bytes:
    """One signed OCSPResponse (the on-demand path: a nonce to echo, a serial never
    pre-signed). ``nonce``: the Nonce octets (RFC 8954 §2.1, 1 to 32 of them), put
    back into the response's nonce extension as the request carried them."""
    cols = ResponseColumns(
        serial_row(serial),
        np.array([status], np.uint8),
        np.array([revocation_time], np.int64),
        np.array([reason], np.uint8),
    )
    batch = sign_responses(
        template,
        signer,
        cols,
        this_update=this_update,
        next_update=next_update,
        produced_at=produced_at,
        nonce=nonce,
        threads=1,
    )
    return bytes(batch[0])
