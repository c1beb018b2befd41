"""Type stubs for porthos._native, the Rust extension (rust/porthos-py).

Every batch call releases the GIL. Per-item failures are status codes; a malformed
*argument* (lengths that disagree, wrong dtype/shape) raises BatchArgumentError.
"""

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeAlias, final

import numpy as np
from numpy.typing import NDArray

# pyo3 keeps the runtime __all__ (every name the module adds); stubtest compares the two.
__all__ = [
    "__version__",
    "BUILD_PROFILE",
    "MAX_THREADS",
    "CSR_STATUS",
    "KEY_TYPE",
    "CMS_STATUS",
    "HSM_ITEM_STATUS",
    "SIGNATURE_ALGORITHMS",
    "SIGNING_ALGORITHMS",
    "DerBatch",
    "CsrBatch",
    "SoftwareKey",
    "Template",
    "parse_csrs",
    "verify_signatures",
    "verify_csrs",
    "CsrVerification",
    "generate_serials",
    "encode_name",
    "key_identifier",
    "ecdsa_raw_to_der",
    "tbs_digests",
    "bench_sign_key",
    "bench_rsa_keygen",
    "bench_sign_p256",
    "CrlDrafts",
    "CrlInfo",
    "crl_drafts",
    "parse_crl",
    "serials_from_hex_text",
    "crl_delta_columns",
    "crl_merge_columns",
    "crl_shard_of",
    "crl_read_revocations_csv",
    "crl_hex_serials",
    "Pkcs11Pool",
    "pkcs11_load_module",
    "pkcs11_close_all_sessions",
    "pkcs11_init_token",
    "SignedDataInfo",
    "verify_signed_data",
    "cms_certs_only",
    "OcspTemplate",
    "write_der_files",
    "OcspCertId",
    "OcspRequestInfo",
    "parse_ocsp_request",
    "ocsp_serve",
    "ResourceSet",
    "SignedObjectBatch",
    "RsaKeyPool",
    "PointState",
    "rpki_sia",
    "rpki_parse_sia",
    "rpki_roa",
    "rpki_parse_roa",
    "rpki_manifest",
    "rpki_parse_manifest",
    "rpki_signed_object",
    "rpki_sign_objects",
    "rpki_sha256",
]

__version__: str
BUILD_PROFILE: str  # "release" or "debug"
MAX_THREADS: int  # the most worker threads a call may ask for (args.rs)

# Status codes of the Rust side, member name -> code (tests/test_native_tables.py holds
# porthos.status to them).
CSR_STATUS: dict[str, int]  # porthos.status.CsrStatus
KEY_TYPE: dict[str, int]  # porthos.status.KeyType
CMS_STATUS: dict[str, int]  # porthos.status.CmsStatus
HSM_ITEM_STATUS: dict[str, int]  # porthos.status.HsmItemStatus

# The one table of signature-algorithm names (rust/porthos-core/src/x509/csr.rs).
SIGNATURE_ALGORITHMS: tuple[str, ...]  # every name porthos verifies (verify_signatures)
SIGNING_ALGORITHMS: dict[str, str]  # the names it signs with -> hash ("sha256", ...)

