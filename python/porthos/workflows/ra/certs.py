"""X.509 helpers of the RA's checks: DN comparison (X.520 caseIgnoreMatch), loading and
reading certificates with pyca, the store's serial text, registry name syntax."""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

from porthos.exceptions import RegistrationError

__all__ = [
    "ATTRIBUTE_NAMES",
    "DOTTED_OID",
    "REGISTRY_NAME",
    "dn_key",
    "is_ca",
    "load_cert",
    "parse_dn",
    "serial_hex",
    "valid_at",
]

#: Chip-ID attribute names accepted in add_manufacturer (short name -> OID); a dotted
#: OID is accepted too.
ATTRIBUTE_NAMES: dict[str, ObjectIdentifier] = {
    "serialNumber": NameOID.SERIAL_NUMBER,
    "CN": NameOID.COMMON_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "dnQualifier": NameOID.DN_QUALIFIER,
    "UID": NameOID.USER_ID,
}
DOTTED_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
#: Names of manufacturers and AORs: 1-128 characters, no control characters (they go
#: into audit records and tables).
REGISTRY_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,128}")


def serial_hex(value: int) -> str:
    """The store's key of a serial: the hex of the 16-octet row (generate_serials)."""
    return format(value, "x").zfill(32)


def dn_key(name: x509.Name) -> str:
    # X.520 caseIgnoreMatch for the attribute types DNs use here; RFC 4514 text from
    # pyca so that string types (Printable vs UTF8) do not matter.
    return name.rfc4514_string().casefold()


def parse_dn(text: str) -> x509.Name:
    try:
        return x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise RegistrationError(f"acceptable DN {text!r} is not an RFC 4514 DN: {exc}") from None


def load_cert(der: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise RegistrationError(f"{what} is not a DER certificate: {exc}") from None


def is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bool(bc.ca)


def valid_at(cert: x509.Certificate, now: int) -> bool:
    return cert.not_valid_before_utc.timestamp() <= now <= cert.not_valid_after_utc.timestamp()
