"""The one exception tree of porthos. Every error has a stable ``.code``.

The Rust extension imports these classes (rust/porthos-py/src/error.rs), so an
error raised in Rust arrives as one of them, never as a panic.
"""

from __future__ import annotations


class PorthosError(Exception):
    """Base of every porthos error."""

    code = "porthos-error"


class DerDecodeError(PorthosError, ValueError):
    """Input DER is malformed; the message names the byte offset and field path.

    Raised by the Rust parsers, it also carries them as attributes:

    * ``offset``: byte offset of the offending TLV (or byte) in the outermost input;
    * ``path``: dotted field path, most general first, such as
      ``"CertificateList.tbsCertList.thisUpdate"`` (``""`` for the outermost value).

    Both are ``None`` when the location is unknown (an error raised in Python)."""

    code = "der-decode"
    offset: int | None = None
    path: str | None = None

    def __init__(
        self, message: str = "", offset: int | None = None, path: str | None = None
    ) -> None:
        super().__init__(message)
        self.offset = offset
        self.path = path


class EncodeError(PorthosError, ValueError):
    """A value cannot be encoded (bad OID text, oversize serial, time out of range)."""

    code = "encode"


class BatchArgumentError(PorthosError, ValueError):
    """A batch argument is malformed (lengths disagree, wrong dtype or shape)."""

    code = "batch-argument"


class ProfileError(PorthosError, ValueError):
    """A profile or template spec is invalid; raised at load, never at issuance."""

    code = "profile"


class KeyMaterialError(PorthosError, ValueError):
    """A key cannot be loaded, generated or used for the requested algorithm."""

    code = "key"


class SigningError(PorthosError):
    """Signing failed."""

    code = "signing"


class HsmError(SigningError):
    """A PKCS#11 call failed (the message names the function and the CKR_ code).

    No HSM error message ever contains a PIN."""

    code = "hsm"


class HsmPinError(HsmError):
    """The token refused the PIN (CKR_PIN_INCORRECT / CKR_PIN_LOCKED). Never retried."""

    code = "hsm-pin"


class HsmNotFoundError(HsmError):
    """The PKCS#11 module, the token or the key named is missing."""

    code = "hsm-missing"


class StoreError(PorthosError):
    """The store refused a change (duplicate serial, missing CA, schema mismatch)."""

    code = "store"


class WorkspaceError(PorthosError):
    """A workspace is missing, incomplete or already initialised."""

    code = "workspace"


class PolicyError(PorthosError, ValueError):
    """A request breaks a rule of the CP/CPS; the message cites the section."""

    code = "policy"


class CrlSignatureError(PorthosError, ValueError):
    """A CRL does not belong to the given issuer: name, AKI or signature mismatch."""

    code = "crl-signature"


class AuditError(PorthosError):
    """An audit record was refused (a secret in it) or the audit trail is broken."""

    code = "audit"


class RegistrationError(PorthosError, ValueError):
    """The RA refused a request: the message names the rule (CP/CPS section) and the
    item (issue 6: identity checks, transaction IDs, unique names, re-key windows)."""

    code = "registration"


class LifecycleError(PorthosError):
    """A lifecycle operation (revocation, CRL schedule, rollover, termination) cannot
    be done as asked; the message says why and nothing was changed."""

    code = "lifecycle"


class MissingExtraError(PorthosError):
    """A feature needs an optional dependency that is not installed; the message names
    the extra to install (e.g. ``pip install 'porthos[plot]'`` for bench plots)."""

    code = "missing-extra"


class CaRequestError(PorthosError, ValueError):
    """A CA's certificate request (a cross-certification CSR) cannot be used: not one
    strict-DER PKCS#10 request, or its proof of possession does not verify."""

    code = "ca-request"


class CrossImportError(PorthosError, ValueError):
    """A cross-certificate offered for import does not certify our CA (subject or key
    differ), is not a CA certificate, or its signature does not verify under the
    issuer certificate given; nothing was stored."""

    code = "cross-import"


class SuspensionError(LifecycleError):
    """A suspension or release is refused: suspension off, a profile the CP/CPS does not
    suspend, a revoked or already held certificate, a release of one not on hold. The
    message names the rule; nothing was stored."""

    code = "suspension"


class ApprovalError(RegistrationError):
    """An approval-gated request is refused: issued without its approvals, approved
    twice by one person, a role that does not count, an unknown or used request."""

    code = "approval"


class InputError(PorthosError, ValueError):
    """An input file cannot be used: too large, not readable, not the kind asked for;
    the message names the file and what is wrong."""

    code = "input"


