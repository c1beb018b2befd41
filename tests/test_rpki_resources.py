"""RPKI resources (issue 18 §1): text <-> ResourceSet, arithmetic against a Python
reference, RFC 3779 DER read back by pyca and shown by ``openssl x509 -text``."""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from error_codes import raises_code
from hypothesis import given, settings
from hypothesis import strategies as st
from porthos._native import ResourceSet
from porthos.exceptions import DerDecodeError, EncodeError, ResourceError
from porthos.issuance.rpki_resources import format_resources, parse_resources, require_subset

IP_ADDR_BLOCKS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.7")
AS_IDS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.8")


def _ip(text: str) -> int:
    return int(ipaddress.ip_address(text))


def test_text_parse_and_canonical_text() -> None:
    rs = parse_resources("AS64496-64511, 192.0.2.0/24, 2001:db8::/32 AS65000 198.51.100.0/25")
    assert rs.asn == [(64496, 64511), (65000, 65000)]
    assert rs.ipv4 == [
        (_ip("192.0.2.0"), _ip("192.0.2.255")),
        (_ip("198.51.100.0"), _ip("198.51.100.127")),
    ]
    assert rs.ipv6 == [(_ip("2001:db8::"), _ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"))]
    # Adjacent prefixes merge into one prefix, three into a range (RFC 3779 §2.2.3.6).
    assert format_resources(parse_resources("10.0.0.0/24, 10.0.1.0/24")) == "10.0.0.0/23"
    merged = parse_resources("10.0.0.0/24 10.0.1.0/24 10.0.2.0/24 AS1 AS2 AS3")
    assert format_resources(merged) == "AS1-3, 10.0.0.0-10.0.2.255"
    assert parse_resources("AS5-AS9").asn == [(5, 9)]
    assert parse_resources("10.0.0.5-10.0.0.9").ipv4 == [(_ip("10.0.0.5"), _ip("10.0.0.9"))]


@pytest.mark.parametrize(
    "text, token",
    [
        ("AS1, 192.0.2.1/24", "192.0.2.1/24"),  # host bits set
        ("AS4294967296", "AS4294967296"),
        ("AS9-5", "AS9-5"),
        ("10.0.0.9-10.0.0.5", "10.0.0.9-10.0.0.5"),
        ("10.0.0.0-2001:db8::", "10.0.0.0-2001:db8::"),
        ("banana", "banana"),
        ("10.0.0.0/33", "10.0.0.0/33"),
    ],
)
def test_bad_tokens_are_named(text: str, token: str) -> None:
    with raises_code(ResourceError, "rpki-resources") as info:
        parse_resources(text)
    assert info.value.token == token


def test_strict_refuses_overlap_and_subset_names_the_excess() -> None:
    with raises_code(ResourceError, "rpki-resources") as info:
        parse_resources("10.0.0.0/8, 10.1.0.0/16", strict=True)
    assert info.value.token == "10.0.0.0/8, 10.1.0.0/16"
    held = parse_resources("AS64496-64511, 10.0.0.0/8")
    require_subset(parse_resources("AS64500, 10.1.0.0/16"), held)
    with raises_code(ResourceError, "rpki-resources") as info:
        require_subset(parse_resources("AS64500-64520, 10.0.0.0/7, 2001:db8::/32"), held)
    assert info.value.token == "AS64512-64520, 11.0.0.0/8, 2001:db8::/32"


def test_native_refuses_out_of_range_intervals() -> None:
    with raises_code(EncodeError, "encode"):
        ResourceSet(ipv4=[(0, 2**32)])
    with raises_code(EncodeError, "encode"):
        ResourceSet(asn=[(5, 4)])


# A small universe per family: the arithmetic is checked against Python sets.
_ranges = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 6)), max_size=6).map(
    lambda v: [(a, min(a + n, 63)) for a, n in v]
)


def _members(ranges: list[tuple[int, int]]) -> set[int]:
    return {x for lo, hi in ranges for x in range(lo, hi + 1)}


