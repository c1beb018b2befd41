"""crl_head reads a CRL's issuer and number without its entries (the repository keeps
the newest CRL of an issuer, issue 6; a full parse of a 1M-entry CRL per path cost 0.1 s),
and agrees with the full parser on every CRL the writer makes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from porthos import _native
from porthos.issuance import crl as C
from porthos.workspace.repository import crl_head


@pytest.fixture(scope="module")
def issuer() -> tuple[bytes, _native.SoftwareKey]:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Head CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(7)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=9))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    p8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.DER), _native.SoftwareKey.from_pkcs8(p8)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, (1 << 159) - 1), st.integers(0, 300), st.booleans())
def test_agrees_with_the_parser(issuer: tuple, number: int, n: int, delta: bool) -> None:
    cert, key = issuer
    cols = C.RevocationColumns(
        C.serials_from_ints(range(1, n + 1)),
        np.full(n, 1_750_000_000, np.int64),
        np.full(n, 1, np.uint8),
    )
    der = bytes(
        C.build_crl(
            cert, key, cols, crl_number=number, this_update=1_750_000_000,
            next_update=1_750_086_400, delta_base=0 if delta else None,
        )
    )  # fmt: skip
    parsed = C.parse_crl(der)
    head = crl_head(der)
    assert head is not None
    assert head[0] == parsed.issuer_der
    assert head[1] == parsed.crl_number


@pytest.mark.parametrize(
    "data", [b"", b"\x30", b"\x30\x82\xff\xff", b"garbage", b"\x30\x03\x02\x01\x01"]
)
def test_not_a_crl_is_none(data: bytes) -> None:
    assert crl_head(data) is None or crl_head(data)[1] is None  # type: ignore[index]
