"""Cross-certification both ways and the .p7c bundle (issue 16 §2).

The partner is a real CA made here with pyca: its key, its self-signed certificate,
its PKCS#10 request (with SKI, basicConstraints and nameConstraints requests as a
bridge CA sends them). What porthos issues is read back by pyca, asn1crypto and
``openssl``; every refusal is checked by its ``.code`` with the store unchanged.
The CP/CPS is tests/cpcps/two-tier.toml with the cross profiles of
tests/cpcps/cross_profiles.toml.in, and the root's caIssuers URL turned into a .p7c."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.serialization.pkcs7 import load_der_pkcs7_certificates
from cryptography.x509.oid import NameOID
from error_codes import raises_code
from interop import to_pem
from porthos import _native
from porthos.cli.main import main
from porthos.cpcps.loader import parse_profile_set
from porthos.exceptions import (
    CaRequestError,
    CrossImportError,
    DerDecodeError,
    LifecycleError,
    PolicyError,
    ProfileError,
    StoreError,
)
from porthos.store import audit
from porthos.workflows.cross_certification import cross_certify, import_cross_certificate
from porthos.workspace.workspace import Workspace

HERE = Path(__file__).resolve().parent
OUR_POLICY = "1.3.6.1.4.1.99999.1.1"
PARTNER_POLICY = "1.3.6.1.4.1.88888.2.1"
PARTNER = [("C", "US"), ("O", "Partner Bridge"), ("CN", "Partner Bridge CA")]
_OIDS = {"C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME, "CN": NameOID.COMMON_NAME}

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")


def cpcps_text() -> str:
    base = (HERE / "cpcps" / "two-tier.toml").read_text("utf-8")
    base = base.replace("{crt}/tt-root-g1.crt", "{crt}/tt-root-g1.p7c")
    return base + "\n" + (HERE / "cpcps" / "cross_profiles.toml.in").read_text("utf-8")


def make_ws(path: Path) -> Workspace:
    toml = path / "cpcps.toml"
    path.mkdir(parents=True, exist_ok=True)
    toml.write_text(cpcps_text(), "utf-8")
    return Workspace.init(path / "ws", "prod", profile_set=str(toml))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """For refusals: nothing may be stored, so one workspace serves them all."""
    ws = make_ws(tmp_path_factory.mktemp("cross-refusals"))
    yield ws
    ws.close()


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = make_ws(tmp_path)
    yield w
    w.close()


def name(pairs: Sequence[tuple[str, str]]) -> x509.Name:
    # DER order, most general first (as the CP/CPS data writes names).
    return x509.Name([x509.NameAttribute(_OIDS[a], v) for a, v in pairs])


def partner_csr(
    key: ec.EllipticCurvePrivateKey | None = None,
    *,
    subject: Sequence[tuple[str, str]] = PARTNER,
    ski: bytes | None = b"\x5a" * 20,
    path_len: int | None = 1,
    bc: bool = True,
    permitted: list[x509.GeneralName] | None = None,
) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(name(subject))
    if ski is not None:
        b = b.add_extension(x509.SubjectKeyIdentifier(ski), critical=False)
    if bc:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
    if permitted is not None:
        b = b.add_extension(x509.NameConstraints(permitted, None), critical=True)
    return b.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)


def self_signed(
    key: ec.EllipticCurvePrivateKey, pairs: Sequence[tuple[str, str]], ski: bytes | None = None
) -> bytes:
    """A partner CA's own certificate; ``ski``: its key id (default: RFC 5280 method 1)."""
    now = dt.datetime.now(dt.UTC)
    key_id = x509.SubjectKeyIdentifier(ski) if ski else None
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(pairs))
        .issuer_name(name(pairs))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            key_id or x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


