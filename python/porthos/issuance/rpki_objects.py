"""RPKI signed objects (RFC 6488): ROAs (RFC 9582) and manifests (RFC 9286), built
and signed in Rust (porthos._native), N per call, each by its own one-time EE key.

The caller (the RPKI CP/CPS, later ``cpcps/rpki``) decides *what* is published: which
prefixes an AS may announce, the manifest's number and period, the EE profile (a
template spec with ``subject_info_access``, ``ip_addr_blocks`` and ``as_identifiers``
holes, docs/template-spec.md). This module turns those decisions into bytes:

* :func:`roa_content` / :func:`parse_roa` and :func:`manifest_content` /
  :func:`parse_manifest`: the eContents, canonical on the way out, strict on the way in;
* :class:`ObjectSigner`: EE certificates + CMS for a batch of contents
  (docs/rpki-engine.md has the measured rates).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from porthos import _native
from porthos._native import DerBatch, ResourceSet, RsaKeyPool, SoftwareKey, Template
from porthos.exceptions import EncodeError, ResourceError
from porthos.issuance.rpki_resources import prefix_interval

__all__ = [
    "Manifest",
    "ObjectRequest",
    "ObjectSigner",
    "RoaPrefix",
    "SignedObjects",
    "manifest_content",
    "parse_manifest",
    "parse_roa",
    "parse_roa_prefix",
    "roa_content",
    "roa_resources",
]

# "192.0.2.0/24" or "192.0.2.0/24-26" (prefix, then maxLength; RFC 9582 §4.3.2).
_ROA_PREFIX_RE = re.compile(r"(?P<prefix>[^-\s]+/\d{1,3})(?:-(?P<max>\d{1,3}))?")


@dataclass(frozen=True, order=True)
class RoaPrefix:
    """One ROAIPAddress: ``version`` 4|6, ``address`` as an int, ``length``,
    ``max_length`` (None: the prefix length only)."""

    version: int
    address: int
    length: int
    max_length: int | None = None

    def __str__(self) -> str:
        net = ipaddress.ip_network((self.address, self.length))
        return str(net) if self.max_length is None else f"{net}-{self.max_length}"


def parse_roa_prefix(text: str) -> RoaPrefix:
    """``"192.0.2.0/24-26"`` -> RoaPrefix; errors name the token (ResourceError)."""
    m = _ROA_PREFIX_RE.fullmatch(text.strip())
    if not m:
        raise ResourceError(
            f"ROA prefix {text!r}: expected address/length[-maxLength]", token=text
        )
    version, lo, _ = prefix_interval(m.group("prefix"))
    length = int(m.group("prefix").rsplit("/", 1)[1])
    max_length = int(m.group("max")) if m.group("max") else None
    width = 32 if version == 4 else 128
    if max_length is not None and not length <= max_length <= width:
        raise ResourceError(
            f"ROA prefix {text!r}: maxLength must lie in {length}..{width} (RFC 9582 §4.3.2)",
            token=text,
        )
    return RoaPrefix(version, lo, length, max_length)


def roa_content(asn: int, prefixes: Sequence[RoaPrefix | str]) -> bytes:
    """RouteOriginAttestation DER (canonical: sorted, deduplicated, IPv4 first)."""
    ps = [parse_roa_prefix(p) if isinstance(p, str) else p for p in prefixes]
    return _native.rpki_roa(asn, [(p.version, p.address, p.length, p.max_length) for p in ps])


def parse_roa(der: bytes) -> tuple[int, list[RoaPrefix]]:
    """(asID, prefixes) of a ROA eContent; non-canonical DER raises DerDecodeError."""
    asn, ps = _native.rpki_parse_roa(der)
    return asn, [RoaPrefix(*p) for p in ps]


def roa_resources(prefixes: Sequence[RoaPrefix]) -> ResourceSet:
    """The addresses a ROA's EE certificate must hold (RFC 9582 §5: the EE's IP
    resources are exactly those of the ROA's prefixes)."""
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    for p in prefixes:
        width = 32 if p.version == 4 else 128
        span = (p.address, p.address | ((1 << (width - p.length)) - 1))
        (v4 if p.version == 4 else v6).append(span)
    return ResourceSet(ipv4=v4, ipv6=v6)


def manifest_content(
    number: int,
    this_update: int,
    next_update: int,
    files: Sequence[tuple[str, bytes]],
) -> bytes:
    """Manifest DER for (file name, file bytes) pairs, hashed here with SHA-256 in
    one native call. Times are Unix seconds."""
    if number < 0:
        raise EncodeError(f"manifestNumber {number} must be >= 0 (RFC 9286 §4.2.1)")
    hashes = _native.rpki_sha256([content for _, content in files])
    magnitude = number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")
    return _native.rpki_manifest(
        magnitude,
        this_update,
        next_update,
        [(name, h) for (name, _), h in zip(files, hashes, strict=True)],
    )


@dataclass(frozen=True)
class Manifest:
    number: int
    this_update: int
    next_update: int
    files: list[tuple[str, bytes]]


def parse_manifest(der: bytes) -> Manifest:
    """A manifest eContent, strictly; its files as (name, SHA-256)."""
    number, this_update, next_update, files = _native.rpki_parse_manifest(der)
    return Manifest(int.from_bytes(number, "big"), this_update, next_update, files)


@dataclass(frozen=True)
class ObjectRequest:
    """One object to sign. ``sia``: SubjectInfoAccessSyntax DER (``signed_object``
    URI, ``_native.rpki_sia``); ``ip_addr_blocks`` / ``as_identifiers``: the EE's
    RFC 3779 extnValues (``ResourceSet.*_der``), None for a hole left out."""

    content: bytes
    serial: bytes
    subject: Sequence[tuple[str, str]]
    not_before: int
    not_after: int
    sia: bytes | None = None
    ip_addr_blocks: bytes | None = None
    as_identifiers: bytes | None = None


@dataclass(frozen=True)
class SignedObjects:
    objects: DerBatch
    certificates: DerBatch
    keygen_seconds: float
    sign_seconds: float


class ObjectSigner:
    """Signs batches of RPKI objects for one CA: ``template`` is the EE profile
    compiled against the CA certificate, ``ca_key`` the CA's key."""

    def __init__(self, template: Template, ca_key: SoftwareKey) -> None:
        self.template = template
        self.ca_key = ca_key

    def sign(
        self,
        content_type: str,
        requests: Sequence[ObjectRequest],
        *,
        signing_time: int,
        threads: int | None = None,
        key_pool: RsaKeyPool | None = None,
    ) -> SignedObjects:
        """``content_type``: "roa", "manifest" or a dotted eContentType OID.
        ``key_pool``: take the one-time keys from it (all or none) instead of
        generating them in this call."""
        out = _native.rpki_sign_objects(
            self.template,
            self.ca_key,
            content_type=content_type,
            contents=[r.content for r in requests],
            serials=[r.serial for r in requests],
            not_before=[r.not_before for r in requests],
            not_after=[r.not_after for r in requests],
            subjects=[list(r.subject) for r in requests],
            sias=[r.sia for r in requests],
            ip_addr_blocks=[r.ip_addr_blocks for r in requests],
            as_identifiers=[r.as_identifiers for r in requests],
            signing_time=signing_time,
            threads=threads,
            key_pool=key_pool,
        )
        return SignedObjects(out.objects, out.certificates, out.keygen_seconds, out.sign_seconds)