@final
class DerBatch:
    """N DER items in one buffer: item i is data[offsets[i]:offsets[i+1]]."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> bytes: ...
    def __iter__(self) -> Iterator[bytes]: ...
    def to_list(self) -> list[bytes]: ...
    @property
    def data(self) -> NDArray[np.uint8]: ...  # read-only view, kept alive by the batch
    @property
    def offsets(self) -> NDArray[np.uint64]: ...  # length N + 1

@final
class CsrBatch:
    """Parsed and (optionally) verified PKCS#10 requests, one slot per input."""

    def __len__(self) -> int: ...
    @property
    def status(self) -> NDArray[np.uint8]: ...  # porthos.CsrStatus codes, 0 = ok
    @property
    def key_type(self) -> NDArray[np.uint8]: ...  # porthos.KeyType codes
    @property
    def key_bits(self) -> NDArray[np.uint32]: ...  # 256/384 for EC, modulus bits for RSA
    def subject(self, index: int) -> list[tuple[str, str]]:
        """(dotted OID, value) per attribute, DER order (most general first)."""
    def spki(self, index: int) -> bytes: ...  # SubjectPublicKeyInfo DER
    # Whole-batch columns, one slot per item (empty / b"" / zeros where it did not parse).
    def subjects(self) -> list[list[tuple[str, str]]]: ...
    def spkis(self) -> list[bytes]: ...
    def spki_sha256(self) -> list[bytes]: ...  # SHA-256 of each SPKI DER, 32 bytes
    def signature_algorithm(self, index: int) -> str: ...  # e.g. "ecdsa-sha256"; "" if unknown
    def detail(self, index: int) -> str: ...  # "" when ok; what and where otherwise
    def requested_extensions(self, index: int) -> list[tuple[str, bool, bytes]]:
        """extensionRequest entries: (dotted OID, critical, extnValue octets)."""

def parse_csrs(
    csrs: Sequence[bytes], *, verify: bool = True, threads: int | None = None
) -> CsrBatch: ...
def verify_signatures(
    algorithm: str,
    public_keys: Any,  # Sequence[bytes] or (buffer, offsets)
    messages: Any,
    signatures: Any,
    *,
    threads: int | None = None,
) -> NDArray[np.bool_]:
    """Raw batch verification. algorithm: one of SIGNATURE_ALGORITHMS ("ecdsa-sha256",
    ...). public_keys are SubjectPublicKeyInfo DER. An item whose key does not parse, or
    does not fit the algorithm, is False."""

def bench_sign_key(key: SoftwareKey, n: int, threads: int | None = ...) -> float:
    """Seconds for aws-lc-rs to sign n 400-octet messages with ``key`` (its own
    signature algorithm), GIL released: the bare-signing yardstick of ``porthos bench
    issue --cpcps`` for that CA key. threads: 1 (a plain loop), N, or None (every core)."""

def bench_rsa_keygen(n: int, threads: int | None = None) -> float:
    """Seconds for aws-lc-rs to generate n RSA-2048 key pairs (dropped at once), GIL
    released, on every core (None) or ``threads``: the raw keygen yardstick."""

def bench_sign_p256(n: int) -> float:
    """Seconds for aws-lc-rs to sign n 400-octet messages with a fresh P-256 key, one
    thread, in Rust: the bare-signing yardstick of ``porthos bench issue``."""

def generate_serials(n: int, length: int = 16) -> NDArray[np.uint8]:
    """CSPRNG serials, shape (n, length); first octet in 0x01..0x7f (positive, minimal)."""

def encode_name(
    attributes: Sequence[tuple[str, str]], name_strings: Mapping[str, str] | None = None
) -> bytes:
    """Name DER, one attribute per RDN in the order given (most general first).

    Attributes may be given as dotted OIDs or short names (C, O, OU, CN,
    serialNumber, dnQualifier, L, ST, DC, emailAddress). By default C, serialNumber
    and dnQualifier are PrintableString, DC and emailAddress IA5String, everything else
    UTF8String (RFC 5280 §4.1.2.4); ``name_strings`` ({attribute: "printable" | "utf8" |
    "ia5" | "printable-else-utf8"}) chooses per attribute (docs/template-spec.md)."""

def key_identifier(spki_der: bytes) -> bytes:
    """SHA-1 of the subjectPublicKey BIT STRING (RFC 5280 §4.2.1.2, method 1)."""

def ecdsa_raw_to_der(raw: bytes) -> bytes:
    """r||s (PKCS#11 CKM_ECDSA output) to the DER Ecdsa-Sig-Value."""

def tbs_digests(tbs: DerBatch, hash: str) -> NDArray[np.uint8]:
    """Hash each item ("sha256" / "sha384" / "sha512"): shape (N, digest length)."""