def issued_by(
    issuer_key: ec.EllipticCurvePrivateKey,
    issuer: bytes,
    subject: x509.Name,
    public_key: object,
    *,
    ca: bool = True,
    policies: Sequence[str] = (),
    days: int = 365,
) -> bytes:
    """A certificate the partner issues (cross-certificate to our CA, or a leaf)."""
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.load_der_x509_certificate(issuer).subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(  # the issuer's own key id, whichever way it made it
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                x509.load_der_x509_certificate(issuer)
                .extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
                .value
            ),
            critical=False,
        )
    )
    if policies:
        pol = [x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in policies]
        b = b.add_extension(x509.CertificatePolicies(pol), critical=False)
    return b.sign(issuer_key, hashes.SHA256()).public_bytes(Encoding.DER)


def counts(w: Workspace) -> tuple[int, int, int]:
    conn = w.store.conn
    crosses = conn.execute("SELECT COUNT(*) FROM cross_certificates").fetchone()[0]
    return w.store.count_certificates(), int(crosses), len(list(audit.records(w.store)))


def openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)


def p7c_certs(data: bytes) -> set[bytes]:
    return {c.public_bytes(Encoding.DER) for c in load_der_pkcs7_certificates(data)}


def pyhanko_policies(anchor: bytes, intermediate: bytes, leaf: bytes) -> set[str]:
    """The valid policies of leaf <- intermediate <- anchor, explicit policy required
    for OUR_POLICY (pyhanko-certvalidator, RFC 5280 §6.1)."""
    import asyncio

    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.policy_decl import PKIXValidationParams

    load = asn1_x509.Certificate.load
    ctx = ValidationContext(trust_roots=[load(anchor)], other_certs=[load(intermediate)])
    params = PKIXValidationParams(
        user_initial_policy_set=frozenset([OUR_POLICY]), initial_explicit_policy=True
    )
    validator = CertificateValidator(load(leaf), validation_context=ctx, pkix_params=params)
    path = asyncio.run(validator.async_validate_path())
    return {p.user_domain_policy_id for p in path.qualified_policies()}


# -- the certs-only bundle -------------------------------------------------------------


@needs_openssl
def test_certs_only_bundle_reads_back_in_pyca_and_openssl(tmp_path: Path) -> None:
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    certs = [self_signed(k, [("CN", f"Bundle CA {i}")]) for i, k in enumerate(keys)]
    bundle = _native.cms_certs_only(certs)
    # DER SET OF: the input order and a repeated certificate change nothing.
    assert _native.cms_certs_only([certs[2], certs[0], certs[1], certs[0]]) == bundle
    assert p7c_certs(bundle) == set(certs)
    out = openssl("pkcs7", "-inform", "DER", "-print_certs", "-noout", data=bundle)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().replace(" = ", "=").splitlines()
    subjects = [line for line in lines if line.startswith("subject")]
    assert sorted(subjects) == [f"subject=CN=Bundle CA {i}" for i in range(3)]
    # openssl re-encodes what it read: the bundle is exactly DER.
    again = openssl("pkcs7", "-inform", "DER", "-outform", "DER", data=bundle)
    assert again.returncode == 0 and again.stdout == bundle


def test_certs_only_bundle_refuses_a_non_certificate() -> None:
    with raises_code(DerDecodeError, "der-decode") as info:
        _native.cms_certs_only([self_signed(ec.generate_private_key(ec.SECP256R1()), []), b"0\0"])
    assert info.value.path is not None and info.value.path.startswith("certificates[1]")


# -- cross-certify: the happy path -----------------------------------------------------


