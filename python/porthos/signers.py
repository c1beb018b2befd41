"""Signers: who turns a batch of TBSCertificates into signatures.

Two paths, chosen per signer type:

* ``SoftwareKey`` (from ``porthos._native``) signs inside Rust: fill, sign and
  assemble run in one parallel pass with the GIL released (``Template.issue``).
* A ``DigestSigner`` is external (an HSM through PKCS#11, a remote KMS): Rust fills
  the TBS batch and hashes it, the signer gets the N digests in one call and returns
  N signatures, and Rust assembles the certificates (``Template.assemble``). The HSM
  dispatcher (signers.Pkcs11Signer, later) plugs in here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from porthos import _native
from porthos.exceptions import SigningError

#: Hash of each signature algorithm: the digest an external signer receives.
HASH_OF = {
    "ecdsa-sha256": "sha256",
    "ecdsa-sha384": "sha384",
    "rsa-pkcs1-sha256": "sha256",
    "rsa-pkcs1-sha384": "sha384",
    "rsa-pss-sha256": "sha256",
    "rsa-pss-sha384": "sha384",
}


@runtime_checkable
class DigestSigner(Protocol):
    """An external signer: signs precomputed digests, one batch per call."""

    @property
    def signature_algorithm(self) -> str: ...

    def public_key_der(self) -> bytes: ...

    def sign_digests(self, digests: NDArray[np.uint8]) -> Sequence[bytes]:
        """One signature per row of ``digests`` (shape N x hash length), in X.509
        form: DER Ecdsa-Sig-Value for ECDSA (see ``_native.ecdsa_raw_to_der``), the
        raw octet string for RSA."""
        ...


Signer = _native.SoftwareKey | DigestSigner


def issue_certificates(
    template: _native.Template,
    signer: Signer,
    *,
    serials: NDArray[np.uint8],
    not_before: NDArray[np.int64],
    not_after: NDArray[np.int64],
    subjects: Sequence[Sequence[tuple[str, str]]],
    spkis: Sequence[bytes],
    sans: Sequence[Sequence[tuple[str, str]] | None] | None = None,
    threads: int | None = None,
) -> _native.DerBatch:
    """Fill, sign and assemble a batch with whichever path ``signer`` supports."""
    if signer.signature_algorithm != template.signature_algorithm:
        raise SigningError(
            f"signer uses {signer.signature_algorithm}, the template was compiled for "
            f"{template.signature_algorithm}"
        )
    if isinstance(signer, _native.SoftwareKey):
        return template.issue(
            signer,
            serials=serials,
            not_before=not_before,
            not_after=not_after,
            subjects=subjects,
            spkis=spkis,
            sans=sans,
            threads=threads,
        )
    tbs = template.fill(
        serials=serials,
        not_before=not_before,
        not_after=not_after,
        subjects=subjects,
        spkis=spkis,
        sans=sans,
    )
    digests = _native.tbs_digests(tbs, HASH_OF[template.signature_algorithm])
    signatures = list(signer.sign_digests(digests))
    if len(signatures) != len(tbs):
        raise SigningError(f"external signer returned {len(signatures)} signatures for {len(tbs)}")
    return template.assemble(tbs, signatures)
