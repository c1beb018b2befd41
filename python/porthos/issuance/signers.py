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

import os
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from porthos import _native, hsm
from porthos.exceptions import SigningError
from porthos.hsm.workers import ProcessPool

#: Hash of each signature algorithm: the digest an external signer receives (the Rust
#: table, porthos-core x509/csr.rs + sign.rs, not a copy).
HASH_OF: dict[str, str] = _native.SIGNING_ALGORITHMS


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


def _check_algorithm(template: _native.Template, signer: Signer) -> None:
    if signer.signature_algorithm != template.signature_algorithm:
        raise SigningError(
            f"signer uses {signer.signature_algorithm}, the template was compiled for "
            f"{template.signature_algorithm}"
        )


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
    _check_algorithm(template, signer)
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
    return _sign_tbs(template, signer, tbs)


def sign_filled(
    template: _native.Template,
    signer: Signer,
    tbs: _native.DerBatch,
    *,
    threads: int | None = None,
) -> _native.DerBatch:
    """Sign and assemble TBSCertificates ``template.fill`` wrote, with whichever path
    ``signer`` supports: the signing half of ``issue_certificates``, for a caller that
    fills on one thread and signs on another (the streamed batch, issuance/batch.py)."""
    _check_algorithm(template, signer)
    if isinstance(signer, _native.SoftwareKey):
        return template.sign_filled(signer, tbs, threads=threads)
    return _sign_tbs(template, signer, tbs)


def _sign_tbs(
    template: _native.Template, signer: DigestSigner, tbs: _native.DerBatch
) -> _native.DerBatch:
    digests = _native.tbs_digests(tbs, HASH_OF[template.signature_algorithm])
    signatures = list(signer.sign_digests(digests))
    if len(signatures) != len(tbs):
        raise SigningError(f"external signer returned {len(signatures)} signatures for {len(tbs)}")
    return template.assemble(tbs, signatures)


def issue_certificates_partial(
    template: _native.Template,
    signer: Pkcs11Signer,
    *,
    serials: NDArray[np.uint8],
    not_before: NDArray[np.int64],
    not_after: NDArray[np.int64],
    subjects: Sequence[Sequence[tuple[str, str]]],
    spkis: Sequence[bytes],
    sans: Sequence[Sequence[tuple[str, str]] | None] | None = None,
) -> tuple[list[bytes | None], NDArray[np.uint8], list[str]]:
    """Like ``issue_certificates`` through an HSM, but an item the HSM fails to sign
    becomes None with an HsmItemStatus and a reason while the others are issued.

    A fill is deterministic, so the signed subset is re-filled and assembled with its
    signatures (only when some item failed)."""
    _check_algorithm(template, signer)
    tbs = template.fill(
        serials=serials,
        not_before=not_before,
        not_after=not_after,
        subjects=subjects,
        spkis=spkis,
        sans=sans,
    )
    digests = _native.tbs_digests(tbs, HASH_OF[template.signature_algorithm])
    sigs, status, reasons = signer.sign_digests_partial(digests)
    if not np.any(status):
        full = template.assemble(tbs, [s for s in sigs if s is not None]).to_list()
        return list[bytes | None](full), status, reasons
    ok = np.flatnonzero(status == 0)
    out: list[bytes | None] = [None] * len(sigs)
    if ok.size:
        sub = template.fill(
            serials=serials[ok],
            not_before=not_before[ok],
            not_after=not_after[ok],
            subjects=[subjects[i] for i in ok.tolist()],
            spkis=[spkis[i] for i in ok.tolist()],
            sans=None if sans is None else [sans[i] for i in ok.tolist()],
        )
        for i, der in zip(
            ok.tolist(),
            template.assemble(sub, [sigs[i] or b"" for i in ok.tolist()]).to_list(),
            strict=True,
        ):
            out[i] = der
    return out, status, reasons