@final
class SoftwareKey:
    """A CA private key held in process memory, signing through aws-lc-rs."""

    @staticmethod
    def generate(key_type: str, signature_algorithm: str | None = None) -> SoftwareKey:
        """key_type: ec-p256 | ec-p384 | rsa-2048 | rsa-3072 | rsa-4096."""
    @staticmethod
    def from_pkcs8(der: bytes, signature_algorithm: str | None = None) -> SoftwareKey: ...
    def to_pkcs8(self) -> bytes: ...
    @property
    def key_type(self) -> str: ...
    @property
    def signature_algorithm(self) -> str:
        """One of SIGNING_ALGORITHMS ("ecdsa-sha256", "rsa-pss-sha384", ...)."""
    def public_key_der(self) -> bytes: ...  # SubjectPublicKeyInfo
    def sign(self, message: bytes) -> bytes: ...

#: A SAN entry's value: text, or a directoryName's [(attribute, value), ...].
_SanValue: TypeAlias = str | Sequence[tuple[str, str]]

@final
class Template:
    """A certificate profile compiled against one issuer: fixed bytes plus holes."""

    def __new__(
        cls,
        spec_json: str,
        issuer_name_der: bytes,
        issuer_key_id: bytes | None,
        signature_algorithm: str,
    ) -> Template: ...
    @staticmethod
    def for_issuer(spec_json: str, issuer_cert_der: bytes, signature_algorithm: str) -> Template:
        """Issuer name and key id taken from the issuer certificate."""
    @property
    def signature_algorithm(self) -> str: ...
    @property
    def has_name_strings(self) -> bool:
        """The spec chose string types (``name_strings``): a value may not fit."""
    @property
    def has_san(self) -> bool: ...
    def item_errors(
        self,
        *,
        subjects: Sequence[Sequence[tuple[str, str]]],
        sans: Sequence[Sequence[tuple[str, _SanValue]] | None] | None = None,
    ) -> list[str]:
        """Why each item's subject or SANs cannot be filled in ("" where they can)."""
    def fill(
        self,
        *,
        serials: NDArray[np.uint8] | Sequence[bytes],
        not_before: NDArray[np.int64] | Sequence[int],
        not_after: NDArray[np.int64] | Sequence[int],
        subjects: Sequence[Sequence[tuple[str, str]]],
        spkis: Sequence[bytes],
        sans: Sequence[Sequence[tuple[str, _SanValue]] | None] | None = None,
        sias: Sequence[bytes | None] | None = None,
        ip_addr_blocks: Sequence[bytes | None] | None = None,
        as_identifiers: Sequence[bytes | None] | None = None,
        threads: int | None = None,
    ) -> DerBatch:
        """TBSCertificates only. sans entries: (kind, value), kind in
        dns|email|uri|ip|upn|dirname|dirname_hex; a dirname's value is [(attr, value)]."""
    def issue(
        self,
        signer: SoftwareKey,
        *,
        serials: NDArray[np.uint8] | Sequence[bytes],
        not_before: NDArray[np.int64] | Sequence[int],
        not_after: NDArray[np.int64] | Sequence[int],
        subjects: Sequence[Sequence[tuple[str, str]]],
        spkis: Sequence[bytes],
        sans: Sequence[Sequence[tuple[str, _SanValue]] | None] | None = None,
        sias: Sequence[bytes | None] | None = None,
        ip_addr_blocks: Sequence[bytes | None] | None = None,
        as_identifiers: Sequence[bytes | None] | None = None,
        threads: int | None = None,
    ) -> DerBatch:
        """Fill, sign (in parallel) and assemble complete certificates."""
    def sign_filled(
        self, signer: SoftwareKey, tbs: DerBatch, *, threads: int | None = None
    ) -> DerBatch:
        """Sign and assemble TBSCertificates from ``fill`` (the signing half of ``issue``);
        an item that is not one DER SEQUENCE is refused."""
    def assemble(self, tbs: DerBatch, signatures: Sequence[bytes]) -> DerBatch:
        """External-signer path: TBS + signatures (DER for ECDSA) -> certificates."""

# -- CRLs (issue 4) ----------------------------------------------------------------------

