"""Batch signature verification: one call per batch, GIL released, all cores.

Two entry points, both thin wrappers over ``porthos._native`` (the Rust engine,
``porthos_core::verify``):

- :func:`verify_signatures` — raw (key, message, signature) triples under one
  algorithm; a bool per item.
- :func:`verify_csrs` — parse each PKCS#10 request and check its proof of possession
  (RFC 2986 §3, RFC 3647 §3.2.1); a :class:`~porthos.status.CsrStatus` code per item
  and a details object that explains any item on demand.

Every byte-string argument takes either form:

- a sequence of byte strings (``bytes``, ``bytearray``, ``memoryview``, 1-D uint8 arrays);
- the packed form ``(buffer, offsets)``: one bytes-like buffer and a 1-D integer NumPy
  array of N+1 offsets, item i being ``buffer[offsets[i]:offsets[i + 1]]``. A
  :class:`~porthos.DerBatch` is accepted as-is (it is one buffer + offsets).

Status codes (``CsrStatus``, stable, uint8):

====  =====================  ====================================================
code  name                   meaning
====  =====================  ====================================================
0     OK                     strict-DER request, acceptable key, signature valid
1     MALFORMED              not a strict-DER PKCS#10 request (``detail`` names the
                             byte offset and field path)
2     UNSUPPORTED_ALGORITHM  signature or key algorithm porthos does not verify, a
                             signature algorithm that does not match the key type,
                             or RSA over 4096 bits
3     BAD_SIGNATURE          the proof of possession does not verify (also non-DER
                             ECDSA-Sig-Value, r or s = 0 or >= n, trailing bytes)
4     WEAK_KEY               RSA under 2048 bits; EC point not uncompressed, not on
                             its curve, or the identity
====  =====================  ====================================================

Supported algorithms: ECDSA P-256 with SHA-256/384/512, P-384 with SHA-256/384/512,
RSA PKCS#1 v1.5 and PSS (salt = hash length, MGF1 with the same hash) at 2048-4096
bits, Ed25519. High-s ECDSA signatures are valid (X.509 has no low-s rule).

A malformed *argument* (lengths that disagree, offsets out of range or decreasing, a
non-bytes item, ``threads=0``) raises :class:`~porthos.BatchArgumentError`; a malformed
*item* is a status (or ``False``). A batch is one parallel job with the GIL released; the
calling thread re-takes the GIL every 20 ms for Python's signal handlers, so Ctrl-C raises
``KeyboardInterrupt`` within a fraction of a second, whatever the batch size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from porthos import _native
from porthos.exceptions import BatchArgumentError
from porthos.issuance.threads import check_threads
from porthos.status import CsrStatus

if TYPE_CHECKING:
    from porthos._native import CsrVerification

# Every name verify_signatures takes: the Rust table (porthos-core x509/csr.rs), not a copy.
SIGNATURE_ALGORITHMS: tuple[str, ...] = _native.SIGNATURE_ALGORITHMS

__all__ = ["SIGNATURE_ALGORITHMS", "CsrStatus", "verify_csrs", "verify_signatures"]


def _items(arg: Any) -> Any:
    # A DerBatch is already one buffer + offsets: hand it over in the packed form.
    if isinstance(arg, _native.DerBatch):
        return (arg.data, arg.offsets)
    return arg


def verify_signatures(
    algorithm: str,
    public_keys: Any,
    messages: Any,
    signatures: Any,
    *,
    threads: int | None = None,
) -> NDArray[np.bool_]:
    """Verify N signatures under one ``algorithm`` (see :data:`SIGNATURE_ALGORITHMS`).

    ``public_keys`` are SubjectPublicKeyInfo DER. Item i is ``True`` iff its key is
    acceptable for the algorithm and ``signatures[i]`` verifies over ``messages[i]``.
    ``threads=None`` uses every core, ``threads=1`` exactly one.
    """
    if not isinstance(algorithm, str):
        raise BatchArgumentError(
            f"algorithm: expected one of SIGNATURE_ALGORITHMS, got {type(algorithm).__name__}"
        )
    return _native.verify_signatures(
        algorithm,
        _items(public_keys),
        _items(messages),
        _items(signatures),
        threads=check_threads(threads),
    )


def verify_csrs(
    csrs: Any, *, threads: int | None = None
) -> tuple[NDArray[np.uint8], CsrVerification]:
    """Parse N DER CSRs and verify each proof of possession.

    Returns ``(status, details)``: ``status`` is a uint8 array of :class:`CsrStatus`
    codes; ``details.detail(i)`` says why item i failed (recomputed for that item only,
    so the batch itself carries no per-item strings), ``details.der(i)`` returns it.
    """
    return _native.verify_csrs(_items(csrs), threads=check_threads(threads))
