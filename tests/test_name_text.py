"""``name_der_text`` (issuance/names.py) writes a Name's DER as pyca's rfc4514_string
does: ``crl inspect`` shows the issuer with it instead of loading the CRL into pyca."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from porthos.issuance.names import name_der_text

# UTF8String for every type (pyca defaults some to Printable/IA5, which refuse "é").
UTF8 = _ASN1Type.UTF8String
KEY = ed25519.Ed25519PrivateKey.generate()
ATTRS = [
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.SERIAL_NUMBER,
    NameOID.EMAIL_ADDRESS,
    NameOID.DOMAIN_COMPONENT,
    NameOID.USER_ID,
    NameOID.STREET_ADDRESS,
]
# Values with the characters RFC 4514 escapes, leading/trailing spaces and '#', and
# non-ASCII text (UTF8String).
VALUES = st.text(alphabet=st.sampled_from(list('abcXYZ019 ,+"\\<>;=#é✓')), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.sampled_from(ATTRS), VALUES), min_size=1, max_size=3, unique=True),
        min_size=1,
        max_size=5,
    )
)
def test_equals_pyca(rdns: list[list[tuple[x509.ObjectIdentifier, str]]]) -> None:
    rdn_list = [
        x509.RelativeDistinguishedName([x509.NameAttribute(o, v, _type=UTF8) for o, v in r])
        for r in rdns
    ]
    # Through a CSR, so pyca's text is of the name as decoded from DER (a SET OF is sorted).
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(rdn_list)).sign(KEY, None)
    decoded = x509.load_der_x509_csr(csr.public_bytes(serialization.Encoding.DER)).subject
    assert name_der_text(decoded.public_bytes()) == decoded.rfc4514_string()


def test_country_and_printable() -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CH"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Porthos Root CA 1"),
        ]
    )
    assert name_der_text(name.public_bytes()) == "CN=Porthos Root CA 1,C=CH"