@final
class CrlDrafts:
    """TBSCertLists written and hashed, waiting for their signatures."""

    def __len__(self) -> int: ...
    @property
    def digests(self) -> NDArray[np.uint8]: ...
    @property
    def signature_algorithm(self) -> str: ...
    @property
    def entries(self) -> list[int]: ...
    def sign(self, key: SoftwareKey) -> DerBatch: ...
    def finish(self, signatures: Sequence[bytes]) -> DerBatch: ...

@final
class CrlInfo:
    issuer_der: bytes
    this_update: int
    next_update: int | None
    crl_number: bytes | None
    delta_base: bytes | None
    authority_key_id: bytes | None
    idp_urls: list[str] | None
    only_user_certs: bool
    only_ca_certs: bool
    signature_algorithm: str
    signature_checked: bool
    serials: NDArray[np.uint8]
    revocation_times: NDArray[np.int64]
    reasons: NDArray[np.uint8]
    invalidity_dates: NDArray[np.int64]
    def __len__(self) -> int: ...
    def index_of(self, serial: bytes) -> int: ...
    def lookup(self, serials: NDArray[np.uint8]) -> NDArray[np.int64]: ...

def crl_drafts(
    issuer_cert: bytes,
    serials: NDArray[np.uint8],
    revocation_times: NDArray[np.int64],
    reasons: NDArray[np.uint8],
    *,
    crl_numbers: Sequence[bytes],
    this_update: int,
    signature_algorithm: str,
    next_update: int | None = None,
    serial_lengths: NDArray[np.uint8] | None = None,
    invalidity_dates: NDArray[np.int64] | None = None,
    idp_urls: Sequence[str] | None = None,
    url_template: str | None = None,
    only_user_certs: bool = False,
    only_ca_certs: bool = False,
    delta_base: bytes | None = None,
    hold_instruction: str | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], object] | None = None,
) -> CrlDrafts: ...
def parse_crl(der: bytes | NDArray[np.uint8], issuer_cert: bytes | None = None) -> CrlInfo: ...
def serials_from_hex_text(text: str, count: int, sep: str = ",") -> NDArray[np.uint8]:
    """``count`` hex serials separated by ``sep`` -> N x 20 right-aligned octets."""

_Cols = tuple[NDArray[np.uint8], NDArray[np.int64], NDArray[np.uint8], NDArray[np.int64]]

def crl_delta_columns(base: _Cols, current: _Cols) -> _Cols: ...
def crl_merge_columns(base: _Cols, delta_cols: _Cols) -> _Cols: ...
def crl_shard_of(serials: NDArray[np.uint8], shards: int) -> NDArray[np.uint32]: ...
def crl_read_revocations_csv(data: bytes) -> _Cols: ...
def crl_hex_serials(
    data: NDArray[np.uint8], offsets: NDArray[np.int64]
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]: ...

# --- PKCS#11 signing pool (porthos-pkcs11; issue 5) -----------------------------------

@final
class Pkcs11Pool:
    """Sessions on one token signing with one private key, one worker thread each.
    The PIN is bytes (never str) and appears in no repr or message."""

    def __new__(
        cls,
        module: str,
        token: str,
        key: str,
        signature_algorithm: str,
        pin: bytes,
        sessions: int,
        key_placement: str = "session-copy",
    ) -> Pkcs11Pool: ...
    def sign_digests(
        self, digests: NDArray[np.uint8]
    ) -> tuple[list[bytes | None], NDArray[np.uint8], list[str], NDArray[np.uint64], int]:
        """(signatures, HsmItemStatus per item, reasons, latency ns, sessions reopened)."""
    def close(self) -> None: ...
    @property
    def sessions(self) -> int: ...
    @property
    def token(self) -> str: ...
    @property
    def key_label(self) -> str: ...
    @property
    def session_key_copies(self) -> int:
        """Open sessions signing with a session copy of the key."""
    @property
    def key_placement(self) -> str: ...
    @property
    def pin_refused(self) -> bool: ...
    @property
    def signature_algorithm(self) -> str: ...

def pkcs11_load_module(module: str) -> None:
    """Load a module and leave it initialised with CKF_OS_LOCKING_OK."""

