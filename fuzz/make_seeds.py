"""Seed corpora of the parser fuzz targets (issue 20 §4): small CRLs, CMS SignedData
and revocation CSVs made by independent encoders (pyca/cryptography, `openssl`).

    python fuzz/make_seeds.py     # rewrites fuzz/corpus/{crl_parse,cms_parse,revocations_csv,
                                  # ocsp_request}
    python fuzz/make_seeds.py ocsp_request    # one corpus only

The seeds are committed; the stable twins (rust/porthos-core/tests/fuzz_parsers.rs)
read them, so re-running this only changes what the fuzzers start from. Keys are made
fresh each run, so the bytes differ between runs; the shapes do not.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

CORPUS = Path(__file__).resolve().parent / "corpus"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _ca(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, cn: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(0x1234)
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )


def _revoked(serial: int, reason: x509.ReasonFlags | None, inv: bool) -> x509.RevokedCertificate:
    b = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(T0)
    if reason is not None:
        b = b.add_extension(x509.CRLReason(reason), critical=False)
    if inv:
        b = b.add_extension(x509.InvalidityDate(T0 - timedelta(days=1)), critical=False)
    return b.build()


def crls(out: Path) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for tag, key in (("p256", ec_key), ("rsa2048", rsa_key)):
        ca = _ca(key, f"Seed CA {tag}")
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        base = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.subject)
            .last_update(T0)
            .next_update(T0 + timedelta(days=7))
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False
            )
            .add_extension(x509.CRLNumber(7), False)
        )
        (out / f"{tag}-empty.der").write_bytes(
            base.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        )
        full = base
        reasons = [None, *list(x509.ReasonFlags)]
        for i, r in enumerate(reasons):
            if r == x509.ReasonFlags.unspecified:
                continue
            full = full.add_revoked_certificate(_revoked(0x10 + i * 977, r, i % 2 == 0))
        full = full.add_revoked_certificate(_revoked((1 << 159) - 1, None, False))
        (out / f"{tag}-entries.der").write_bytes(
            full.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
        )
    ca = _ca(ec_key, "Seed CA p256")
    delta = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(T0)
        .next_update(T0 + timedelta(days=1))
        .add_extension(x509.CRLNumber(8), False)
        .add_extension(x509.DeltaCRLIndicator(7), True)
        .add_extension(
            x509.IssuingDistributionPoint(
                full_name=[x509.UniformResourceIdentifier("http://crl.example/shard-3.crl")],
                relative_name=None,
                only_contains_user_certs=True,
                only_contains_ca_certs=False,
                only_some_reasons=None,
                indirect_crl=False,
                only_contains_attribute_certs=False,
            ),
            True,
        )
        .add_revoked_certificate(_revoked(0x42, x509.ReasonFlags.remove_from_crl, False))
        .add_revoked_certificate(_revoked(0x43, x509.ReasonFlags.key_compromise, True))
    )
    (out / "p256-delta-idp.der").write_bytes(
        delta.sign(ec_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    )
    # `openssl ca -gencrl` as a second encoder (v2, AKI, CRL number, one reason).
    with tempfile.TemporaryDirectory() as d:
        w = Path(d)
        (w / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (w / "ca.key").write_bytes(
            ec_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (w / "index.txt").write_text(
            "R\t350101000000Z\t250101000000Z,keyCompromise\t0A\tunknown\t/CN=a\n"
            "R\t350101000000Z\t250102000000Z\t0B\tunknown\t/CN=b\n"
        )
        (w / "crlnumber").write_text("05\n")
        (w / "openssl.cnf").write_text(
            f"[ca]\ndefault_ca=c\n[c]\ndir={w}\ndatabase=$dir/index.txt\n"
            "crlnumber=$dir/crlnumber\ncertificate=$dir/ca.pem\nprivate_key=$dir/ca.key\n"
            "default_md=sha256\ndefault_crl_days=7\nunique_subject=no\n"
            "crl_extensions=e\n[e]\nauthorityKeyIdentifier=keyid:always\n"
        )
        subprocess.run(
            ["openssl", "ca", "-gencrl", "-config", str(w / "openssl.cnf"), "-batch",
             "-out", str(w / "crl.pem")],
            check=True, capture_output=True,
        )  # fmt: skip
        der = subprocess.run(
            ["openssl", "crl", "-in", str(w / "crl.pem"), "-outform", "DER"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        (out / "openssl-gencrl.der").write_bytes(der)


def cms(out: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _ca(key, "Seed signer")
    content = b"0\x03\x02\x01\x00"  # a tiny DER payload (an RA request is a CSR)
    for name, options in (
        ("attrs", []),
        ("noattrs", [pkcs7.PKCS7Options.NoAttributes]),
        ("nocerts", [pkcs7.PKCS7Options.NoCerts]),
        ("detached", [pkcs7.PKCS7Options.DetachedSignature]),
    ):
        der = (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(content)
            .add_signer(cert, key, hashes.SHA256())
            .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary, *options])
        )
        (out / f"pyca-{name}.der").write_bytes(der)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_cert = _ca(rsa_key, "Seed RSA signer")
    with tempfile.TemporaryDirectory() as d:
        w = Path(d)
        (w / "c.pem").write_bytes(rsa_cert.public_bytes(serialization.Encoding.PEM))
        (w / "k.pem").write_bytes(
            rsa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (w / "m.bin").write_bytes(content)
        for name, extra in (("openssl-rsa", []), ("openssl-rsa-keyid", ["-keyid"])):
            subprocess.run(
                ["openssl", "cms", "-sign", "-binary", "-nodetach", "-outform", "DER",
                 "-in", str(w / "m.bin"), "-signer", str(w / "c.pem"),
                 "-inkey", str(w / "k.pem"), "-out", str(w / "o.der"), *extra],
                check=True, capture_output=True,
            )  # fmt: skip
            (out / f"{name}.der").write_bytes((w / "o.der").read_bytes())


def csvs(out: Path) -> None:
    (out / "header-crlf.csv").write_bytes(
        b"serial_hex,revocation_time,reason,invalidity_date\r\n"
        b"0x0A,2025-01-01T00:00:00Z,keyCompromise,2024-12-31\r\n"
        b"ff,2025-01-01 12:30:45.123+01:00,,\r\n"
    )
    (out / "forms.csv").write_bytes(
        b"7fffffffffffffffffffffffffffffffffffffff,20250101T1230,superseded\n"
        b'"1b",2025-W01-3,6\n\n'
        b"00001c,2025-01-01T00:00:00-0130,CESSATIONOFOPERATION,2024-12-31T23:59:59\r"
        b"1d,2025-01-01t12,unspecified\n"
    )
    (out / "bad-rows.csv").write_bytes(
        b"zz,2025-01-01,1\n0,2025-01-01,1\n1,2025-13-01,1\n1,2025-01-01,7\n1,2\n"
        b'"1,2025-01-01,1\n\xff\x00,\x80,\x81\n'
    )


def ocsp_requests(out: Path) -> None:
    """OCSP requests (RFC 6960 §4.1) from pyca and `openssl ocsp -reqout`: SHA-1 and
    SHA-256 CertIDs, with and without a nonce, two CertIDs, a signed request; plus a
    SHA-384 CertID the parser refuses."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca = _ca(key, "OCSP seed CA")
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]))
        .issuer_name(ca.subject).public_key(key.public_key()).serial_number(0x0123456789ABCDEF)
        .not_valid_before(T0).not_valid_after(T0 + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    def der(algo: hashes.HashAlgorithm, nonce: bytes | None) -> bytes:
        b = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca, algo)
        if nonce is not None:
            b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
        return b.build().public_bytes(serialization.Encoding.DER)

    (out / "pyca-sha1.der").write_bytes(der(hashes.SHA1(), None))
    (out / "pyca-sha256-nonce.der").write_bytes(der(hashes.SHA256(), b"\x01" * 32))
    (out / "pyca-sha384-refused.der").write_bytes(der(hashes.SHA384(), None))
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        pem = serialization.Encoding.PEM
        (t / "ca.pem").write_bytes(ca.public_bytes(pem))
        (t / "leaf.pem").write_bytes(leaf.public_bytes(pem))
        (t / "key.pem").write_bytes(key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        base = ["openssl", "ocsp", "-issuer", str(t / "ca.pem")]
        cert = ["-cert", str(t / "leaf.pem")]
        for name, args in (
            ("openssl-nonce.der", cert),
            ("openssl-two-certids.der", [*cert, "-serial", "0x7f", "-no_nonce"]),
            # The digest option applies to the -cert after it.
            ("openssl-sha256.der", ["-sha256", *cert, "-no_nonce"]),
            ("openssl-signed.der",
             [*cert, "-signer", str(t / "leaf.pem"), "-signkey", str(t / "key.pem")]),
        ):
            subprocess.run([*base, *args, "-reqout", str(out / name)], check=True,
                           capture_output=True)


def main() -> None:
    makers = {"crl_parse": crls, "cms_parse": cms, "revocations_csv": csvs,
              "ocsp_request": ocsp_requests}
    for name, make in makers.items():
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        d = CORPUS / name
        d.mkdir(parents=True, exist_ok=True)
        make(d)
        print(f"{d}: {len(list(d.iterdir()))} seeds")


if __name__ == "__main__":
    main()
