"""Template.fill must equal, byte for byte, a straightforward encoding of the same
certificate (ARCHITECTURE.md "Templates"): hypothesis against tests/reference_encoder.py
over random subjects, keys, serials, times, SAN lists and extension specs.

The reference encoder is itself pinned against pyca/cryptography's CertificateBuilder
(test_reference_encoder_matches_pyca), so the chain of trust is
pyca -> reference encoder -> porthos template engine.

Examples per test: HYPOTHESIS_PROFILE=slow gives 2000, the default 200.
"""

from __future__ import annotations

import calendar
import datetime as dt
import ipaddress
import json
import os
from functools import cache, lru_cache
from typing import Any

import pytest
import reference_encoder as ref
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MAX_EXAMPLES = 2000 if os.environ.get("HYPOTHESIS_PROFILE") == "slow" else 200
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

T_MIN = calendar.timegm((1950, 1, 1, 0, 0, 0))
T_MAX = calendar.timegm((9999, 12, 31, 23, 59, 59))
T_EDGES = [
    T_MIN,
    calendar.timegm((2049, 12, 31, 23, 59, 59)),  # last UTCTime second
    calendar.timegm((2050, 1, 1, 0, 0, 0)),  # first GeneralizedTime second
    calendar.timegm((1999, 12, 31, 23, 59, 59)),
    calendar.timegm((2000, 1, 1, 0, 0, 0)),
    0,
    T_MAX,
]


def _native() -> Any:
    import porthos._native as native

    return native


# --- key pool: SPKIs generated once by pyca ----------------------------------------------


@lru_cache(maxsize=1)
def key_pool() -> list[tuple[str, Any, bytes]]:
    keys: list[tuple[str, Any]] = [
        ("ec-p256", ec.generate_private_key(ec.SECP256R1())),
        ("ec-p256", ec.generate_private_key(ec.SECP256R1())),
        ("ec-p384", ec.generate_private_key(ec.SECP384R1())),
        ("ec-p384", ec.generate_private_key(ec.SECP384R1())),
        ("rsa-2048", rsa.generate_private_key(65537, 2048)),
    ]
    return [
        (
            kind,
            k,
            k.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
        for kind, k in keys
    ]


spki_index = st.integers(0, 4)

# --- strategies ----------------------------------------------------------------------------

PRINTABLE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
# pyca checks ub-common-name (64) in UTF-8 octets: 16 characters of up to 4 octets fit.
utf8_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=16
)
printable_text = st.text(alphabet=PRINTABLE_CHARS, min_size=1, max_size=64)
country = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)

attribute = st.one_of(
    st.tuples(
        st.sampled_from(["2.5.4.3", "2.5.4.10", "2.5.4.11", "2.5.4.7", "2.5.4.8"]), utf8_text
    ),
    st.tuples(st.just("2.5.4.6"), country),
    st.tuples(st.sampled_from(["2.5.4.5", "2.5.4.46"]), printable_text),
)
subjects = st.lists(attribute, min_size=1, max_size=6)


@st.composite
def serials(draw: st.DrawFn) -> bytes:
    # 1..20 octets, first octet 0x01..0x7f: positive and already minimal (RFC 5280 §4.1.2.2).
    n = draw(st.integers(1, 20))
    return bytes([draw(st.integers(1, 0x7F))]) + draw(st.binary(min_size=n - 1, max_size=n - 1))


times = st.one_of(st.sampled_from(T_EDGES), st.integers(T_MIN, T_MAX))


@st.composite
def validity(draw: st.DrawFn) -> tuple[int, int]:
    a, b = draw(times), draw(times)
    return (min(a, b), max(a, b))


label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?", fullmatch=True)
hostname = st.lists(label, min_size=1, max_size=4).map(".".join)
san_entry = st.one_of(
    st.tuples(st.just("dns"), hostname),
    st.tuples(st.just("uri"), hostname.map(lambda h: f"https://{h}/p")),
    st.tuples(st.just("email"), st.tuples(label, hostname).map(lambda t: f"{t[0]}@{t[1]}")),
    st.tuples(st.just("ip"), st.ip_addresses().map(str)),
)
san_lists = st.one_of(st.none(), st.lists(san_entry, min_size=1, max_size=4))

uri = hostname.map(lambda h: f"http://{h}/x")
oid_text = st.tuples(st.integers(1, 99999), st.integers(0, 2**32)).map(
    lambda t: f"1.3.6.1.4.1.{t[0]}.{t[1]}"
)
critical_kw = st.sampled_from([{}, {"critical": True}, {"critical": False}])


