"""The Carillon PKI (cpcps/carillon, seeds/001) judged by others (issue 16 §4): the
output of ``porthos demo --cpcps`` on a smaller variant (RSA-2048 signing CAs, 10
years, §5.6's 2048 column; RSA-2048 stand-in bridge) is checked with pkilint, pyca,
``openssl verify`` (-crl_check, -crl_check_all, -policy_check through the stand-in
CertiPath Bridge's cross-certificate, name constraints) and pyhanko-certvalidator.

pkilint exceptions, each required by the CP text (no other finding at WARNING or above
is accepted):
* ``pkix.certificate_name_constraints_extension_not_critical`` on the signing CAs:
  001 §10.1.4 "Name Constraints c=no" (extract §20.2);
* ``pkix.invalid_uri_syntax`` on the card-auth and PIV-I identity SANs: 001 §10.2.14
  requires the URI "urn:uuid:<GUID>", §10.2.1 the URI at IceCAP-hardware (the card's
  UUID, the same on every certificate of the card, §10 preamble); RFC 3986 §3 allows
  a URI without an authority (RFC 4122 §3 is this very form), pkilint's check does not.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from carillon_support import variant
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID, NameOID
from interop import pkilint_findings, to_pem
from porthos.cli.main import main
from porthos.cpcps.loader import load_profile_set

OPENSSL = shutil.which("openssl")
pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed"),
]
ROOT, SIGNING, DEVICE = "carillon-root-ca", "carillon-signing-ca-1", "carillon-device-ca-1"
BRIDGE = "certipath-bridge-ca-g2"
# Placeholder Bridge OIDs of demo.toml: .5 IceCAP-hardware, .6 IceCAP-cardAuth, .2
# mediumHardware.
BRIDGE_ICECAP_HW, BRIDGE_CARD_AUTH, BRIDGE_MEDIUM_HW = "2.999.1.5", "2.999.1.6", "2.999.1.2"
# The placeholder CertiPath OIDs sit under X.660's example arc 2.999: pkilint's DER
# decoder (pyasn1-fasder) refuses a second arc above 39 under arc 2 ("out-of-range
# arc"), which X.690 §8.19.4 allows; so a cross-certificate carrying them cannot be
# decoded by pkilint at all. Real CertiPath OIDs (a deployment's configuration) are not
# under 2.999.
PLACEHOLDER_ARC = "OID contains out-of-range arc"
EXCEPTIONS = {
    "pkix.certificate_name_constraints_extension_not_critical": {SIGNING, DEVICE},
    "pkix.invalid_uri_syntax": {"icecap-card-auth", "piv-i-identity"},
}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("carillon")
    toml = variant(base / "cpcps")
    d = base / "demo"
    r = CliRunner().invoke(main, ["demo", "--cpcps", str(toml), "--workdir", str(d)])
    assert r.exit_code == 0, r.output
    return d


def cert(path: Path) -> x509.Certificate:
    return x509.load_der_x509_certificate(path.read_bytes())


def ca_der(d: Path, name: str) -> bytes:
    return (d / "repository" / f"{name}.crt").read_bytes()


def crl_der(d: Path, name: str) -> bytes:
    return (d / "repository" / f"{name}.crl").read_bytes()


PS = load_profile_set("carillon")
ISSUER = {name: p.issuer for name, p in PS.profiles.items()}


def samples(d: Path) -> dict[str, Path]:
    return {name: d / "samples" / f"{name}.crt" for name in PS.profiles}


def test_demo_writes_every_sample_crl_and_the_external_ca(demo_dir: Path) -> None:
    for name, path in samples(demo_dir).items():
        assert path.is_file(), name
    assert (demo_dir / "samples" / "signature-revoked-keyCompromise.crt").is_file()
    # Held (the demo saw openssl refuse it on the CRL of the hold), then released.
    assert (demo_dir / "samples" / "piv-i-identity-suspended-released.crt").is_file()
    for name in (ROOT, SIGNING, DEVICE):
        # Where the CDP URLs point (001 §2.1): http://pub.carillon.ca/crl/<ca>.crl.
        assert (demo_dir / "repository" / "pub.carillon.ca" / "crl" / f"{name}.crl").is_file()
    ext = demo_dir / "external"
    for suffix in (".crt", ".csr", ".key.pem", f"-to-{ROOT}.crt"):
        assert (ext / f"{BRIDGE}{suffix}").is_file(), suffix
    csr = x509.load_der_x509_csr((ext / f"{BRIDGE}.csr").read_bytes())
    assert csr.is_signature_valid
    # Both cross-certificates in the repository (§2.2.1), and the Bridge's one to the
    # PCA in the .p7c at the PCA's caIssuers URL, next to the PCA's own (§10 preamble).
    ours = (ext / f"{ROOT}-to-{BRIDGE}.crt").read_bytes()
    assert (demo_dir / "repository" / f"{BRIDGE}.crt").read_bytes() == ours
    theirs = (ext / f"{BRIDGE}-to-{ROOT}.crt").read_bytes()
    assert (demo_dir / "repository" / f"{ROOT}-cross-{BRIDGE}.crt").read_bytes() == theirs
    p7c = demo_dir / "repository" / "pub.carillon.ca" / "aia" / f"{ROOT}.p7c"
    from cryptography.hazmat.primitives.serialization import pkcs7

    bundle = {c.public_bytes(serialization.Encoding.DER) for c in
              pkcs7.load_der_pkcs7_certificates(p7c.read_bytes())}  # fmt: skip
    assert bundle == {ca_der(demo_dir, ROOT), theirs}


@pytest.mark.parametrize("name", sorted(PS.profiles) + [ROOT, SIGNING, DEVICE])
def test_pkilint_clean_but_for_the_cp_exceptions(demo_dir: Path, name: str) -> None:
    der = samples(demo_dir)[name].read_bytes() if name in PS.profiles else ca_der(demo_dir, name)
    bad = [f for f in pkilint_findings(der) if name not in EXCEPTIONS.get(f.split()[1], ())]
    assert bad == []


def _pkilint_crl(der: bytes) -> list[str]:
    from pkilint import loader, pkix
    from pkilint.pkix import crl, extension, name
    from pkilint.validation import ValidationFindingSeverity

    validator = crl.create_pkix_crl_validator_container(
        [
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            crl.create_issuer_validator_container([]),
            crl.create_validity_validator_container([]),
            crl.create_extensions_validator_container([]),
        ],
    )
    doc = loader.RFC5280CertificateListDocumentLoader().load_der_document(der, "crl")
    out = []
    for result in validator.validate(doc.root):
        for fd in result.finding_descriptions:
            if fd.finding.severity <= ValidationFindingSeverity.WARNING:
                out.append(f"{fd.finding.severity.name} {fd.finding.code} @{result.node.path}")
    return out


@pytest.mark.parametrize(
    ("name", "max_validity"),
    [
        (ROOT, dt.timedelta(days=45)),
        (SIGNING, dt.timedelta(hours=48)),
        (DEVICE, dt.timedelta(hours=48)),
    ],
)
def test_crls_lint_clean_verify_and_keep_4_9_7(
    demo_dir: Path, name: str, max_validity: Any
) -> None:
    der = crl_der(demo_dir, name)
    assert _pkilint_crl(der) == []
    crl = x509.load_der_x509_crl(der)
    issuer = x509.load_der_x509_certificate(ca_der(demo_dir, name))
    assert crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    assert crl.next_update_utc is not None
    # 001 §4.9.7: nextUpdate <= thisUpdate + 45 days (offline root) / 48 h (online).
    assert crl.next_update_utc - crl.last_update_utc <= max_validity
    assert crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER)
    revoked = cert(demo_dir / "samples" / "signature-revoked-keyCompromise.crt")
    entry = crl.get_revoked_certificate_by_serial_number(revoked.serial_number)
    assert (entry is not None) == (name == SIGNING)


def test_pyca_verifies_every_sample_against_its_issuer(demo_dir: Path) -> None:
    root = x509.load_der_x509_certificate(ca_der(demo_dir, ROOT))
    root.verify_directly_issued_by(root)
    for name, path in samples(demo_dir).items():
        issuer = x509.load_der_x509_certificate(ca_der(demo_dir, ISSUER[name]))
        issuer.verify_directly_issued_by(root)
        cert(path).verify_directly_issued_by(issuer)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], capture_output=True, text=True, check=False)


def pem_file(tmp: Path, name: str, *ders: bytes, label: str = "CERTIFICATE") -> str:
    path = tmp / name
    path.write_bytes(b"".join(to_pem(d, label) for d in ders))
    return str(path)


def verify(
    tmp: Path, d: Path, leaf: Path, issuer: str, flag: str
) -> subprocess.CompletedProcess[str]:
    crls = [crl_der(d, issuer)] + ([crl_der(d, ROOT)] if flag == "-crl_check_all" else [])
    return openssl(
        "verify", "-x509_strict", flag,
        "-CAfile", pem_file(tmp, "root.pem", ca_der(d, ROOT)),
        "-untrusted", pem_file(tmp, "ca.pem", ca_der(d, issuer)),
        "-CRLfile", pem_file(tmp, "crls.pem", *crls, label="X509 CRL"),
        str(leaf),
    )  # fmt: skip


@pytest.mark.parametrize("flag", ["-crl_check", "-crl_check_all"])
def test_openssl_accepts_every_sample_and_refuses_the_revoked(
    demo_dir: Path, tmp_path: Path, flag: str
) -> None:
    released = demo_dir / "samples" / "piv-i-identity-suspended-released.crt"
    for name, path in [*samples(demo_dir).items(), ("piv-i-identity", released)]:
        r = verify(tmp_path, demo_dir, path, ISSUER[name], flag)
        assert r.returncode == 0 and r.stdout.rstrip().endswith(": OK"), (name, r.stderr)
    revoked = demo_dir / "samples" / "signature-revoked-keyCompromise.crt"
    r = verify(tmp_path, demo_dir, revoked, SIGNING, flag)
    assert r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr


def policy_check(
    d: Path, tmp: Path, profile: str, policy: str
) -> subprocess.CompletedProcess[str]:
    """A relying party anchored at the stand-in Bridge: the Bridge's cross-certificate to
    the Carillon PCA (the root), the signing CA, the sample."""
    ext = d / "external"
    return openssl(
        "verify", "-x509_strict", "-policy_check", "-explicit_policy", "-policy", policy,
        "-policy_print",
        "-CAfile", pem_file(tmp, "bridge.pem", (ext / f"{BRIDGE}.crt").read_bytes()),
        "-untrusted", pem_file(tmp, "path.pem", (ext / f"{BRIDGE}-to-{ROOT}.crt").read_bytes(),
                               ca_der(d, ISSUER[profile])),
        str(samples(d)[profile]),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("profile", "policy", "ok"),
    [
        ("piv-i-identity", BRIDGE_ICECAP_HW, True),  # IceCAP-hardware -> iceCAPHardware
        ("device-identity", BRIDGE_MEDIUM_HW, True),  # mediumHardware -> mediumHardware-256
        ("icecap-card-auth", BRIDGE_CARD_AUTH, True),  # IceCAP-cardAuth -> iceCAPCardAuth
        ("icecap-card-auth", BRIDGE_ICECAP_HW, False),  # card-auth asserts nothing else
        # Software OIDs only (fn 12), yet accepted: §10.1.1 maps mediumSoftware-256 onto
        # the Bridge's IceCAP-hardware too.
        ("encryption", BRIDGE_ICECAP_HW, True),
        ("encryption", BRIDGE_CARD_AUTH, False),  # only iceCAPCardAuth maps to cardAuth
    ],
)
def test_openssl_policy_processing_through_the_bridge(
    demo_dir: Path, tmp_path: Path, profile: str, policy: str, ok: bool
) -> None:
    r = policy_check(demo_dir, tmp_path, profile, policy)
    out = r.stdout + r.stderr
    if ok:
        assert r.returncode == 0, out
        assert "Require explicit Policy: True" in out
        user = out.split("User Policies:", 1)[1]
        assert f"Policy: {policy}" in user
    else:
        assert r.returncode != 0 and "no explicit policy" in out, out


def test_openssl_refuses_a_name_outside_the_permitted_subtree(
    demo_dir: Path, tmp_path: Path
) -> None:
    """001 §10.1.4: the signing CA may name only C=CA, O=Carillon Information Security
    Inc.; porthos never issues outside it, so the leaf is built by hand with pyca and
    the CA's own key, and openssl must refuse it."""
    key = serialization.load_der_private_key(
        (demo_dir / "keys" / f"{SIGNING}.p8").read_bytes(), None
    )
    issuer = x509.load_der_x509_certificate(ca_der(demo_dir, SIGNING))
    leaf_key = x509.load_der_x509_certificate(
        samples(demo_dir)["signature"].read_bytes()
    ).public_key()
    now = dt.datetime.now(dt.UTC)
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key())  # type: ignore[arg-type]

    def leaf(org: str) -> Path:
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "CA"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                x509.NameAttribute(NameOID.COMMON_NAME, "Mallory Outsider"),
            ]
        )
        c = (
            x509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject)
            .public_key(leaf_key).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(aki, False)
            .sign(key, hashes.SHA256())  # type: ignore[arg-type]
        )  # fmt: skip
        path = tmp_path / f"{org.split()[0]}.der"
        path.write_bytes(c.public_bytes(serialization.Encoding.DER))
        return path

    # The control: the same hand-built leaf inside the subtree is accepted.
    inside = verify(
        tmp_path, demo_dir, leaf("Carillon Information Security Inc."), SIGNING, "-crl_check"
    )
    assert inside.returncode == 0, inside.stdout + inside.stderr
    outside = verify(tmp_path, demo_dir, leaf("Other Corp"), SIGNING, "-crl_check")
    assert outside.returncode != 0
    assert "permitted subtree violation" in outside.stdout + outside.stderr