@needs_openssl
def test_cross_certify_issues_a_ca_certificate_that_others_accept(
    ws: Workspace, tmp_path: Path
) -> None:
    partner_key = ec.generate_private_key(ec.SECP256R1())
    # The partner names its key 5a5a...: its certificates' AKI, and its request's SKI.
    partner_cert = self_signed(partner_key, PARTNER, ski=b"\x5a" * 20)
    before = counts(ws)
    done = cross_certify(ws, "tt-root-g1", "partner-bridge", partner_csr(partner_key))
    cert = x509.load_der_x509_certificate(done.der)
    root = x509.load_der_x509_certificate(ws.ca("tt-root-g1").certificate)
    cert.verify_directly_issued_by(root)  # pyca: name chaining and signature
    assert cert.subject == name(PARTNER)
    assert cert.public_key() == partner_key.public_key()
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == b"\x5a" * 20
    bc = ext.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 1  # asked 1, max 2
    iap = ext.get_extension_for_class(x509.InhibitAnyPolicy)
    assert not iap.critical and iap.value.skip_certs == 0
    nc = ext.get_extension_for_class(x509.NameConstraints).value
    assert x509.DNSName("partner.example") in (nc.permitted_subtrees or [])
    parsed = asn1_x509.Certificate.load(done.der)
    mappings = [
        (m["issuer_domain_policy"].dotted, m["subject_domain_policy"].dotted)
        for m in parsed.policy_mappings_value
    ]
    assert mappings == [(OUR_POLICY, PARTNER_POLICY)]
    assert not parsed.critical_extensions & {"policy_mappings"}
    # openssl: the cross-certificate verifies under our root...
    (tmp_path / "root.pem").write_bytes(to_pem(root.public_bytes(Encoding.DER)))
    (tmp_path / "cross.pem").write_bytes(to_pem(done.der))
    v = openssl("verify", "-partial_chain", "-CAfile", str(tmp_path / "root.pem"),
                str(tmp_path / "cross.pem"))  # fmt: skip
    assert v.returncode == 0, v.stdout + v.stderr
    # ... and a relying party anchored at our root accepts the partner's leaf through
    # it, with the partner's policy mapped to ours.
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = issued_by(
        partner_key,
        partner_cert,
        name([*PARTNER[:2], ("CN", "partner leaf")]),
        leaf_key.public_key(),
        ca=False,
        policies=[PARTNER_POLICY],
    )
    (tmp_path / "leaf.pem").write_bytes(to_pem(leaf))
    v = openssl("verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                str(tmp_path / "cross.pem"), "-policy_check", "-explicit_policy",
                "-policy", OUR_POLICY, "-policy_print", str(tmp_path / "leaf.pem"))  # fmt: skip
    assert v.returncode == 0, v.stdout + v.stderr
    assert OUR_POLICY in v.stderr.decode().partition("User Policies:")[2]
    # pyhanko-certvalidator, a second RFC 5280 §6 validator, agrees.
    assert pyhanko_policies(root.public_bytes(Encoding.DER), done.der, leaf) == {OUR_POLICY}
    # The profile's name space holds: a partner leaf outside it is refused by openssl.
    outside = issued_by(
        partner_key,
        partner_cert,
        name([("C", "US"), ("O", "Elsewhere"), ("CN", "partner leaf")]),
        leaf_key.public_key(),
        ca=False,
    )
    (tmp_path / "outside.pem").write_bytes(to_pem(outside))
    v = openssl("verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                str(tmp_path / "cross.pem"), str(tmp_path / "outside.pem"))  # fmt: skip
    assert v.returncode != 0 and b"subtree" in v.stdout + v.stderr
    # Stored (profile = the cross profile), audited, published.
    assert counts(ws)[0] == before[0] + 1
    assert ws.store.certificate("tt-root-g1", done.serial_hex) == done.der
    events = [r for r in audit.records(ws.store) if r.event == "ca.cross-certificate-issued"]
    assert len(events) == 1 and events[0].details["profile"] == "partner-bridge"
    assert done.path == ws.path / "repository" / "partner-bridge.crt"
    assert done.path.read_bytes() == done.der


def test_cross_certify_without_requested_ski_uses_method_1(ws: Workspace) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    done = cross_certify(ws, "tt-root-g1", "partner-bridge", partner_csr(key, ski=None))
    ski = x509.load_der_x509_certificate(done.der).extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    )
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def test_cross_profile_without_subject_takes_the_requests(ws: Workspace) -> None:
    subject = [("C", "DE"), ("O", "Other Domain"), ("CN", "Other Domain CA")]
    csr = partner_csr(subject=subject, path_len=None)
    done = cross_certify(ws, "tt-root-g1", "any-partner", csr)
    cert = x509.load_der_x509_certificate(done.der)
    assert cert.subject == name(subject)
    # The profile fixes pathLen 0 whatever the request (it asked for none).
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0