def pkcs11_init_token(module: str, label: str, so_pin: bytes, user_pin: bytes) -> None:
    """C_InitToken + C_InitPIN on the first uninitialised token."""

def pkcs11_close_all_sessions(module: str, token: str) -> None:
    """C_CloseAllSessions on the token (ends this process's login there)."""

# --- issue 3: batch verification (porthos.issuance.verify wraps these) ---------------------------

@final
class CsrVerification:
    """Per-item outcome of verify_csrs: status codes, and reasons on demand."""

    def __len__(self) -> int: ...
    @property
    def status(self) -> NDArray[np.uint8]: ...  # porthos.CsrStatus codes, 0 = ok
    def detail(self, index: int) -> str: ...  # "" when ok; recomputed for this item only
    def der(self, index: int) -> bytes: ...
    def signature_algorithm(self, index: int) -> str: ...  # "" if unknown or malformed

def verify_csrs(
    csrs: Any, *, threads: int | None = None
) -> tuple[NDArray[np.uint8], CsrVerification]: ...

# --- issue 6: CMS SignedData for the RA (porthos.workflows.ra) -------------------------------

@final
class SignedDataInfo:
    """verify_signed_data's answer: the one signer's status and the SignedData's parts."""

    status: int  # porthos.status.CmsStatus code (CMS_STATUS), 0 = OK
    status_name: str
    detail: str
    content_type: str  # dotted eContentType
    content: bytes | None
    certificates: list[bytes]
    signer_index: int | None  # into certificates + extra_certificates
    signer_certificate: bytes | None
    signer_spki: bytes | None
    sid_issuer: bytes | None
    sid_serial_hex: str | None
    sid_key_id: bytes | None
    digest_algorithm: str
    signature_algorithm: str
    signer_count: int
    @property
    def ok(self) -> bool: ...

def verify_signed_data(der: bytes, extra_certificates: Sequence[bytes] = ...) -> SignedDataInfo:
    """Parse + verify one DER CMS SignedData (RFC 5652); DerDecodeError (.offset, .path)
    when malformed."""

def cms_certs_only(certificates: Sequence[bytes]) -> bytes:
    """A certs-only CMS SignedData (RFC 5652 §5, no signer): the .p7c bundle of an AIA
    caIssuers URL (RFC 5280 §4.2.2.1). Certificates sorted as DER SET OF, each once;
    a non-certificate raises DerDecodeError naming its index."""

# OCSP response pre-signing (issue 17): rust/porthos-py/src/ocsp_sign.rs.
@final
class OcspTemplate:
    """A BasicOCSPResponse compiled for one responder certificate, one issuer and one
    CertID hash ("sha1" or "sha256"): fixed bytes plus holes (serial, status, times,
    nonce)."""

    def __new__(
        cls,
        responder_cert: bytes,
        issuer_cert: bytes,
        signature_algorithm: str,
        cert_id_hash: str = "sha1",
    ) -> OcspTemplate: ...
    @property
    def signature_algorithm(self) -> str: ...
    @property
    def cert_id_hash(self) -> str: ...
    @property
    def issuer_name_hash(self) -> bytes: ...
    @property
    def issuer_key_hash(self) -> bytes: ...
    @property
    def responder_key_hash(self) -> bytes: ...
    def responder_public_key_der(self) -> bytes: ...
    def fill(
        self,
        serials: NDArray[np.uint8],
        status: NDArray[np.uint8],
        revocation_times: NDArray[np.int64],
        reasons: NDArray[np.uint8],
        *,
        this_update: int,
        produced_at: int,
        next_update: int | None = None,
        nonce: bytes | None = None,
    ) -> DerBatch:
        """tbsResponseData per item (hash with tbs_digests, sign, then assemble)."""
    def sign(
        self,
        key: SoftwareKey,
        serials: NDArray[np.uint8],
        status: NDArray[np.uint8],
        revocation_times: NDArray[np.int64],
        reasons: NDArray[np.uint8],
        *,
        this_update: int,
        produced_at: int,
        next_update: int | None = None,
        nonce: bytes | None = None,
        threads: int | None = None,
    ) -> DerBatch:
        """Fill, sign and assemble OCSPResponses (GIL released)."""
    def assemble(self, tbs: DerBatch, signatures: Sequence[bytes]) -> DerBatch: ...