def _pyhanko(
    d: Path, leaf: bytes, issuer: str, *, policy: str | None = None, bridge: bool = False
) -> Any:
    from asn1crypto import crl as a_crl
    from asn1crypto import x509 as a_x509
    from pyhanko_certvalidator import CertificateValidator, ValidationContext
    from pyhanko_certvalidator.policy_decl import PKIXValidationParams

    ext = d / "external"
    if bridge:
        roots = [a_x509.Certificate.load((ext / f"{BRIDGE}.crt").read_bytes())]
        others = [(ext / f"{BRIDGE}-to-{ROOT}.crt").read_bytes(), ca_der(d, issuer)]
        mode = "soft-fail"  # the stand-in Bridge publishes no CRL
    else:
        roots = [a_x509.Certificate.load(ca_der(d, ROOT))]
        others = [ca_der(d, issuer)]
        mode = "require"
    vc = ValidationContext(
        trust_roots=roots,
        other_certs=[a_x509.Certificate.load(o) for o in others],
        crls=[a_crl.CertificateList.load(crl_der(d, n)) for n in (ROOT, issuer)],
        allow_fetching=False,
        revocation_mode=mode,
    )
    params = None
    if policy is not None:
        params = PKIXValidationParams(
            user_initial_policy_set=frozenset({policy}), initial_explicit_policy=True
        )
    v = CertificateValidator(
        a_x509.Certificate.load(leaf), validation_context=vc, pkix_params=params
    )
    return asyncio.run(v.async_validate_usage(set()))