# -- cross-certify: refusals, nothing stored ---------------------------------------------


def _refused(w: Workspace, exc: type, code: str, csr: bytes, **kw: str) -> None:
    before = counts(w)
    files = sorted((w.path / "repository").rglob("*"))
    args = {"ca": "tt-root-g1", "profile": "partner-bridge", **kw}
    with raises_code(exc, code):
        cross_certify(w, args["ca"], args["profile"], csr)
    assert counts(w) == before
    assert sorted((w.path / "repository").rglob("*")) == files


def test_bad_csr_signature_is_refused(shared: Workspace) -> None:
    csr = bytearray(partner_csr())
    csr[-3] ^= 0x01  # inside the signature's last integer
    _refused(shared, CaRequestError, "ca-request", bytes(csr))


def test_an_oversized_requested_key_id_is_refused(shared: Workspace) -> None:
    _refused(shared, CaRequestError, "ca-request", partner_csr(ski=b"\x01" * 65))


def test_larger_path_len_than_allowed_is_refused(shared: Workspace) -> None:
    _refused(shared, PolicyError, "policy", partner_csr(path_len=3))  # max_path_len = 2


def test_a_request_for_a_non_ca_certificate_is_refused(shared: Workspace) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name(PARTNER))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
        .public_bytes(Encoding.DER)
    )
    _refused(shared, PolicyError, "policy", csr)


@pytest.mark.parametrize(
    "permitted",
    [
        # wider: a parent domain of partner.example
        [x509.DirectoryName(name(PARTNER[:2])), x509.DNSName("example")],
        # wider: C=US alone holds more than C=US, O=Partner Bridge
        [x509.DirectoryName(name(PARTNER[:1])), x509.DNSName("partner.example")],
        # missing: no dNSName subtree at all, so every DNS name
        [x509.DirectoryName(name(PARTNER[:2]))],
    ],
    ids=["wider-dns", "wider-dirname", "missing-dns"],
)
def test_wider_or_missing_name_space_is_refused(
    shared: Workspace, permitted: list[x509.GeneralName]
) -> None:
    _refused(shared, PolicyError, "policy", partner_csr(permitted=permitted))


def test_narrower_name_space_is_accepted(ws: Workspace) -> None:
    permitted: list[x509.GeneralName] = [
        x509.DirectoryName(name([*PARTNER[:2], ("CN", "Partner Bridge CA")])),
        x509.DNSName("hosts.partner.example"),
    ]
    done = cross_certify(ws, "tt-root-g1", "partner-bridge", partner_csr(permitted=permitted))
    nc = x509.load_der_x509_certificate(done.der).extensions.get_extension_for_class(
        x509.NameConstraints
    )
    # The certificate carries the CP/CPS's name space, not the request's.
    assert x509.DNSName("partner.example") in (nc.value.permitted_subtrees or [])


def test_key_type_not_listed_is_refused(shared: Workspace) -> None:
    csr = partner_csr(ec.generate_private_key(ec.SECP384R1()))  # profile: P-256, RSA-2048
    _refused(shared, PolicyError, "policy", csr)


def test_another_subject_than_the_profiles_is_refused(shared: Workspace) -> None:
    csr = partner_csr(subject=[("C", "US"), ("O", "Someone Else"), ("CN", "Partner Bridge CA")])
    _refused(shared, PolicyError, "policy", csr)


def test_only_the_profiles_issuer_signs_it(shared: Workspace) -> None:
    _refused(shared, PolicyError, "policy", partner_csr(), ca="tt-issuing-g1")