def write_der_files(
    folder: str | os.PathLike[str],
    names: Sequence[str],
    batch: DerBatch,
    threads: int | None = None,
) -> None:
    """Item i of ``batch`` to ``folder/names[i]`` (temporary name, then rename), in
    parallel; names are plain file names (BatchArgumentError otherwise)."""

# OCSP (issue 17): the request parser and the responder (rust/porthos-ocspd).

@final
class OcspCertId:
    """One CertID of an OCSP request (RFC 6960 §4.1.1)."""

    hash: str  # "sha1" or "sha256"
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial_hex: str  # lower-case magnitude, no leading zeros

@final
class OcspRequestInfo:
    """parse_ocsp_request's answer."""

    cert_ids: list[OcspCertId]
    nonce: bytes | None  # the nonce octets (RFC 8954), 1..32 of them
    requestor_name: bytes | None  # GeneralName DER
    signed: bool  # optionalSignature present: accepted, not verified

def parse_ocsp_request(der: bytes, max_cert_ids: int = 1000) -> OcspRequestInfo:
    """Parse one strict-DER OCSPRequest. DerDecodeError (.offset, .path) when malformed;
    OcspRequestError (.reason: too-many-certids, nonce-length, unsupported-hash) past
    a limit."""

def ocsp_serve(
    workdir: str,
    listen: str,
    signer: Callable[[str, bytes, str, bytes | None], bytes] | None = None,
    ready: Callable[[str], object] | None = None,
    max_body: int = 16384,
    threads: int = 0,
    max_connections: int = 20000,
    reload_interval_ms: int = 500,
) -> None:
    """Serve workdir/ocsp/ on listen (IP:PORT) until SIGINT/SIGTERM, GIL released;
    ready(address) once listening; signer(ca_name, serial, hash, nonce) signs on
    demand (None: tryLater). WorkspaceError when the folder cannot be loaded."""

# -- RPKI (issue 18) ----------------------------------------------------------------------

@final
class ResourceSet:
    """AS numbers, IPv4 and IPv6 addresses as canonical interval sets (RFC 3779)."""

    def __new__(
        cls,
        *,
        asn: Sequence[tuple[int, int]] = ...,
        ipv4: Sequence[tuple[int, int]] = ...,
        ipv6: Sequence[tuple[int, int]] = ...,
    ) -> ResourceSet: ...
    @property
    def asn(self) -> list[tuple[int, int]]: ...
    @property
    def ipv4(self) -> list[tuple[int, int]]: ...
    @property
    def ipv6(self) -> list[tuple[int, int]]: ...
    def is_empty(self) -> bool: ...
    def union(self, other: ResourceSet) -> ResourceSet: ...
    def intersection(self, other: ResourceSet) -> ResourceSet: ...
    def difference(self, other: ResourceSet) -> ResourceSet: ...
    def is_subset(self, other: ResourceSet) -> bool: ...
    def ip_addr_blocks_der(
        self, *, inherit_ipv4: bool = False, inherit_ipv6: bool = False
    ) -> bytes | None:
        """IPAddrBlocks extnValue, or None with no IP family present or inherited."""
    def as_identifiers_der(self, *, inherit: bool = False) -> bytes | None:
        """ASIdentifiers extnValue (asnum only), or None when empty, not inherited."""
    @staticmethod
    def from_der(
        ip_addr_blocks: bytes | None = None, as_identifiers: bytes | None = None
    ) -> tuple[ResourceSet, list[str]]:
        """Strict parse; the second value lists the kinds marked inherit."""
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class SignedObjectBatch:
    """rpki_sign_objects' result: objects, EE certificates, phase wall times."""

    @property
    def objects(self) -> DerBatch: ...
    @property
    def certificates(self) -> DerBatch: ...
    @property
    def keygen_seconds(self) -> float: ...
    @property
    def sign_seconds(self) -> float: ...

