"""An issuing CA run in another system (issue 21 §4): a SECOM root certifies its
PKCS#10 request under the cross profile ``external-tls-ca`` (porthos cross-certify):
the request's subject, the profile's BR-read extensions (pathLen 0, EKU serverAuth +
clientAuth, the BR OV OID first), after two persons' approval, one a service operation
manager (002 §5.2.2, §6.2.2). A request asking for a larger pathLen or for an EKU
purpose beyond the profile, or one approval short, exits 2 and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from interop import openssl_verify, pkilint_findings
from porthos.cli.main import main
from porthos.store import audit
from porthos.workflows import crl_publication
from porthos.workspace.workspace import Workspace

ROOT = "secom-rootca2"
#: 002 §5.2.2, §6.2.2: two persons, one a service operation manager.
APPROVERS = [
    "--approver",
    "service-operation-manager=Hanako Sato",
    "--approver",
    "ca-administrator=Taro Suzuki",
]
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _csr(
    path: Path, path_len: int | None = 0, eku: list[x509.ObjectIdentifier] | None = None
) -> Path:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Issuer K.K."),
            x509.NameAttribute(NameOID.COMMON_NAME, "Example TLS Issuing CA 1"),
        ]
    )
    b = x509.CertificateSigningRequestBuilder().subject_name(name)
    b = b.add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    path.write_bytes(b.sign(KEY, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture(scope="module")
def ws_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    w = tmp_path_factory.mktemp("secom-ext") / "w"
    assert cli("init", "-w", str(w), "--cpcps", "secom").exit_code == 0
    return w


def _issued(w: Path) -> int:
    with Workspace.open(w) as ws:
        return ws.store.count_certificates(ROOT)


@pytest.mark.parametrize(
    ("path_len", "eku", "says"),
    [
        (1, None, "pathLenConstraint 1"),
        (0, [ExtendedKeyUsageOID.CODE_SIGNING], "1.3.6.1.5.5.7.3.3"),
    ],
)
def test_requests_beyond_the_profile_are_refused(
    ws_dir: Path, tmp_path: Path, path_len: int, eku: list[x509.ObjectIdentifier] | None, says: str
) -> None:
    before = _issued(ws_dir)
    csr = _csr(tmp_path / "x.csr", path_len, eku)
    out = tmp_path / "x.crt"
    r = cli("cross-certify", "-w", str(ws_dir), "--ca", ROOT, "--profile", "external-tls-ca",
            "--csr", str(csr), "--out", str(out), *APPROVERS)  # fmt: skip
    assert r.exit_code == 2, r.output
    assert says in r.output and "[policy]" in r.output
    assert not out.exists()
    assert _issued(ws_dir) == before


def test_a_root_certifies_an_external_issuing_ca(ws_dir: Path, tmp_path: Path) -> None:
    csr = _csr(tmp_path / "ok.csr", 0, [ExtendedKeyUsageOID.SERVER_AUTH])
    out = tmp_path / "ok.crt"
    base = ["cross-certify", "-w", str(ws_dir), "--ca", ROOT, "--profile", "external-tls-ca",
            "--csr", str(csr), "--out", str(out)]  # fmt: skip
    # One approval short (the same person twice; no service operation manager): refused.
    for short in (
        APPROVERS[:2],
        ["--approver", "ca-administrator=Taro Suzuki", "--approver", "auditor=Jiro Ito"],
        [*APPROVERS[:2], "--approver", "ca-administrator=hanako  sato"],
    ):
        r = cli(*base, *short)
        assert r.exit_code == 2, r.output
        assert "[approval]" in r.output and not out.exists()
    before = _issued(ws_dir)
    r = cli(*base, *APPROVERS)
    assert r.exit_code == 0, r.output
    assert _issued(ws_dir) == before + 1
    with Workspace.open(ws_dir) as ws:
        (rec,) = [
            x for x in audit.records(ws.store) if x.event == audit.Event.CROSS_CERTIFICATE_ISSUED
        ]
        assert rec.details["approvers"] == [
            ["Hanako Sato", "service-operation-manager"],
            ["Taro Suzuki", "ca-administrator"],
        ]
    cert = x509.load_der_x509_certificate(out.read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "Example TLS Issuing CA 1"
    )
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    cp = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert cp[0].policy_identifier.dotted_string == "2.23.140.1.2.2"
    assert pkilint_findings(out.read_bytes()) == []
    with Workspace.open(ws_dir) as ws:
        crl_publication.publish(ws, [ROOT])
        root = ws.ca(ROOT).certificate
    openssl_verify(
        [root], out.read_bytes(), crl=(ws_dir / "repository" / f"{ROOT}.crl").read_bytes()
    )
