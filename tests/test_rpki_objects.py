"""RPKI signed objects (issue 18 §1): ROAs and manifests built and signed in one
native call per batch, accepted by porthos' own CMS verifier and by ``openssl cms
-verify`` (signature, then chain); EE certificates byte-identical to pyca's encoding
of the same certificate; bad input refused with one clear error."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from error_codes import raises_code
from porthos import _native
from porthos._native import SoftwareKey, Template
from porthos.exceptions import BatchArgumentError, EncodeError, ResourceError, SigningError
from porthos.issuance.rpki_objects import (
    ObjectRequest,
    ObjectSigner,
    manifest_content,
    parse_manifest,
    parse_roa,
    parse_roa_prefix,
    roa_content,
    roa_resources,
)
from porthos.issuance.rpki_resources import parse_resources

BASE = "rsync://rpki.example.net/repo/ta/"
NOW = int(time.time())
RPKI_POLICY = "1.3.6.1.5.5.7.14.2"
IP_ADDR_BLOCKS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.7")
AS_IDS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.8")
SIGNED_OBJECT = x509.ObjectIdentifier("1.3.6.1.5.5.7.48.11")

TA_SPEC = {
    "extensions": [
        {"type": "basic_constraints", "ca": True},
        {"type": "subject_key_identifier"},
        {"type": "key_usage", "usages": ["key_cert_sign", "crl_sign"]},
        {"type": "certificate_policies", "critical": True, "policies": [{"oid": RPKI_POLICY}]},
        {
            "type": "subject_info_access",
            "ca_repository": [BASE],
            "rpki_manifest": [BASE + "ta.mft"],
            "rpki_notify": ["https://rpki.example.net/rrdp/notification.xml"],
        },
        {"type": "ip_addr_blocks"},
        {"type": "as_identifiers"},
    ]
}
EE_SPEC = {
    "extensions": [
        {"type": "subject_key_identifier"},
        {"type": "authority_key_identifier"},
        {"type": "key_usage", "usages": ["digital_signature"]},
        {"type": "crl_distribution_points", "uris": [BASE + "ta.crl"]},
        {"type": "authority_info_access", "ca_issuers": ["rsync://rpki.example.net/ta.cer"]},
        {"type": "certificate_policies", "critical": True, "policies": [{"oid": RPKI_POLICY}]},
        {"type": "subject_info_access"},
        {"type": "ip_addr_blocks"},
        {"type": "as_identifiers"},
    ]
}


@pytest.fixture(scope="module")
def ta() -> tuple[SoftwareKey, bytes]:
    key = SoftwareKey.generate("rsa-2048")
    name = _native.encode_name([("CN", "porthos test TA")])
    kid = _native.key_identifier(key.public_key_der())
    t = Template(json.dumps(TA_SPEC), name, kid, "rsa-pkcs1-sha256")
    held = parse_resources("AS64496-64511, 192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32")
    cert = t.issue(
        key,
        serials=[b"\x01"],
        not_before=[NOW - 3600],
        not_after=[NOW + 365 * 86400],
        subjects=[[("CN", "porthos test TA")]],
        spkis=[key.public_key_der()],
        ip_addr_blocks=[held.ip_addr_blocks_der()],
        as_identifiers=[held.as_identifiers_der()],
    )[0]
    return key, cert


def _requests(contents: list[bytes], names: list[str], ips: list[bytes | None], asn: bytes | None):  # type: ignore[no-untyped-def]
    return [
        ObjectRequest(
            content=c,
            serial=(1000 + i).to_bytes(2, "big"),
            subject=[("CN", f"ee-{i}")],
            not_before=NOW - 60,
            not_after=NOW + 7 * 86400,
            sia=_native.rpki_sia([("signed_object", BASE + n)]),
            ip_addr_blocks=ip,
            as_identifiers=asn,
        )
        for i, (c, n, ip) in enumerate(zip(contents, names, ips, strict=True))
    ]


@pytest.fixture(scope="module")
def roas(ta):  # type: ignore[no-untyped-def]
    key, cert = ta
    signer = ObjectSigner(Template.for_issuer(json.dumps(EE_SPEC), cert, "rsa-pkcs1-sha256"), key)
    prefix_lists = [
        ["192.0.2.0/24-26"],
        ["198.51.100.0/25", "2001:db8::/48-64"],
        ["192.0.2.128/25"],
    ]
    contents = [roa_content(64496 + i, ps) for i, ps in enumerate(prefix_lists)]
    ips = [
        roa_resources([parse_roa_prefix(p) for p in ps]).ip_addr_blocks_der()
        for ps in prefix_lists
    ]
    reqs = _requests(contents, [f"r{i}.roa" for i in range(3)], ips, None)
    return signer.sign("roa", reqs, signing_time=NOW), contents


def _openssl_verify(
    tmp: Path, obj: bytes, ca_pem: Path | None
) -> subprocess.CompletedProcess[bytes]:
    (tmp / "obj.der").write_bytes(obj)
    args = ["openssl", "cms", "-verify", "-inform", "DER", "-binary", "-in", str(tmp / "obj.der")]
    args += ["-CAfile", str(ca_pem)] if ca_pem else ["-noverify"]
    return subprocess.run(args, capture_output=True)


def test_roas_verify_in_porthos_and_openssl(ta, roas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, ta_cert = ta
    batch, contents = roas
    ca_pem = tmp_path / "ta.pem"
    ca_pem.write_bytes(
        x509.load_der_x509_certificate(ta_cert).public_bytes(serialization.Encoding.PEM)
    )
    assert len(batch.objects) == 3 and len(batch.certificates) == 3
    for obj, ee, content in zip(batch.objects, batch.certificates, contents, strict=True):
        info = _native.verify_signed_data(obj)
        assert info.ok, info.detail
        assert info.content_type == "1.2.840.113549.1.9.16.1.24"
        assert info.content == content
        assert info.certificates == [ee]
        ski = x509.load_der_x509_certificate(ee).extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        )
        assert info.sid_key_id == ski.value.digest
        assert (info.digest_algorithm, info.signer_count) == ("sha256", 1)
        # signingTime: UTCTime through 2049 (RFC 5652 §11.3).
        assert bytes.fromhex("06092a864886f70d010905310f170d") in obj
        signature_only = _openssl_verify(tmp_path, obj, None)
        assert signature_only.returncode == 0, signature_only.stderr
        assert signature_only.stdout == content
        chain = _openssl_verify(tmp_path, obj, ca_pem)
        assert chain.returncode == 0, chain.stderr
    asn, prefixes = parse_roa(contents[1])
    assert asn == 64497
    assert [str(p) for p in prefixes] == ["198.51.100.0/25", "2001:db8::/48-64"]


def test_tampered_object_is_refused(roas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    batch, contents = roas
    obj = bytearray(batch.objects[0])
    at = bytes(obj).index(contents[0]) + len(contents[0]) - 1
    obj[at] ^= 0x01  # the last octet of the ROA's last prefix
    info = _native.verify_signed_data(bytes(obj))
    assert info.status_name == "DIGEST_MISMATCH"
    assert _openssl_verify(tmp_path, bytes(obj), None).returncode != 0


def test_ee_certificate_equals_pycas_encoding(ta, roas) -> None:  # type: ignore[no-untyped-def]
    key, ta_cert = ta
    batch, _ = roas
    ours = x509.load_der_x509_certificate(batch.certificates[1])
    issuer = x509.load_der_x509_certificate(ta_cert)
    ca_priv = serialization.load_der_private_key(key.to_pkcs8(), None)
    assert isinstance(ca_priv, rsa.RSAPrivateKey)
    ext = ours.extensions
    ip = ext.get_extension_for_oid(IP_ADDR_BLOCKS)
    assert ip.critical
    sia = ext.get_extension_for_class(x509.SubjectInformationAccess).value
    assert [(d.access_method, d.access_location.value) for d in sia] == [
        (SIGNED_OBJECT, BASE + "r1.roa")
    ]
    uri = x509.UniformResourceIdentifier
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ee-1")]))
        .issuer_name(issuer.subject)
        .public_key(ours.public_key())
        .serial_number(1001)
        .not_valid_before(ours.not_valid_before_utc)
        .not_valid_after(ours.not_valid_after_utc)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ours.public_key()), False)  # type: ignore[arg-type]
        .add_extension(
            x509.AuthorityKeyIdentifier(
                issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest,
                None,
                None,
            ),
            False,
        )
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([uri(BASE + "ta.crl")], None, None, None)]
            ),
            False,
        )
        .add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS,
                        uri("rsync://rpki.example.net/ta.cer"),
                    )
                ]
            ),
            False,
        )
        .add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier(RPKI_POLICY), None)]
            ),
            True,
        )
        .add_extension(
            x509.SubjectInformationAccess(
                [x509.AccessDescription(SIGNED_OBJECT, uri(BASE + "r1.roa"))]
            ),
            False,
        )
        .add_extension(ip.value, True)
    )
    theirs = b.sign(ca_priv, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    # PKCS#1 v1.5 signatures are deterministic: equal TBS bytes give equal certificates.
    assert theirs == batch.certificates[1]


def test_manifest_with_inherit_resources(ta, roas, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key, cert = ta
    batch, _ = roas
    files = [(f"r{i}.roa", obj) for i, obj in enumerate(batch.objects)]
    content = manifest_content(7, NOW, NOW + 86400, files)
    m = parse_manifest(content)
    assert (m.number, m.this_update, m.next_update) == (7, NOW, NOW + 86400)
    assert [n for n, _ in m.files] == ["r0.roa", "r1.roa", "r2.roa"]
    import hashlib

    assert m.files[2][1] == hashlib.sha256(batch.objects[2]).digest()
    # RFC 9286 §4.3: the manifest's EE certificate inherits the CA's resources.
    empty = parse_resources("")
    inherit_ip = empty.ip_addr_blocks_der(inherit_ipv4=True, inherit_ipv6=True)
    inherit_as = empty.as_identifiers_der(inherit=True)
    signer = ObjectSigner(Template.for_issuer(json.dumps(EE_SPEC), cert, "rsa-pkcs1-sha256"), key)
    out = signer.sign(
        "manifest",
        _requests([content], ["ta.mft"], [inherit_ip], inherit_as),
        signing_time=NOW,
    )
    info = _native.verify_signed_data(out.objects[0])
    assert info.ok and info.content_type == "1.2.840.113549.1.9.16.1.26"
    ca_pem = tmp_path / "ta.pem"
    ca_pem.write_bytes(
        x509.load_der_x509_certificate(cert).public_bytes(serialization.Encoding.PEM)
    )
    chain = _openssl_verify(tmp_path, out.objects[0], ca_pem)
    assert chain.returncode == 0, chain.stderr
    assert out.keygen_seconds > 0 and out.sign_seconds > 0


def test_bad_input_is_one_clear_error(ta) -> None:  # type: ignore[no-untyped-def]
    key, cert = ta
    with raises_code(ResourceError, "rpki-resources"):
        roa_content(64496, ["192.0.2.0/24-23"])  # maxLength below the prefix length
    with raises_code(ResourceError, "rpki-resources"):
        roa_content(64496, ["192.0.2.1/24"])
    with raises_code(EncodeError, "encode"):
        roa_content(64496, [])
    with raises_code(EncodeError, "encode"):
        manifest_content(1, NOW, NOW + 1, [("bad name.roa", b"x")])
    with raises_code(EncodeError, "encode"):
        manifest_content(2**159, NOW, NOW + 1, [])  # 21 octets with the sign octet
    manifest_content(2**159 - 1, NOW, NOW + 1, [])
    with raises_code(EncodeError, "encode"):
        manifest_content(-1, NOW, NOW + 1, [])
    with raises_code(EncodeError, "encode"):
        _native.rpki_sia([("signed_object", "https://x/a.roa")])  # must be rsync
    # A per-item SIA for a profile without the hole would be dropped: refused.
    plain = Template.for_issuer(
        json.dumps({"extensions": [{"type": "subject_key_identifier"}]}), cert, "rsa-pkcs1-sha256"
    )
    with raises_code(BatchArgumentError, "batch-argument"):
        plain.fill(
            serials=[b"\x01"],
            not_before=[NOW],
            not_after=[NOW + 1],
            subjects=[[("CN", "x")]],
            spkis=[key.public_key_der()],
            sias=[_native.rpki_sia([("signed_object", BASE + "a.roa")])],
        )
    # An EC CA key cannot sign this RSA template: refused before any key is made.
    signer = ObjectSigner(
        Template.for_issuer(json.dumps(EE_SPEC), cert, "rsa-pkcs1-sha256"),
        SoftwareKey.generate("ec-p256"),
    )
    with raises_code(SigningError, "signing"):
        signer.sign("roa", _requests([b"\x30\x00"], ["a.roa"], [None], None), signing_time=NOW)


def test_cpcps_loader_accepts_the_rpki_holes(ta) -> None:  # type: ignore[no-untyped-def]
    from porthos.cpcps.extensions import extensions
    from porthos.exceptions import ProfileError

    _, cert = ta
    spec = [
        {"type": "subject_key_identifier"},
        {"type": "subject_info_access", "ca_repository": ["rsync://{host}/repo/"]},
        {"type": "ip_addr_blocks"},
        {"type": "as_identifiers", "critical": True},
    ]
    clean = extensions(spec, "profiles.x.extensions", {"host": "rpki.example.net"}, "ta")
    assert clean[1]["ca_repository"] == ["rsync://rpki.example.net/repo/"]
    t = Template.for_issuer(json.dumps({"extensions": list(clean)}), cert, "rsa-pkcs1-sha256")
    assert t.signature_algorithm == "rsa-pkcs1-sha256"
    for bad in (
        {"type": "subject_info_access", "ca_repository": ["https://x/repo/"]},
        {"type": "subject_info_access", "critical": True},
        {"type": "raw", "oid": "1.3.6.1.5.5.7.1.7", "value_hex": "3000"},
    ):
        with raises_code(ProfileError, "profile"):
            extensions([bad], "p", {}, "ta")


def test_key_pool_keys_are_taken_once(ta) -> None:  # type: ignore[no-untyped-def]
    key, cert = ta
    pool = _native.RsaKeyPool()
    assert pool.fill(3, threads=1) > 0 and len(pool) == 3
    signer = ObjectSigner(Template.for_issuer(json.dumps(EE_SPEC), cert, "rsa-pkcs1-sha256"), key)
    reqs = _requests([b"\x30\x00"] * 4, [f"p{i}.roa" for i in range(4)], [None] * 4, None)
    # Four objects, three keys: refused, and the pool keeps its keys.
    with raises_code(BatchArgumentError, "batch-argument"):
        signer.sign("roa", reqs, signing_time=NOW, key_pool=pool)
    assert len(pool) == 3
    out = signer.sign("roa", reqs[:3], signing_time=NOW, key_pool=pool)
    assert len(pool) == 0
    skis = {
        x509.load_der_x509_certificate(c)
        .extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        .value.digest
        for c in out.certificates
    }
    assert len(skis) == 3
    assert all(_native.verify_signed_data(o).ok for o in out.objects)