class Pkcs11Signer:
    """A DigestSigner whose key lives in a PKCS#11 token (RFC 3647 §6.1.1, §6.2).

    The N digests of a batch go to a pool of sessions: worker processes
    (porthos.hsm.workers) or the Rust thread pool (porthos-pkcs11, GIL released),
    see ``workers`` below; the module is always initialised with CKF_OS_LOCKING_OK.
    ``sign_digests`` returns signatures in
    X.509 form (DER Ecdsa-Sig-Value for CKM_ECDSA; CKM_RSA_PKCS over DigestInfo;
    CKM_RSA_PKCS_PSS with MGF1 and salt = hash length).

    ``key_placement="session-copy"`` (default): each session signs with its own
    session copy of the key (C_CopyObject, CKA_TOKEN=false, still sensitive and not
    extractable, gone with the session): SoftHSM2 serialises every use of a token
    object within a process on one per-token mutex (docs/hsm.md). ``"token-object"``
    signs with the token key itself.

    ``workers="auto"`` (default): one worker *process* per session when ``sessions``
    > 1 (porthos.hsm.workers: SoftHSM2 serialises the threads of one process on
    its own mutexes, processes scale), the Rust thread pool for one session;
    ``"threads"`` / ``"processes"`` force one or the other.

    ``sessions`` defaults to the number of cores. ``close()`` (or leaving a ``with``
    block) closes every session at once: the root key's signer is used that way, one
    root operation per activation (RFC 3647 §6.2.2)."""

    def __init__(
        self,
        module: str | os.PathLike[str],
        token: str,
        key_label: str,
        pin: hsm.Secret,
        signature_algorithm: str,
        *,
        sessions: int | None = None,
        public_key: bytes | None = None,
        key_placement: str = "session-copy",
        workers: str = "auto",
    ) -> None:
        self.module = str(hsm.find_module(module))
        hsm.load_module(self.module)
        self._spki = (
            public_key
            if public_key is not None
            else hsm.public_key_der(self.module, token, key_label)
        )
        n = sessions if sessions is not None else (os.cpu_count() or 1)
        if workers == "auto":
            workers = "processes" if n > 1 else "threads"
        self._pool: _native.Pkcs11Pool | ProcessPool
        if workers == "processes":
            self._pool = ProcessPool(
                self.module, token, key_label, signature_algorithm, pin, n, key_placement
            )
        elif workers == "threads":
            self._pool = _native.Pkcs11Pool(
                self.module, token, key_label, signature_algorithm, pin.reveal(), n, key_placement
            )
        else:
            raise ValueError(f"workers: {workers!r}; expected 'auto', 'processes' or 'threads'")
        self.workers = workers
        #: Per-item latencies (ns) and sessions reopened, of the last batch.
        self.last_latency_ns: NDArray[np.uint64] = np.zeros(0, dtype=np.uint64)
        self.last_reopened = 0

    def __repr__(self) -> str:
        return f"<Pkcs11Signer {self._pool!r}>"

    @property
    def signature_algorithm(self) -> str:
        return str(self._pool.signature_algorithm)

    @property
    def sessions(self) -> int:
        return int(self._pool.sessions)

    @property
    def token(self) -> str:
        return str(self._pool.token)

    @property
    def key_label(self) -> str:
        return str(self._pool.key_label)

    @property
    def session_key_copies(self) -> int:
        """Open sessions that sign with a session copy of the key."""
        return int(self._pool.session_key_copies)

    def public_key_der(self) -> bytes:
        return self._spki

    def sign_digests_partial(
        self, digests: NDArray[np.uint8]
    ) -> tuple[list[bytes | None], NDArray[np.uint8], list[str]]:
        """One slot per digest: signature or None, HsmItemStatus, reason. One failed
        item never stops the batch; a lost session is reopened and the item retried once."""
        sigs, status, reasons, latency, reopened = self._pool.sign_digests(
            np.ascontiguousarray(digests, dtype=np.uint8)
        )
        self.last_latency_ns = latency
        self.last_reopened = int(reopened)
        return sigs, status, reasons

    def sign_digests(self, digests: NDArray[np.uint8]) -> Sequence[bytes]:
        sigs, status, reasons = self.sign_digests_partial(digests)
        failed = np.flatnonzero(status != 0)
        if failed.size:
            first = int(failed[0])
            raise SigningError(
                f"{failed.size} of {len(sigs)} signatures failed in token "
                f"'{self.token}' (first: item {first}: {reasons[first]})"
            )
        return [s for s in sigs if s is not None]

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Pkcs11Signer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