def _with_critical(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return critical_kw.map(lambda kw: {**base, **kw})


@st.composite
def subtree(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from(["dns", "email", "uri", "ip4", "ip6", "dirname_hex"]))
    if kind == "ip4":
        p = draw(st.integers(0, 32))
        net = ipaddress.ip_network((draw(st.integers(0, 2**32 - 1)), p), strict=False)
        return ["ip", str(net)]
    if kind == "ip6":
        p = draw(st.integers(0, 128))
        net6 = ipaddress.ip_network((draw(st.integers(0, 2**128 - 1)), p), strict=False)
        return ["ip", str(net6)]
    if kind == "dirname_hex":
        return ["dirname_hex", ref.name(draw(subjects)).hex()]
    return [kind, draw(hostname)]


def extension_entries(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One candidate entry per extension type; the spec takes a random subset and order."""
    ku = draw(
        st.lists(st.sampled_from(sorted(ref.KEY_USAGE_BITS)), min_size=1, max_size=9, unique=True)
    )
    ca = draw(st.booleans())
    policies = [
        {
            "oid": draw(oid_text),
            "cps_uris": draw(st.lists(uri, max_size=1)),
            "user_notices": draw(
                st.lists(st.text(alphabet=PRINTABLE_CHARS, min_size=1, max_size=40), max_size=1)
            ),
        }
        for _ in range(draw(st.integers(1, 2)))
    ]
    return [
        {"type": "authority_key_identifier"},
        {"type": "subject_key_identifier"},
        {"type": "crl_distribution_points", "uris": draw(st.lists(uri, min_size=1, max_size=2))},
        {
            "type": "authority_info_access",
            "ca_issuers": draw(st.lists(uri, min_size=1, max_size=2)),
            "ocsp": draw(st.lists(uri, max_size=2)),
        },
        draw(_with_critical({"type": "key_usage", "usages": ku})),
        draw(
            _with_critical(
                {
                    "type": "extended_key_usage",
                    "purposes": draw(st.lists(oid_text, min_size=1, max_size=3, unique=True)),
                }
            )
        ),
        draw(
            _with_critical(
                {
                    "type": "basic_constraints",
                    "ca": ca,
                    "path_len": draw(st.one_of(st.none(), st.integers(0, 300))) if ca else None,
                }
            )
        ),
        draw(_with_critical({"type": "subject_alt_name"})),
        draw(_with_critical({"type": "certificate_policies", "policies": policies})),
        draw(
            _with_critical(
                {
                    "type": "name_constraints",
                    "permitted": draw(st.lists(subtree(), min_size=1, max_size=3)),
                    "excluded": draw(st.lists(subtree(), max_size=2)),
                }
            )
        ),
        draw(
            _with_critical(
                {
                    "type": "policy_mappings",
                    "mappings": draw(
                        st.lists(st.tuples(oid_text, oid_text).map(list), min_size=1, max_size=2)
                    ),
                }
            )
        ),
        draw(
            _with_critical(
                {
                    "type": "policy_constraints",
                    "require_explicit_policy": draw(st.integers(0, 300)),
                    "inhibit_policy_mapping": draw(st.one_of(st.none(), st.integers(0, 5))),
                }
            )
        ),
        draw(
            _with_critical({"type": "inhibit_any_policy", "skip_certs": draw(st.integers(0, 300))})
        ),
        draw(
            _with_critical(
                {
                    "type": "raw",
                    "oid": draw(oid_text),
                    "value_hex": draw(st.sampled_from(["0500", "0101ff", "0403010203", "3000"])),
                }
            )
        ),
    ]


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    entries = extension_entries(draw)
    chosen = draw(
        st.lists(st.sampled_from(range(len(entries))), unique=True, max_size=len(entries))
    )
    return {"extensions": [entries[i] for i in chosen]}


SIG_ALGS = [
    "ecdsa-sha256",
    "ecdsa-sha384",
    "rsa-pkcs1-sha256",
    "rsa-pkcs1-sha384",
    "rsa-pss-sha256",
    "rsa-pss-sha384",
]


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    nb, na = draw(validity())
    return {
        "serial": draw(serials()),
        "nb": nb,
        "na": na,
        "subject": draw(subjects),
        "spki": key_pool()[draw(spki_index)][2],
        "sans": draw(san_lists),
    }


# --- the reference encoder agrees with pyca ----------------------------------------------


def _pyca_cert(item: dict[str, Any], issuer_key: Any, alg: str) -> x509.Certificate:
    """pyca's CertificateBuilder for the same certificate as reference FULL_SPEC."""
    o = x509.ObjectIdentifier
    subject_key = serialization.load_der_public_key(item["spki"])
    sans = [
        x509.DNSName(v)
        if k == "dns"
        else x509.UniformResourceIdentifier(v)
        if k == "uri"
        else x509.RFC822Name(v)
        if k == "email"
        else x509.IPAddress(ipaddress.ip_address(v))
        for k, v in item["sans"] or []
    ]
    b = (
        x509.CertificateBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(o("2.5.4.3"), "Issuer")]))
        .subject_name(x509.Name([x509.NameAttribute(o(a), v) for a, v in item["subject"]]))
        .public_key(subject_key)  # type: ignore[arg-type]
        .serial_number(int.from_bytes(item["serial"], "big"))
        .not_valid_before(dt.datetime.fromtimestamp(item["nb"], dt.UTC))
        .not_valid_after(dt.datetime.fromtimestamp(item["na"], dt.UTC))
        .add_extension(x509.AuthorityKeyIdentifier(bytes(range(20)), None, None), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key), False)  # type: ignore[arg-type]
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier("http://c/1.crl")], None, None, None
                    )
                ]
            ),
            False,
        )
        .add_extension(
            x509.KeyUsage(True, False, False, False, True, False, False, False, False), True
        )
        .add_extension(x509.BasicConstraints(False, None), True)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), False)
    if alg.startswith("rsa-pss"):
        h: hashes.HashAlgorithm = hashes.SHA256() if alg.endswith("256") else hashes.SHA384()
        return b.sign(issuer_key, h, rsa_padding=padding.PSS(padding.MGF1(h), h.digest_size))
    return b.sign(issuer_key, hashes.SHA256() if alg.endswith("256") else hashes.SHA384())