class StoreIntegrityError(StoreError):
    """The store is damaged: a table is missing, SQLite reports corruption, or a stored
    CA certificate no longer verifies. Nothing is issued or published from it; the
    message names what is wrong (restore from a backup, RFC 3647 §5.1.8)."""

    code = "store-integrity"


class StoreUnavailableError(StoreError):
    """The store's database server cannot be reached, or went away during a command
    (PostgreSQL down, restarted, refused the credentials). The open transaction was
    rolled back on the server: nothing of it is stored, and the command can be run
    again. The message names the store URL without credentials."""

    code = "store-unavailable"


class ShardLeaseError(StoreError):
    """A worker lost its lease on a CRL shard (it expired and another took it over), or
    the shard already carries the number it built: nothing of that shard is recorded
    (issue 19 §3; store/shard_leases.py)."""

    code = "shard-lease"


class CrlGateError(PolicyError):
    """A new CRL would drop a serial its predecessor listed whose certificate has not
    expired: refused, nothing published (RFC 5280 §3.3: an entry stays until the
    certificate expires)."""

    code = "crl-gate"


class DemoFailure(PorthosError):
    """A demo saw the PKI behave other than its CP/CPS says (a refused request that
    should pass, an artefact openssl rejects): the demo stops there, exit 2."""

    code = "demo"


class OcspRequestError(PorthosError, ValueError):
    """An OCSP request that is DER but past a limit of the parser (RFC 6960 §4.1):
    more CertIDs than allowed, a nonce outside 1..32 octets (RFC 8954 §2.1), or a
    CertID hash other than SHA-1/SHA-256. ``.reason`` names which:
    ``"too-many-certids"``, ``"nonce-length"`` or ``"unsupported-hash"``."""

    code = "ocsp-request"
    reason: str = ""

    def __init__(self, message: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class ResourceError(PorthosError, ValueError):
    """RPKI resources (RFC 3779) that cannot be used: text that does not parse, an
    address with host bits set, a set that is not a subset of the holder's. ``token``
    names the offending input token, or the resources in excess (as text)."""

    code = "rpki-resources"
    token: str | None = None

    def __init__(self, message: str = "", token: str | None = None) -> None:
        super().__init__(message)
        self.token = token


class RpkiError(PorthosError, ValueError):
    """An RPKI request (ROA, child CA, publication) refused; nothing was stored or
    published. Subclasses carry the stable code of each rule."""

    code = "rpki"


class RpkiAs0Error(RpkiError):
    """An AS 0 ROA where the CP/CPS does not allow one (RFC 6483 §4, RFC 9582 §4.3.1)."""

    code = "rpki-as0"


class RpkiMaxLengthError(RpkiError):
    """A ROA maxLength below the prefix length or above the address width (RFC 9582 §4.3.2)."""

    code = "rpki-max-length"


class RpkiOverclaimError(ResourceError):
    """A ROA or child CA claiming resources the CA does not hold; ``token`` is the excess."""

    code = "rpki-overclaim"


class RpkiCsrError(RpkiError):
    """A child's CSR that the RPKI profile cannot certify: not RSA-2048 (RFC 7935 §3),
    or an SIA without rsync caRepository/rpkiManifest (RFC 6487 §4.8.8.1)."""

    code = "rpki-child-csr"


class RpkiCsrSignatureError(RpkiError):
    """A child's CSR whose self-signature (proof of possession) does not verify."""

    code = "rpki-csr-signature"


class RpkiChildError(RpkiError):
    """A child CA certificate that cannot be revoked or re-issued: no live child of that
    name, a hosted child with live child CAs of its own or a key rollover under way, or
    new resources its ROAs or children would over-claim."""

    code = "rpki-child"


class RpkiRolloverError(RpkiError):
    """A key rollover step refused (RFC 6489): a trust anchor (RFC 9691, a new TAL), a
    second rollover while one stages, activation before the staging period ends, or
    ROAs or child certificates from a CA instance whose key is still staging."""

    code = "rpki-rollover"


class RpkiPublishError(RpkiError):
    """A publication could not be completed; the previous one stays served and the
    store is not advanced."""

    code = "rpki-publish"


class RpkiPublishIncompleteError(RpkiError):
    """A publication whose version the store committed but whose files are not all in
    place (the module symlink swap, the TAL, the removal of older versions or the RRDP
    files failed). Running ``porthos rpki publish`` again completes it: every step
    after the commit is idempotent."""

    code = "rpki-publish-incomplete"


class RrdpStateError(WorkspaceError):
    """The RRDP writer's state file (session, serial, published hashes) cannot be read
    as the writer left it; nothing was published (RFC 8182 §3.3: a new session would
    make every relying party start again from a snapshot, so the writer does not
    silently reset)."""

    code = "rrdp-state"