def test_pyhanko_certvalidator_agrees(demo_dir: Path) -> None:
    from pyhanko_certvalidator.errors import PathValidationError, RevokedError

    for name, path in samples(demo_dir).items():
        _pyhanko(demo_dir, path.read_bytes(), ISSUER[name])
    revoked = (demo_dir / "samples" / "signature-revoked-keyCompromise.crt").read_bytes()
    with pytest.raises(RevokedError):
        _pyhanko(demo_dir, revoked, SIGNING)
    # Policy mapping from the Bridge anchor, as openssl above.
    piv = samples(demo_dir)["piv-i-identity"].read_bytes()
    _pyhanko(demo_dir, piv, SIGNING, policy=BRIDGE_ICECAP_HW, bridge=True)
    card = samples(demo_dir)["icecap-card-auth"].read_bytes()
    with pytest.raises(PathValidationError):
        _pyhanko(demo_dir, card, SIGNING, policy=BRIDGE_ICECAP_HW, bridge=True)


def test_profiles_say_what_the_cp_tables_say(demo_dir: Path) -> None:
    s = {name: cert(p) for name, p in samples(demo_dir).items()}
    root = x509.load_der_x509_certificate(ca_der(demo_dir, ROOT))
    # §10.1.3: the root carries SKI, KU and BC only, RSA-4096, sha256WithRSAEncryption.
    assert {e.oid for e in root.extensions} == {
        ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.KEY_USAGE, ExtensionOID.BASIC_CONSTRAINTS
    }  # fmt: skip
    assert root.public_key().key_size == 4096  # type: ignore[union-attr]
    assert root.signature_hash_algorithm is not None
    assert root.signature_hash_algorithm.name == "sha256"
    # §10.1.4: pathLen 0; permitted subtree = the last two RDNs of the CA's subject.
    sub = x509.load_der_x509_certificate(ca_der(demo_dir, SIGNING))
    assert sub.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    nc = sub.extensions.get_extension_for_class(x509.NameConstraints)
    assert not nc.critical
    assert nc.value.permitted_subtrees == [x509.DirectoryName(x509.Name(list(sub.subject)[:2]))]
    # §10.1.5: OCSP responder.
    ocsp = s["ocsp-responder"]
    eku = ocsp.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]
    assert ocsp.extensions.get_extension_for_class(x509.OCSPNoCheck).critical is False
    assert ocsp.not_valid_after_utc - ocsp.not_valid_before_utc <= dt.timedelta(days=31)
    with pytest.raises(x509.ExtensionNotFound):
        ocsp.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    # §10.2.14: card authentication: no CN, serialNumber = UUID, SAN urn:uuid.
    card = s["icecap-card-auth"]
    assert not card.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    (serial,) = card.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    san = card.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"urn:uuid:{serial.value}"]
    # §10.7: the EKU of each profile, and its criticality (extract §20.12).
    want = {
        "icecap-card-auth": (["2.16.840.1.101.3.6.8"], True),
        "icecap-content-signer": (["2.16.840.1.101.3.8.7"], True),
        "tsa": (["1.3.6.1.5.5.7.3.8"], True),
        "scvp-server": (["1.3.6.1.5.5.7.3.15"], True),
        "piv-i-identity": (
            ["1.3.6.1.5.5.7.3.2", "1.3.6.1.4.1.311.20.2.2", "1.3.6.1.5.2.3.4"],
            False,
        ),
    }
    for name, (oids, critical) in want.items():
        e = s[name].extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        assert [o.dotted_string for o in e.value] == oids and e.critical == critical, name
    # §10 preamble: CA DNs in PrintableString; subscriber DNs where possible.
    for c in (root, sub, s["piv-i-identity"]):
        for attr in c.subject:
            assert attr._type == x509.name._ASN1Type.PrintableString, attr
    # §10.2.1 / §10.2.14: the card's UUID in both SANs; both end with the card (2 years,
    # demo.toml), before the profiles' 3 years (§5.6, §11: item_not_after clamp).
    piv = s["piv-i-identity"]
    piv_san = piv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert piv_san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"urn:uuid:{serial.value}"
    ]
    assert piv_san.get_values_for_type(x509.RFC822Name) == ["alice.tremblay@carillon.ca"]
    for c in (piv, card):
        lifetime = c.not_valid_after_utc - c.not_valid_before_utc
        assert dt.timedelta(days=700) < lifetime < dt.timedelta(days=740)
    # §10.2.4: the person controlling the code-signing key, as a directoryName.
    code = s["code-signing"].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    (person,) = code.value.get_values_for_type(x509.DirectoryName)
    assert person.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Bob Gagnon"
    for name, c in s.items():
        assert c.extensions.get_extension_for_class(x509.KeyUsage).critical, name
        # Subscriber O and C "exactly as in the CA certificate of the Issuer" (§7.1.4).
        assert list(c.subject)[:2] == list(sub.subject)[:2], name