PYCA_SPEC = {
    "extensions": [
        {"type": "authority_key_identifier"},
        {"type": "subject_key_identifier"},
        {"type": "crl_distribution_points", "uris": ["http://c/1.crl"]},
        {"type": "key_usage", "usages": ["key_agreement", "digital_signature"]},
        {"type": "basic_constraints", "ca": False},
        {"type": "subject_alt_name"},
    ]
}


@lru_cache(maxsize=1)
def issuer_keys() -> dict[str, Any]:
    return {
        "ecdsa": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(65537, 2048),
    }


@SETTINGS
@given(item=items(), alg=st.sampled_from(SIG_ALGS))
def test_reference_encoder_matches_pyca(item: dict[str, Any], alg: str) -> None:
    key = issuer_keys()["ecdsa" if alg.startswith("ecdsa") else "rsa"]
    cert = _pyca_cert(item, key, alg)
    expected = ref.tbs_certificate(
        PYCA_SPEC,
        ref.name([("CN", "Issuer")]),
        bytes(range(20)),
        alg,
        item["serial"],
        item["nb"],
        item["na"],
        item["subject"],
        item["spki"],
        item["sans"],
    )
    assert cert.tbs_certificate_bytes == expected


def test_reference_time_rule() -> None:
    # RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    assert ref.time(T_EDGES[1]) == b"\x17\x0d491231235959Z"
    assert ref.time(T_EDGES[2]) == b"\x18\x0f20500101000000Z"
    assert ref.time(T_MIN) == b"\x17\x0d500101000000Z"
    assert ref.time(T_MAX) == b"\x18\x0f99991231235959Z"


# --- porthos Template.fill == reference ---------------------------------------------------


@SETTINGS
@given(
    spec=specs(),
    alg=st.sampled_from(SIG_ALGS),
    issuer=subjects,
    issuer_kid=st.binary(min_size=20, max_size=20),
    batch=st.lists(items(), min_size=1, max_size=4),
)
def test_fill_equals_reference(
    spec: dict[str, Any],
    alg: str,
    issuer: list[tuple[str, str]],
    issuer_kid: bytes,
    batch: list[dict[str, Any]],
) -> None:
    native = _native()
    if not any(e["type"] == "subject_alt_name" for e in spec["extensions"]):
        # Names for a template without the SAN hole are an argument error (tested below).
        for i in batch:
            i["sans"] = None
    issuer_der = ref.name(issuer)
    tpl = native.Template(json.dumps(spec), issuer_der, issuer_kid, alg)
    out = tpl.fill(
        serials=[i["serial"] for i in batch],
        not_before=[i["nb"] for i in batch],
        not_after=[i["na"] for i in batch],
        subjects=[i["subject"] for i in batch],
        spkis=[i["spki"] for i in batch],
        sans=[i["sans"] for i in batch],
    )
    assert len(out) == len(batch)
    for got, i in zip(out, batch, strict=True):
        expected = ref.tbs_certificate(
            spec,
            issuer_der,
            issuer_kid,
            alg,
            i["serial"],
            i["nb"],
            i["na"],
            i["subject"],
            i["spki"],
            i["sans"],
        )
        assert got.hex() == expected.hex()


