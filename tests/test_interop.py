"""Every certificate porthos makes, judged by three independent implementations.

For each environment (000 §1.3: prod and non-prod hierarchies) a workspace is initialised
and one certificate is issued per profile of 000 §7.1.3-§7.1.4 from a valid CSR. Then the
root, the four issuing CAs and every issued certificate must be:
- pkilint clean (RFC 5280 linter, no finding at WARNING or worse),
- accepted by ``openssl verify -x509_strict`` with the chain built from the published
  CA certificates (W/repository/<ca>.crt, 000 §2.1),
- signature-verified link by link by pyca/cryptography.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from interop import assert_pkilint_clean, openssl_verify, pyca_verify_chain
from porthos.status import IssueStatus

pytestmark = pytest.mark.interop

ENVS = ["prod", "nonprod"]
ROOT = "root-ca-1"
ISSUING_CAS = ["ha-device-ca-1", "sa-device-ca-1", "infrastructure-ca-1", "user-ca-1"]


@dataclass(frozen=True)
class Request:
    profile: str
    cn: str
    key_kind: str  # "ec" (P-256) or "rsa" (2048)


# The CN each profile takes from the CSR (000 §7.1.3, §7.1.4); the rest of the subject
# is fixed by the profile.
REQUESTS = [
    Request("ha-device", str(uuid.UUID(int=0x3F1C2A4E8B7D4C1A9E2F0A1B2C3D4E5F)), "ec"),
    Request("sa-device", str(uuid.UUID(int=0x9A8B7C6D5E4F40318A2B1C0D9E8F7A6B)), "ec"),
    Request("tls-client", "host.example.com:app", "ec"),
    Request("tls-server", "service.example.com", "ec"),
    Request("user", "alice.mueller", "ec"),
    # AWS IoT CA registration: CN = the 64-hex registration code, RSA-2048 key (§7.1.4).
    Request("aws-verification-ha", "a1b2c3d4" * 8, "rsa"),
    Request("aws-verification-sa", "0f1e2d3c" * 8, "rsa"),
]


def make_csr(req: Request) -> bytes:
    key: Any = (
        rsa.generate_private_key(65537, 2048)
        if req.key_kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, req.cn)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER)


@dataclass
class Issued:
    ws: Any
    ca_certs: dict[str, bytes]  # as published in the repository
    leaves: dict[str, bytes]  # profile -> certificate DER
    issuer_of: dict[str, str]  # profile -> CA name


@pytest.fixture(scope="module", params=ENVS)
def issued(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Issued]:
    import porthos

    env = request.param
    ws = porthos.Workspace.init(tmp_path_factory.mktemp(f"interop-{env}") / "ws", env=env)
    ca_certs = {}
    for name in [ROOT, *ISSUING_CAS]:
        published = (ws.path / "repository" / f"{name}.crt").read_bytes()
        # The repository file must be what the CA signs with (000 §2.1, §2.2).
        assert published == ws.ca(name).certificate
        ca_certs[name] = published
    leaves, issuer_of = {}, {}
    for req in REQUESTS:
        ca = ws.ca_for_profile(req.profile)
        result = ca.issue_batch([make_csr(req)], profile=req.profile, threads=1)
        assert int(result.status[0]) == IssueStatus.ISSUED, (req.profile, result.reasons[0])
        der = result.certificates[0]
        assert der is not None
        leaves[req.profile] = der
        issuer_of[req.profile] = ca.name
    yield Issued(ws, ca_certs, leaves, issuer_of)
    ws.close()


def test_every_profile_covered(issued: Issued) -> None:
    assert set(issued.leaves) == {r.profile for r in REQUESTS}
    assert set(issued.issuer_of.values()) == set(ISSUING_CAS)


@pytest.mark.parametrize("ca", [ROOT, *ISSUING_CAS])
def test_ca_certificate_pkilint(issued: Issued, ca: str) -> None:
    assert_pkilint_clean(issued.ca_certs[ca], f"{ca} ({issued.ws.env})")


@pytest.mark.parametrize("ca", [ROOT, *ISSUING_CAS])
def test_ca_certificate_openssl(issued: Issued, ca: str) -> None:
    root = issued.ca_certs[ROOT]
    openssl_verify([root], issued.ca_certs[ca])


@pytest.mark.parametrize("ca", [ROOT, *ISSUING_CAS])
def test_ca_certificate_pyca(issued: Issued, ca: str) -> None:
    chain = [issued.ca_certs[ROOT]] + ([issued.ca_certs[ca]] if ca != ROOT else [])
    certs = pyca_verify_chain(chain)
    bc = certs[-1].extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    # 000 §7.1.2: issuing CAs have pathlength 0, the root has none.
    assert bc.value.path_length == (None if ca == ROOT else 0)


@pytest.mark.parametrize("profile", [r.profile for r in REQUESTS])
def test_leaf_pkilint(issued: Issued, profile: str) -> None:
    assert_pkilint_clean(issued.leaves[profile], f"{profile} leaf ({issued.ws.env})")


@pytest.mark.parametrize("profile", [r.profile for r in REQUESTS])
def test_leaf_openssl(issued: Issued, profile: str) -> None:
    chain = [issued.ca_certs[ROOT], issued.ca_certs[issued.issuer_of[profile]]]
    openssl_verify(chain, issued.leaves[profile])


@pytest.mark.parametrize("profile", [r.profile for r in REQUESTS])
def test_leaf_pyca(issued: Issued, profile: str) -> None:
    chain = [issued.ca_certs[ROOT], issued.ca_certs[issued.issuer_of[profile]]]
    certs = pyca_verify_chain(chain, issued.leaves[profile])
    leaf = certs[-1]
    req = next(r for r in REQUESTS if r.profile == profile)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == req.cn
    bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    # AKI of the leaf = SKI of its issuer (RFC 5280 §4.2.1.1).
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = certs[-2].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_openssl_rejects_wrong_chain(issued: Issued) -> None:
    # The judge itself must be able to say no: a device cert against the user CA fails.
    # No .code (AssertionError of the openssl helper): the failing step is named.
    with pytest.raises(AssertionError, match="verify"):
        openssl_verify(
            [issued.ca_certs[ROOT], issued.ca_certs["user-ca-1"]], issued.leaves["ha-device"]
        )