@settings(max_examples=150, deadline=None)
@given(a4=_ranges, b4=_ranges, a_as=_ranges, b_as=_ranges)
def test_arithmetic_matches_python_sets(a4, b4, a_as, b_as) -> None:  # type: ignore[no-untyped-def]
    a = ResourceSet(asn=a_as, ipv4=a4)
    b = ResourceSet(asn=b_as, ipv4=b4)
    for op, ref in [
        (a.union(b), lambda x, y: x | y),
        (a.intersection(b), lambda x, y: x & y),
        (a.difference(b), lambda x, y: x - y),
    ]:
        assert _members(op.ipv4) == ref(_members(a4), _members(b4))
        assert _members(op.asn) == ref(_members(a_as), _members(b_as))
    assert a.is_subset(b) == (_members(a4) <= _members(b4) and _members(a_as) <= _members(b_as))
    # DER round trip of whatever is non-empty.
    ip, asn = a.ip_addr_blocks_der(), a.as_identifiers_der()
    back, inherit = ResourceSet.from_der(ip, asn)
    assert back == a and inherit == []


_token = st.one_of(
    st.integers(0, 2**32 - 1).map(lambda n: f"AS{n}"),
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(
        lambda t: str(ipaddress.ip_network((t[0], t[1]), strict=False))
    ),
    st.tuples(st.integers(0, 2**128 - 1), st.integers(0, 128)).map(
        lambda t: str(ipaddress.ip_network((t[0], t[1]), strict=False))
    ),
)


@settings(max_examples=150, deadline=None)
@given(tokens=st.lists(_token, min_size=1, max_size=8), junk=st.text(max_size=12))
def test_text_round_trip_and_junk(tokens: list[str], junk: str) -> None:
    rs = parse_resources(", ".join(tokens))
    assert parse_resources(format_resources(rs)) == rs
    # Arbitrary text either parses or raises ResourceError, nothing else.
    try:
        parse_resources(junk)
    except ResourceError as e:
        assert e.token


def test_inherit_and_strict_der() -> None:
    rs = parse_resources("AS1")
    ip = rs.ip_addr_blocks_der(inherit_ipv4=True, inherit_ipv6=True)
    asn = rs.as_identifiers_der(inherit=True)
    back, inherit = ResourceSet.from_der(ip, asn)
    assert back.is_empty() and inherit == ["asn", "ipv4", "ipv6"]
    # A non-canonical encoding (adjacent 10.0.0.0/24, 10.0.1.0/24) is refused.
    family = "04020001" + "300c" + "0304000a0000" + "0304000a0001"
    bad = bytes.fromhex("3014" + "3012" + family)
    # The message is the behaviour here: the canonical-form rule it broke.
    with raises_code(DerDecodeError, "der-decode", match="adjacent"):
        ResourceSet.from_der(bad, None)


def _cert_with(extensions: list[x509.Extension[x509.ExtensionType]]) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rpki test")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
    )
    for e in extensions:
        b = b.add_extension(e.value, critical=e.critical)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_pyca_loads_and_openssl_shows_the_extensions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rs = parse_resources(
        "AS135, AS3000-3999, AS5001, 10.0.32.0/20, 10.2.48.0-10.2.64.255, 2001:db8::/32"
    )
    ip, asn = rs.ip_addr_blocks_der(), rs.as_identifiers_der()
    assert ip is not None and asn is not None
    der = _cert_with(
        [
            x509.Extension(IP_ADDR_BLOCKS, True, x509.UnrecognizedExtension(IP_ADDR_BLOCKS, ip)),
            x509.Extension(AS_IDS, True, x509.UnrecognizedExtension(AS_IDS, asn)),
        ]
    )
    cert = x509.load_der_x509_certificate(der)
    got = cert.extensions.get_extension_for_oid(IP_ADDR_BLOCKS)
    assert got.critical and got.value.value == ip  # type: ignore[attr-defined]
    path = tmp_path / "c.der"
    path.write_bytes(der)
    text = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-in", str(path), "-noout", "-text"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # OpenSSL decodes RFC 3779 itself: the names and the ranges as it prints them.
    assert "sbgp-ipAddrBlock: critical" in text
    assert "sbgp-autonomousSysNum: critical" in text
    for shown in [
        "10.0.32.0/20",
        "10.2.48.0-10.2.64.255",
        "2001:db8::/32",
        "135",
        "3000-3999",
        "5001",
    ]:
        assert shown in text, shown