def _softhsm() -> bool:
    from porthos import hsm
    from porthos.exceptions import HsmNotFoundError

    try:
        hsm.find_module()
    except HsmNotFoundError:
        return False
    return True


@pytest.mark.hsm
@pytest.mark.skipif(not _softhsm(), reason="SoftHSM2 is not installed (Debian softhsm2)")
def test_demo_with_keys_in_softhsm(tmp_path: Path) -> None:
    """The same demo with every CA key generated in SoftHSM2 (the root under two
    officers' PIN halves, 001 §6.2.2): samples and CRLs are as good."""
    toml = variant(tmp_path / "cpcps")
    d = tmp_path / "demo"
    args = ["demo", "--cpcps", str(toml), "--workdir", str(d), "--hsm", "softhsm"]
    # Its own process: one process uses one SoftHSM2 configuration (hsm/tokens.py), and
    # the other HSM tests of this session have theirs.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "python")}
    r = subprocess.run(
        [sys.executable, "-m", "porthos.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert (d / "hsm" / "hsm.json").is_file()
    # No key file: the OCSP responders' keys are in the token too (PKCS#11 URIs).
    files = [p for p in (d / "keys").rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".uri" and p.parent.name == "ocsp" for p in files)
    for name, path in samples(d).items():
        v = verify(tmp_path, d, path, ISSUER[name], "-crl_check_all")
        assert v.returncode == 0, (name, v.stdout + v.stderr)
    r2 = policy_check(d, tmp_path, "piv-i-identity", BRIDGE_ICECAP_HW)
    assert r2.returncode == 0, r2.stdout + r2.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cpcps", "porthos"], "has no demo.toml"),
        (["--cpcps", "carillon", "--env", "nonprod"], "no environment 'nonprod'"),
        (["--cpcps", "no-such-pki"], "no bundled profile set 'no-such-pki'"),
    ],
)
def test_demo_refuses_bad_input_before_writing_anything(
    tmp_path: Path, args: list[str], message: str
) -> None:
    d = tmp_path / "demo"
    r = CliRunner().invoke(main, ["demo", "--workdir", str(d), *args])
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split())
    assert not d.exists()