def test_unknown_cross_profile_is_refused(shared: Workspace) -> None:
    _refused(shared, ProfileError, "profile", partner_csr(), profile="nope")


# -- cross-import --------------------------------------------------------------------


@pytest.fixture
def partner() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, self_signed(key, PARTNER)


def _cross_to(w: Workspace, ca: str, key: ec.EllipticCurvePrivateKey, issuer: bytes) -> bytes:
    ours = x509.load_der_x509_certificate(w.ca(ca).certificate)
    return issued_by(key, issuer, ours.subject, ours.public_key())


@needs_openssl
def test_cross_import_stores_and_publishes_in_the_p7c(
    ws: Workspace, partner: tuple[ec.EllipticCurvePrivateKey, bytes], tmp_path: Path
) -> None:
    key, partner_cert = partner
    cross = _cross_to(ws, "tt-root-g1", key, partner_cert)
    before = counts(ws)
    done = import_cross_certificate(ws, "tt-root-g1", to_pem(cross), partner_cert)
    assert counts(ws)[:2] == (before[0], before[1] + 1)
    assert done.path == ws.path / "repository" / "tt-root-g1-cross-partner-bridge-ca.crt"
    assert done.path.read_bytes() == cross
    events = [r for r in audit.records(ws.store) if r.event == "ca.cross-certificate-imported"]
    assert len(events) == 1 and events[0].details["ca"] == "tt-root-g1"
    # The root's caIssuers URL ends in .p7c: it holds every certificate issued to the
    # root, its own and the imported cross-certificate.
    root_der = ws.ca("tt-root-g1").certificate
    for p7c in (
        ws.path / "repository" / "crt.two-tier.example" / "tt-root-g1.p7c",
        ws.path / "repository" / "tt-root-g1.p7c",
    ):
        assert p7c_certs(p7c.read_bytes()) == {root_der, cross}
        out = openssl("pkcs7", "-inform", "DER", "-print_certs", "-noout", "-in", str(p7c))
        assert out.returncode == 0 and out.stdout.decode().count("subject=") == 2
    # A .crt URL keeps the certificate alone.
    crt = ws.path / "repository" / "crt.two-tier.example" / "tt-issuing-g1.crt"
    assert crt.read_bytes() == ws.ca("tt-issuing-g1").certificate
    # A relying party anchored at the partner reaches our issuing CA through it.
    (tmp_path / "anchor.pem").write_bytes(to_pem(partner_cert))
    (tmp_path / "cross.pem").write_bytes(to_pem(cross))
    (tmp_path / "sub.pem").write_bytes(to_pem(ws.ca("tt-issuing-g1").certificate))
    v = openssl("verify", "-CAfile", str(tmp_path / "anchor.pem"), "-untrusted",
                str(tmp_path / "cross.pem"), str(tmp_path / "sub.pem"))  # fmt: skip
    assert v.returncode == 0, v.stdout + v.stderr
    # Imported once only.
    with raises_code(StoreError, "store"):
        import_cross_certificate(ws, "tt-root-g1", cross, partner_cert)


def _import_refused(w: Workspace, cert: bytes, issuer: bytes) -> None:
    before = counts(w)
    with raises_code(CrossImportError, "cross-import"):
        import_cross_certificate(w, "tt-root-g1", cert, issuer)
    assert counts(w) == before


def test_cross_import_refuses_another_key(
    shared: Workspace, partner: tuple[ec.EllipticCurvePrivateKey, bytes]
) -> None:
    key, partner_cert = partner
    ours = x509.load_der_x509_certificate(shared.ca("tt-root-g1").certificate)
    other = ec.generate_private_key(ec.SECP384R1()).public_key()
    _import_refused(shared, issued_by(key, partner_cert, ours.subject, other), partner_cert)