def rpki_sia(entries: Sequence[tuple[str, str]]) -> bytes:
    """SIA extnValue; methods ca_repository|rpki_manifest|rpki_notify|signed_object."""

def rpki_parse_sia(der: bytes) -> list[tuple[str, str]]: ...
def rpki_roa(asn: int, prefixes: Sequence[tuple[int, int, int, int | None]]) -> bytes:
    """ROA eContent from (version, address, length, maxLength|None), canonicalised."""

def rpki_parse_roa(der: bytes) -> tuple[int, list[tuple[int, int, int, int | None]]]: ...
def rpki_manifest(
    number: bytes, this_update: int, next_update: int, files: Sequence[tuple[str, bytes]]
) -> bytes:
    """Manifest eContent; number is a big-endian magnitude, files (name, sha256)."""

def rpki_parse_manifest(der: bytes) -> tuple[bytes, int, int, list[tuple[str, bytes]]]: ...
def rpki_signed_object(
    ee_key: SoftwareKey,
    ee_certificate: bytes,
    content_type_name: str,
    content: bytes,
    signing_time: int,
) -> bytes:
    """One RFC 6488 signed object; content_type_name roa|manifest|dotted OID."""

def rpki_sign_objects(
    template: Template,
    ca_key: SoftwareKey,
    *,
    content_type: str,
    contents: Sequence[bytes],
    serials: NDArray[np.uint8] | Sequence[bytes],
    not_before: NDArray[np.int64] | Sequence[int],
    not_after: NDArray[np.int64] | Sequence[int],
    subjects: Sequence[Sequence[tuple[str, str]]],
    sias: Sequence[bytes | None] | None = None,
    ip_addr_blocks: Sequence[bytes | None] | None = None,
    as_identifiers: Sequence[bytes | None] | None = None,
    signing_time: int,
    threads: int | None = None,
    key_pool: RsaKeyPool | None = None,
) -> SignedObjectBatch:
    """N objects, each with a fresh RSA-2048 EE key (from key_pool when given, all N
    or none); GIL released."""

@final
class RsaKeyPool:
    """One-time RSA-2048 EE keys generated ahead; each leaves the pool when used."""

    def __new__(cls) -> RsaKeyPool: ...
    def fill(self, n: int, threads: int | None = None) -> float:
        """Generate n more keys (GIL released); returns the seconds it took."""
    def __len__(self) -> int: ...

def rpki_sha256(items: Sequence[bytes]) -> list[bytes]: ...

@final
class PointState:
    """A publication point's manifest entries (file name -> SHA-256, name order) and
    CRL entries, kept between changes; reissue() signs a new manifest and CRL."""

    def __new__(cls) -> PointState: ...
    def __len__(self) -> int: ...
    def set_files(self, names: Sequence[str], files: Sequence[bytes]) -> None: ...
    def set_file(self, name: str, data: bytes) -> bool: ...
    def remove_file(self, name: str) -> bool: ...
    def file_hash(self, name: str) -> bytes | None: ...
    def revoke(self, serial: bytes, revocation_time: int) -> None: ...
    def unrevoke(self, serial: bytes) -> bool: ...
    @property
    def revoked_count(self) -> int: ...
    def manifest_content(self, number: bytes, this_update: int, next_update: int) -> bytes: ...
    def reissue(
        self,
        template: Template,
        ca_key: SoftwareKey,
        ca_certificate: bytes,
        key_pool: RsaKeyPool,
        *,
        crl_name: str,
        manifest_number: bytes,
        crl_number: bytes,
        this_update: int,
        next_update: int,
        ee_serial: bytes,
        ee_subject: Sequence[tuple[str, str]],
        sia: bytes,
        ip_addr_blocks: bytes,
        as_identifiers: bytes,
        signing_time: int,
    ) -> tuple[bytes, bytes]:
        """(manifest, CRL) DER, GIL released: the CRL, then the manifest listing it
        as crl_name; the manifest's one-time EE key is taken from key_pool."""