# --- Template.issue: the certificate around the filled TBS verifies -------------------------

ISSUE_SPEC = {
    "extensions": [
        {"type": "authority_key_identifier"},
        {"type": "subject_key_identifier"},
        {"type": "key_usage", "usages": ["digital_signature"]},
        {"type": "basic_constraints", "ca": False},
        {"type": "subject_alt_name"},
    ]
}
SIGNERS = [
    ("ec-p256", "ecdsa-sha256"),
    ("ec-p384", "ecdsa-sha384"),
    ("rsa-2048", "rsa-pkcs1-sha256"),
    ("rsa-2048", "rsa-pss-sha256"),
]


@cache
def _signer(key_type: str, alg: str) -> Any:
    return _native().SoftwareKey.generate(key_type, alg)


def _verify(public_der: bytes, cert: x509.Certificate, alg: str) -> None:
    pub = serialization.load_der_public_key(public_der)
    h: hashes.HashAlgorithm = hashes.SHA256() if alg.endswith("256") else hashes.SHA384()
    if alg.startswith("ecdsa"):
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(h))
    else:
        assert isinstance(pub, rsa.RSAPublicKey)
        pad: padding.AsymmetricPadding = (
            padding.PSS(padding.MGF1(h), h.digest_size) if "pss" in alg else padding.PKCS1v15()
        )
        pub.verify(cert.signature, cert.tbs_certificate_bytes, pad, h)


@settings(max_examples=max(20, MAX_EXAMPLES // 10), deadline=None)
@given(signer_i=st.integers(0, len(SIGNERS) - 1), batch=st.lists(items(), min_size=1, max_size=4))
def test_issue_equals_fill_and_verifies(signer_i: int, batch: list[dict[str, Any]]) -> None:
    native = _native()
    key_type, alg = SIGNERS[signer_i]
    signer = _signer(key_type, alg)
    assert signer.signature_algorithm == alg
    issuer_der = ref.name([("C", "CH"), ("O", "dormakaba"), ("CN", "Property Test CA")])
    kid = native.key_identifier(signer.public_key_der())
    tpl = native.Template(json.dumps(ISSUE_SPEC), issuer_der, kid, alg)
    kwargs: dict[str, Any] = {
        "serials": [i["serial"] for i in batch],
        "not_before": [i["nb"] for i in batch],
        "not_after": [i["na"] for i in batch],
        "subjects": [i["subject"] for i in batch],
        "spkis": [i["spki"] for i in batch],
        "sans": [i["sans"] for i in batch],
    }
    tbs = tpl.fill(**kwargs)
    certs = tpl.issue(signer, threads=1, **kwargs)
    assert len(certs) == len(batch)
    for i, der in enumerate(certs):
        cert = x509.load_der_x509_certificate(der)
        assert cert.tbs_certificate_bytes == tbs[i]
        # The outer signatureAlgorithm must repeat the TBS one (RFC 5280 §4.1.1.2).
        outer = ref.children(ref.read_tlv(der, 0)[1])[1]
        assert ref.tlv(*outer) == ref.signature_algorithm(alg)
        _verify(signer.public_key_der(), cert, alg)


def test_issue_rejects_mismatched_signer() -> None:
    native = _native()
    from porthos.exceptions import PorthosError

    signer = _signer("ec-p256", "ecdsa-sha256")
    tpl = native.Template(
        json.dumps(ISSUE_SPEC), ref.name([("CN", "x")]), bytes(20), "rsa-pkcs1-sha256"
    )
    _, _, spki = key_pool()[0]
    with pytest.raises(PorthosError):
        tpl.issue(
            signer,
            serials=[b"\x01"],
            not_before=[T_EDGES[3]],
            not_after=[T_EDGES[4]],
            subjects=[[("2.5.4.3", "a")]],
            spkis=[spki],
        )


def test_sans_without_san_hole_is_an_argument_error() -> None:
    from porthos.exceptions import BatchArgumentError

    native = _native()
    tpl = native.Template('{"extensions": []}', ref.name([("CN", "x")]), None, "ecdsa-sha256")
    with pytest.raises(BatchArgumentError):
        tpl.fill(
            serials=[b"\x01"],
            not_before=[T_EDGES[3]],
            not_after=[T_EDGES[4]],
            subjects=[[("2.5.4.3", "a")]],
            spkis=[key_pool()[0][2]],
            sans=[[("dns", "a.example")]],
        )