def test_cross_import_refuses_another_subject(
    shared: Workspace, partner: tuple[ec.EllipticCurvePrivateKey, bytes]
) -> None:
    key, partner_cert = partner
    ours = x509.load_der_x509_certificate(shared.ca("tt-root-g1").certificate)
    cert = issued_by(key, partner_cert, name([("CN", "Not Our Root")]), ours.public_key())
    _import_refused(shared, cert, partner_cert)


def test_cross_import_refuses_a_bad_signature(
    shared: Workspace, partner: tuple[ec.EllipticCurvePrivateKey, bytes]
) -> None:
    _, partner_cert = partner
    impostor = ec.generate_private_key(ec.SECP256R1())  # same issuer name, other key
    _import_refused(shared, _cross_to(shared, "tt-root-g1", impostor, partner_cert), partner_cert)


def test_cross_import_refuses_a_non_ca_certificate(
    shared: Workspace, partner: tuple[ec.EllipticCurvePrivateKey, bytes]
) -> None:
    key, partner_cert = partner
    ours = x509.load_der_x509_certificate(shared.ca("tt-root-g1").certificate)
    cert = issued_by(key, partner_cert, ours.subject, ours.public_key(), ca=False)
    _import_refused(shared, cert, partner_cert)


# -- the CLI --------------------------------------------------------------------------


def test_cli_cross_certify_and_import(
    ws: Workspace, partner: tuple[ec.EllipticCurvePrivateKey, bytes], tmp_path: Path
) -> None:
    key, partner_cert = partner
    workdir = str(ws.path)
    ws.close()  # the CLI opens the workspace itself
    csr = tmp_path / "partner.csr"
    csr.write_bytes(to_pem(partner_csr(key), "CERTIFICATE REQUEST"))
    base = ["cross-certify", "-w", workdir, "--ca", "tt-root-g1", "--profile", "partner-bridge",
            "--csr", str(csr)]  # fmt: skip
    r = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "x.pem")])
    assert r.exit_code == 0, r.output
    pem = x509.load_pem_x509_certificate((tmp_path / "x.pem").read_bytes())
    r = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "x.der")])
    assert r.exit_code == 0, r.output
    der = x509.load_der_x509_certificate((tmp_path / "x.der").read_bytes())
    assert pem.subject == der.subject == name(PARTNER) and pem.serial_number != der.serial_number
    # An output suffix that says no format: usage error, nothing issued.
    r = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "x.txt")])
    assert r.exit_code == 2 and not (tmp_path / "x.txt").exists()
    # An --out in a missing folder: refused before anything is issued (issue 20 §2).
    with Workspace.open(workdir) as w:
        stored = w.store.count_certificates()
    r = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "nowhere" / "x.pem")])
    assert r.exit_code == 2 and "[input]" in r.output
    with Workspace.open(workdir) as w:
        assert w.store.count_certificates() == stored
    # A refusal: one line, its code, exit 2.
    csr.write_bytes(partner_csr(path_len=5))
    r = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "y.pem")])
    assert r.exit_code == 2 and "[policy]" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "y.pem").exists()
    # The reverse direction.
    with Workspace.open(workdir) as w:
        cross = _cross_to(w, "tt-root-g1", key, partner_cert)
    (tmp_path / "cross.crt").write_bytes(cross)
    (tmp_path / "partner.pem").write_bytes(to_pem(partner_cert))
    imp = ["cross-import", "-w", workdir, "--ca", "tt-root-g1", "--cert",
           str(tmp_path / "cross.crt"), "--issuer-cert"]  # fmt: skip
    r = CliRunner().invoke(main, [*imp, str(tmp_path / "partner.pem")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, [*imp, str(tmp_path / "cross.crt")])  # wrong issuer
    assert r.exit_code == 2 and "[cross-import]" in r.output
    with Workspace.open(workdir) as w:
        assert counts(w)[:2] == (w.store.count_certificates(), 1)
    r = CliRunner().invoke(main, ["show", "-w", workdir])
    assert r.exit_code == 0 and "Cross-certificates imported" in r.output
    assert "tt-root-g1-cross-partner-bridge-ca.crt" in r.output and "partner-bridge" in r.output


# -- the CP/CPS data -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('issuer = "tt-root-g1"\nvalidity = { years = 3 }',
         'issuer = "nope"\nvalidity = { years = 3 }', "cross_profiles.partner-bridge.issuer"),
        ('signature_algorithm = "ecdsa-sha384"\nkey_types = ["ec-p256", "rsa-2048"]',
         'signature_algorithm = "ecdsa-sha256"\nkey_types = ["ec-p256", "rsa-2048"]',
         "cross_profiles.partner-bridge.signature_algorithm"),
        ("max_path_len = 2", "max_path_len = -1", "cross_profiles.partner-bridge.max_path_len"),
        ('{ type = "basic_constraints", critical = true, ca = true },\n  { type = "name',
         '{ type = "basic_constraints", critical = true, ca = false },\n  { type = "name',
         "cross_profiles.partner-bridge.extensions"),
        ("[cross_profiles.any-partner]", "[cross_profiles.tt-root-g1]",
         "cross_profiles.tt-root-g1"),
        ("validity = { years = 3 }", "validity = { years = 30 }",
         "cross_profiles.partner-bridge.validity"),
    ],
    ids=["issuer", "algorithm", "max-path-len", "not-ca", "name-clash", "outlives-issuer"],
)  # fmt: skip
def test_bad_cross_profiles_fail_at_load_with_their_path(old: str, new: str, path: str) -> None:
    text = cpcps_text()
    assert old in text
    with raises_code(ProfileError, "profile", match=path.replace(".", r"\.")):
        parse_profile_set(text.replace(old, new, 1), "prod")