def test_bad_demo_data_fails_with_its_path(tmp_path: Path) -> None:
    toml = variant(tmp_path / "cpcps")
    demo = toml.with_name("demo.toml")
    demo.write_text(demo.read_text().replace('key_type = "rsa-3072"', 'key_type = "ec-p256"'))
    d = tmp_path / "demo"
    r = CliRunner().invoke(main, ["demo", "--cpcps", str(toml), "--workdir", str(d)])
    assert r.exit_code == 2
    want = "samples.icecap-content-signer.key_type: profile icecap-content-signer does not"
    assert f"{want} allow ec-p256" in " ".join(r.output.split())
    assert not d.exists()


def test_the_trail_records_the_card_approvals_and_the_hold(demo_dir: Path) -> None:
    """001 §5.2.2: the card-auth sample was issued after two persons, one an RA,
    approved it; §4.9.13-16: the hold and its release are recorded."""
    from porthos.store import audit
    from porthos.workspace.workspace import Workspace

    with Workspace.open(demo_dir) as ws:
        records = list(audit.records(ws.store))
    given = [r for r in records if r.event == "approval.given"]
    assert len(given) == 2
    # One approval short was refused (a failure record), the second approval issued it.
    outcomes = [r.outcome for r in records if r.event == "approval.issued"]
    assert outcomes == ["failure", "success"]
    assert {"suspension.requested", "suspension.released"} <= {r.event for r in records}
    card = cert(samples(demo_dir)["icecap-card-auth"])
    issued = next(r for r in records if r.event == "approval.issued" and r.outcome == "success")
    assert issued.serial is not None and int(issued.serial, 16) == card.serial_number
    assert {a["role"] for a in issued.details["approved_by"]} >= {"ra"}


