"""Per-item status codes of batch calls. The numbers are stable API: they travel in
NumPy uint8 arrays and in JSON reports, so never renumber, only append."""

from __future__ import annotations

from enum import IntEnum


class CsrStatus(IntEnum):
    """Outcome of parsing + proof-of-possession for one CSR (000 §3.2.1)."""

    OK = 0
    MALFORMED = 1  # not a strict-DER PKCS#10 request
    UNSUPPORTED_ALGORITHM = 2  # key or signature algorithm porthos does not verify
    BAD_SIGNATURE = 3  # proof of possession failed
    WEAK_KEY = 4  # RSA below 2048 bits, EC point off curve / identity


class KeyType(IntEnum):
    """Subject key type recognised in a SubjectPublicKeyInfo."""

    UNKNOWN = 0
    EC_P256 = 1
    EC_P384 = 2
    RSA = 3
    ED25519 = 4


class IssueStatus(IntEnum):
    """Outcome of one item of CertificateAuthority.issue_batch. 1-4 mirror CsrStatus."""

    ISSUED = 0
    MALFORMED = 1
    UNSUPPORTED_ALGORITHM = 2
    BAD_SIGNATURE = 3
    WEAK_KEY = 4
    KEY_NOT_ALLOWED = 5  # key type/size not allowed by the profile (000 §6.1.5)
    SUBJECT_INVALID = 6  # subject does not satisfy the profile (000 §3.1, §7.1.3)
    DUPLICATE_IN_BATCH = 7  # same request twice in one batch
    REFUSED = 8  # another policy rule refused it; the reason says which
    SIGNING_FAILED = 9  # the HSM could not sign this item (the reason names the CKR_ code)


class HsmItemStatus(IntEnum):
    """Outcome of one digest signed by the PKCS#11 pool (porthos-pkcs11)."""

    OK = 0
    SESSION_LOST = 1  # session invalid / device removed; reopened, and the retry failed
    HSM_ERROR = 2  # another PKCS#11 error; the reason names the function and CKR_ code


class CmsStatus(IntEnum):
    """Outcome of verifying one CMS SignedData (``_native.verify_signed_data(...).status``,
    rust/porthos-core/src/cms.rs). 2-4 mirror CsrStatus; malformed DER raises instead."""

    OK = 0
    UNSUPPORTED_ALGORITHM = 2
    BAD_SIGNATURE = 3
    WEAK_KEY = 4
    SIGNER_NOT_FOUND = 5  # no carried or supplied certificate matches the SignerIdentifier
    DIGEST_MISMATCH = 6  # messageDigest differs from the content's digest (RFC 5652 §11.2)
    CONTENT_TYPE_MISMATCH = 7  # contentType attribute differs from eContentType (§11.1)
    NO_CONTENT = 8  # detached signature: the RA needs the request inside
    SIGNER_COUNT = 9  # not exactly one SignerInfo
    MISSING_ATTRIBUTE = 10  # signedAttrs lacks contentType / messageDigest (RFC 5652 §5.3)