def test_fixed_path_len_over_max_path_len_fails_at_load() -> None:
    text = cpcps_text().replace("max_path_len = 2", "max_path_len = 0", 1)
    bc = '{ type = "basic_constraints", critical = true, ca = true },\n  { type = "name'
    assert bc in text
    text = text.replace(bc, bc.replace("ca = true", "ca = true, path_len = 1"), 1)
    with raises_code(ProfileError, "profile", match=r"cross_profiles\.partner-bridge\.ext"):
        parse_profile_set(text, "prod")


def test_cross_profiles_load() -> None:
    ps = parse_profile_set(cpcps_text(), "prod")
    prof = ps.cross_profile("partner-bridge")
    assert (prof.issuer, prof.max_path_len, prof.path_len_limit) == ("tt-root-g1", 2, 2)
    assert prof.subject == tuple(PARTNER)
    assert ps.cross_profile("any-partner").path_len_limit == 0


def test_a_rollover_derivation_moves_cross_profiles_to_the_new_ca() -> None:
    # RFC 3647 §5.6: generation 2 renames the CAs; a cross profile follows its issuer.
    import tomllib

    from porthos.cpcps.loader import build_profile_set
    from porthos.workspace.generations import derive_generation

    ps1 = parse_profile_set(cpcps_text(), "prod")
    doc = derive_generation(tomllib.loads(cpcps_text()), 2, ps1.generations)
    ps2 = build_profile_set(doc, "prod")
    prof = ps2.cross_profile("partner-bridge")
    assert prof.issuer == "tt-root-g2"
    aia = next(e for e in prof.extensions if e["type"] == "authority_info_access")
    assert aia["ca_issuers"] == ["http://crt.two-tier.example/tt-root-g2.p7c"]