def test_a_required_san_without_ra_data_is_refused(demo_dir: Path) -> None:
    """001 §10.2.1: the PIV-I identity certificate carries the card's URI, which only
    the RA data gives: a request without RA data is refused with that reason, not
    issued without it; with it, issued."""
    from conftest import CsrFactory
    from porthos.status import IssueStatus
    from porthos.workspace.workspace import Workspace

    csr = CsrFactory().make([("OU", "Engineering"), ("CN", "Denis Lavoie")], "rsa-2048")
    with Workspace.open(demo_dir) as ws:
        ca = ws.ca(SIGNING)
        refused = ca.issue_batch([csr], "piv-i-identity")
        assert int(refused.status[0]) == IssueStatus.SUBJECT_INVALID
        assert "gives no uri SAN, which profile piv-i-identity requires" in refused.reasons[0]
        sans = [["uri", "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e"]]
        issued = ca.issue_batch([csr], "piv-i-identity", ra_data=[{"sans": sans}])
        assert issued.issued_count == 1, issued.reasons


def test_our_cross_certificate_to_the_bridge(demo_dir: Path, tmp_path: Path) -> None:
    """001 §10.1.1: the PCA's cross-certificate to the CertiPath Bridge CA G2, issued by
    porthos cross-certify from the stand-in's request: openssl accepts it under the
    Carillon root with policy processing, its fields are the table's, and pkilint has
    nothing to say but the placeholder arc it cannot decode (see PLACEHOLDER_ARC)."""
    der = (demo_dir / "external" / f"{ROOT}-to-{BRIDGE}.crt").read_bytes()
    findings = pkilint_findings(der)
    assert all(PLACEHOLDER_ARC in f for f in findings), findings
    c = x509.load_der_x509_certificate(der)
    req = x509.load_der_x509_csr((demo_dir / "external" / f"{BRIDGE}.csr").read_bytes())
    assert c.subject == req.subject and c.public_key() == req.public_key()
    ski = c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == req.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert c.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length is None
    with pytest.raises(x509.ExtensionNotFound):
        c.extensions.get_extension_for_class(x509.NameConstraints)
    iap = c.extensions.get_extension_for_class(x509.InhibitAnyPolicy)
    assert not iap.critical and iap.value.skip_certs == 0
    mappings = c.extensions.get_extension_for_oid(x509.ObjectIdentifier("2.5.29.33"))
    assert not mappings.critical
    assert c.not_valid_after_utc - c.not_valid_before_utc <= dt.timedelta(days=3653)
    r = openssl(
        "verify", "-x509_strict", "-policy_check", "-explicit_policy",
        "-policy", "1.3.6.1.4.1.25054.3.1.20",
        "-CAfile", pem_file(tmp_path, "root.pem", ca_der(demo_dir, ROOT)),
        pem_file(tmp_path, "cross.pem", der),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
