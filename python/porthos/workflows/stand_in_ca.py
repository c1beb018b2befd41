"""A stand-in for an external CA (a bridge, a partner PKI) that the demo of a PKI
cross-certifies with: its own key, its self-signed certificate, the PKCS#10 request it
sends, and the cross-certificate it issues to one of our CAs in return, all built with
pyca/cryptography, never with porthos' encoders, so that what a relying party
anchored at the stand-in accepts is judged against an independent writer.

What the stand-in is (name, key type, policies, mappings) is the PKI's demo data
(cpcps/demo_inputs.py); nothing here names a PKI.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, ObjectIdentifier

from porthos.cpcps.policy import ATTRIBUTE_OIDS

if TYPE_CHECKING:
    from porthos.cpcps.demo_inputs import External

__all__ = ["StandIn", "generate_key", "pyca_name"]

_OIDS = {short: oid for oid, short in ATTRIBUTE_OIDS.items()}
# RFC 5280 §4.2.1.5: id-ce-policyMappings (pyca has no class for it: written as DER).
_POLICY_MAPPINGS = ObjectIdentifier("2.5.29.33")


def generate_key(key_type: str) -> Any:
    """A pyca private key of a profile key type name (rsa-N, ec-p256, ec-p384)."""
    if key_type.startswith("rsa-"):
        return rsa.generate_private_key(65537, int(key_type[4:]))
    curves = {"ec-p256": ec.SECP256R1(), "ec-p384": ec.SECP384R1()}
    return ec.generate_private_key(curves[key_type])


def pyca_name(attributes: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> x509.Name:
    """A Name, one attribute per RDN, most general first (short names or dotted OIDs)."""
    return x509.Name(
        [x509.NameAttribute(ObjectIdentifier(_OIDS.get(a, a)), v) for a, v in attributes]
    )


def _der_oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray()
    for n in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        body += bytes(reversed(chunk))
    return _der(0x06, bytes(body))


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def policy_mappings_der(pairs: tuple[tuple[str, str], ...]) -> bytes:
    """PolicyMappings ::= SEQUENCE OF SEQUENCE { issuerDomainPolicy, subjectDomainPolicy }."""
    return _der(0x30, b"".join(_der(0x30, _der_oid(a) + _der_oid(b)) for a, b in pairs))


class StandIn:
    """The external CA: key, self-signed certificate, request, cross-certificates."""

    def __init__(self, data: External, now: int) -> None:
        self.data = data
        self.key = generate_key(data.key_type)
        self._now = dt.datetime.fromtimestamp(now, dt.UTC)
        self._until = dt.datetime.fromtimestamp(data.validity.not_after(now), dt.UTC)
        name = pyca_name(data.subject)
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._now)
            .not_valid_after(self._until)
            .add_extension(ski, critical=False)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def key_pem(self) -> bytes:
        return bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def csr(self) -> bytes:
        """The PKCS#10 request it sends for our cross-certificate, with its key id (the
        SKI our CA copies from the request: RFC 5280 §4.2.1.2)."""
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        return (
            x509.CertificateSigningRequestBuilder()
            .subject_name(self.certificate.subject)
            .add_extension(ski, critical=False)
            .sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.DER)
        )

    def cross_certify(self, ours_der: bytes) -> bytes:
        """The cross-certificate it issues to our CA (subject, key and key id of our
        certificate), asserting its own policies, mapped onto ours."""
        ours = x509.load_der_x509_certificate(ours_der)
        ski = ours.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value
        issuer_ski = self.certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        policies = [x509.PolicyInformation(ObjectIdentifier(o), None) for o in self.data.policies]
        b = (
            x509.CertificateBuilder()
            .subject_name(ours.subject)
            .issuer_name(self.certificate.subject)
            .public_key(ours.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._now)
            .not_valid_after(self._until)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
                critical=False,
            )
            .add_extension(ski, critical=False)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(x509.CertificatePolicies(policies), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        )
        if self.data.mappings:
            der = policy_mappings_der(self.data.mappings)
            # RFC 5280 §4.2.1.5: SHOULD be critical.
            b = b.add_extension(x509.UnrecognizedExtension(_POLICY_MAPPINGS, der), critical=True)
        if self.data.inhibit_any_policy is not None:
            b = b.add_extension(x509.InhibitAnyPolicy(self.data.inhibit_any_policy), critical=True)
        return b.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