def test_cli_cross_certify_by_a_root_in_the_hsm(tmp_path: Path) -> None:
    # The root key signs only inside an activation by two officers (RFC 3647 §6.2.2):
    # --root-officer twice. Own processes: SoftHSM2 reads its configuration once.
    from changeover_support import hsm_env, run_porthos, softhsm_installed, write_pin_files

    if not softhsm_installed():
        pytest.skip("SoftHSM2 is not installed")
    write_pin_files(tmp_path)
    (tmp_path / "cpcps.toml").write_text(cpcps_text(), "utf-8")
    env = hsm_env()
    officers = ["--root-officer", "alice=alice.pin", "--root-officer", "bob=bob.pin"]
    r = run_porthos(["init", "-w", "ws", "--cpcps", "cpcps.toml", "--hsm", "softhsm",
                     "--so-pin-file", "so.pin", "--pin-file", "user.pin", *officers],
                    tmp_path, env)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "partner.csr").write_bytes(partner_csr(key))
    r = run_porthos(["cross-certify", "-w", "ws", "--ca", "tt-root-g1", "--profile",
                     "partner-bridge", "--csr", "partner.csr", "--out", "x.crt", *officers],
                    tmp_path, env)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    cert = x509.load_der_x509_certificate((tmp_path / "x.crt").read_bytes())
    root = (tmp_path / "ws" / "repository" / "tt-root-g1.crt").read_bytes()
    cert.verify_directly_issued_by(x509.load_der_x509_certificate(root))
    assert cert.public_key() == key.public_key()


def test_a_cross_certificate_is_revoked_as_a_ca_certificate(ws: Workspace) -> None:
    # It certifies a CA: the CP/CPS's CA reasons apply (cACompromise), not the
    # subscriber's, and it is listed on its issuer's CRL.
    from porthos.workflows import revocation

    done = cross_certify(ws, "tt-root-g1", "partner-bridge", partner_csr())
    with raises_code(LifecycleError, "lifecycle"):
        revocation.revoke(ws, [done.serial_hex], "superseded", requester="t", ca="tt-root-g1")
    revocation.revoke(ws, [done.serial_hex], "cACompromise", requester="t", ca="tt-root-g1")
    assert [r[0] for r in ws.store.revocations("tt-root-g1")] == [done.serial_hex]


def test_the_partners_own_string_types_are_repeated_so_pyca_chains(ws: Workspace) -> None:
    # pyca's path validation compares names as encoded: a partner whose DN is in
    # PrintableString must find exactly that in the cross-certificate's subject.
    from cryptography.x509.name import _ASN1Type
    from cryptography.x509.oid import ExtendedKeyUsageOID
    from cryptography.x509.verification import PolicyBuilder, Store

    printable = x509.Name(
        [x509.NameAttribute(_OIDS[a], v, _type=_ASN1Type.PrintableString) for a, v in PARTNER]
    )
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(printable)
        .add_extension(x509.SubjectKeyIdentifier(b"\x5a" * 20), critical=False)
        .sign(key, hashes.SHA256())
    )
    # any-partner: the subject from the request, no nameConstraints (pyca's validator
    # does not take directoryName constraints).
    done = cross_certify(ws, "tt-root-g1", "any-partner", csr.public_bytes(Encoding.DER))
    cert = x509.load_der_x509_certificate(done.der)
    assert cert.subject.public_bytes() == printable.public_bytes()
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name([*PARTNER[:2], ("CN", "partner leaf")]))
        .issuer_name(printable)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name("someone@partner.example")]),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier(b"\x5a" * 20, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )
    root = x509.load_der_x509_certificate(ws.ca("tt-root-g1").certificate)
    verifier = PolicyBuilder().store(Store([root])).build_client_verifier()
    chain = verifier.verify(leaf, [cert]).chain
    assert [c.subject for c in chain] == [leaf.subject, cert.subject, root.subject]


def test_cross_profile_name_strings_are_validated() -> None:
    text = cpcps_text().replace(
        "max_path_len = 2", 'max_path_len = 2\nname_strings = { CN = "bmp" }'
    )
    with raises_code(ProfileError, "profile", match=r"partner-bridge\.name_strings"):
        parse_profile_set(text, "prod")
    ok = cpcps_text().replace(
        "max_path_len = 2", 'max_path_len = 2\nname_strings = { CN = "printable" }'
    )
    assert parse_profile_set(ok, "prod").cross_profile("partner-bridge").name_strings == {
        "CN": "printable"
    }
