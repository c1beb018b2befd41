"""Subject alternative names from the CP/CPS: a profile's SAN names the rule that gives
its values (``{ type = "subject_alt_name", rule = "dns-from-cn" }``), the loader refuses
an unknown or missing rule with the field path, and issuance fills the template's SAN
hole from the rule (tests/cpcps/two-tier.toml's TLS server profile)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID
from error_codes import raises_code
from interop import assert_pkilint_clean, pyca_verify_chain
from porthos import IssueStatus, Workspace, _native
from porthos.cpcps.loader import parse_profile_set
from porthos.cpcps.policy import decide_batch
from porthos.cpcps.san_rules import GENERIC_SAN_RULES, san_rules_for
from porthos.cpcps.subject_rules import SubjectInvalid
from porthos.exceptions import ProfileError
from porthos.status import KeyType

TOML = Path(__file__).resolve().parent / "cpcps" / "two-tier.toml"
SAN_LINE = '{ type = "subject_alt_name", rule = "dns-from-cn" },'


def two_tier_with(san_line: str) -> str:
    text = TOML.read_text("utf-8")
    assert SAN_LINE in text
    return text.replace(SAN_LINE, san_line)


def csr(cn: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    req = x509.CertificateSigningRequestBuilder().subject_name(name)
    return req.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


# -- the rule ---------------------------------------------------------------------------


def test_dns_from_cn_gives_the_cn_as_one_dns_name() -> None:
    rule = GENERIC_SAN_RULES["dns-from-cn"]
    subject = [("C", "CH"), ("O", "Two-Tier Test"), ("CN", "www.example.com")]
    assert rule(subject) == [("dns", "www.example.com")]


@pytest.mark.parametrize(
    ("subject", "why"),
    [
        ([("O", "x")], "0 CNs"),
        ([("CN", "a.example"), ("CN", "b.example")], "2 CNs"),
        ([("CN", "localhost")], "one label"),
        ([("CN", "*.example.com")], "wildcard"),
    ],
)
def test_dns_from_cn_refuses_what_is_no_host_name(
    subject: list[tuple[str, str]], why: str
) -> None:
    with pytest.raises(SubjectInvalid, match=why):
        GENERIC_SAN_RULES["dns-from-cn"](subject)


def test_a_cpcps_without_san_rules_gets_the_generic_ones() -> None:
    # porthos' rules.py defines SUBJECT_RULES only; two-tier has no folder at all.
    assert dict(san_rules_for("porthos")) == GENERIC_SAN_RULES
    assert dict(san_rules_for("two-tier")) == GENERIC_SAN_RULES


# -- the loader -------------------------------------------------------------------------


def test_the_loader_resolves_the_named_rule() -> None:
    prof = parse_profile_set(TOML.read_text("utf-8"), "prod").profiles["tls-server"]
    assert prof.san_rule is GENERIC_SAN_RULES["dns-from-cn"]
    # The rule is policy: the template spec has the SAN hole without it.
    assert '{"type":"subject_alt_name"}' in prof.template_spec_json()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{ type = "subject_alt_name", rule = "dns-from-sn" },',
            r"^profiles\.tls-server\.extensions\[6\]\.rule: unknown SAN rule 'dns-from-sn'",
        ),
        (
            '{ type = "subject_alt_name" },',
            r"^profiles\.tls-server\.extensions\[6\]\.rule: missing",
        ),
        (
            '{ type = "subject_alt_name", rule = 7 },',
            r"^profiles\.tls-server\.extensions\[6\]\.rule: ",
        ),
        (
            '{ type = "subject_alt_name", rule = "dns-from-cn", values = ["x"] },',
            r"^profiles\.tls-server\.extensions\[6\]\.values: unknown key",
        ),
    ],
)
def test_the_loader_refuses_a_bad_san_with_its_path(line: str, message: str) -> None:
    with raises_code(ProfileError, "profile", match=message):
        parse_profile_set(two_tier_with(line), "prod")


def test_a_critical_san_is_still_allowed() -> None:
    text = two_tier_with('{ type = "subject_alt_name", rule = "dns-from-cn", critical = true },')
    prof = parse_profile_set(text, "prod").profiles["tls-server"]
    assert prof.extension("subject_alt_name") == {
        "type": "subject_alt_name",
        "critical": True,
        "rule": "dns-from-cn",
    }


def test_decide_batch_yields_sans_only_for_a_san_profile() -> None:
    two = parse_profile_set(TOML.read_text("utf-8"), "prod").profiles["tls-server"]
    subjects = [[("2.5.4.3", "a.example.com")], [("2.5.4.3", "no_host")]]
    kt = np.array([KeyType.EC_P256] * 2, dtype=np.uint8)
    kb = np.array([256] * 2, dtype=np.uint32)
    statuses, reasons, subs, sans = decide_batch(two, subjects, kt, kb)
    assert statuses == [IssueStatus.ISSUED, IssueStatus.SUBJECT_INVALID]
    assert sans == [[("dns", "a.example.com")], None]
    assert subs[1] is None and reasons[1]


# -- issuance ---------------------------------------------------------------------------


@pytest.fixture
def two_tier(tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace.init(tmp_path / "ws", "prod", profile_set=str(TOML))
    yield ws
    ws.close()


def test_tls_server_certificates_carry_their_host_name_as_san(two_tier: Workspace) -> None:
    hosts = [f"host{i}.two-tier.example" for i in range(5)]
    reqs = [csr(h) for h in hosts] + [csr("not-a-host")]
    ca = two_tier.ca("tt-issuing-g1")
    result = ca.issue_batch(reqs, "tls-server")
    assert result.status.tolist()[:5] == [IssueStatus.ISSUED] * 5
    assert result.status[5] == IssueStatus.SUBJECT_INVALID
    root = two_tier.ca("tt-root-g1").certificate
    for host, der in zip(hosts, result.certificates[:5], strict=True):
        assert der is not None
        cert = pyca_verify_chain([root, ca.certificate], der)[-1]
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert [a.value for a in cn] == [host]
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        assert not ext.critical
        assert list(ext.value) == [x509.DNSName(host)]
    first = result.certificates[0]
    assert first is not None
    assert_pkilint_clean(first, "two-tier tls-server")


def test_a_streamed_batch_carries_the_sans_too(
    two_tier: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from porthos.issuance import batch

    monkeypatch.setattr(batch, "PIPELINE_PIECE", 4)
    monkeypatch.setattr(batch, "PIPELINE_LAST", 2)
    hosts = [f"s{i}.two-tier.example" for i in range(11)]
    result = two_tier.ca("tt-issuing-g1").issue_batch([csr(h) for h in hosts], "tls-server")
    assert result.issued_count == len(hosts)
    for host, der in zip(hosts, result.certificates, strict=True):
        assert der is not None
        cert = x509.load_der_x509_certificate(der)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == [host]


def test_a_profile_without_san_is_byte_for_byte_unchanged(fresh_workspace: Workspace) -> None:
    # Porthos' tls-server has no SAN: the naming rule gives no SAN column, and each
    # certificate is exactly the template filled without one.
    ca = fresh_workspace.ca("infrastructure-ca-1")
    prof = ca.profile_set.profiles["tls-server"]
    assert prof.san_rule is None and prof.extension("subject_alt_name") is None
    reqs = [csr(f"h{i}.porthos.example") for i in range(3)]
    result = ca.issue_batch(reqs, "tls-server")
    assert result.issued_count == 3
    parsed = _native.parse_csrs(reqs, verify=True)
    for j, der in enumerate(result.certificates):
        assert der is not None
        cert = x509.load_der_x509_certificate(der)
        assert ExtensionOID.SUBJECT_ALTERNATIVE_NAME not in [e.oid for e in cert.extensions]
        serial = cert.serial_number.to_bytes(16, "big")  # generate_serials' rows
        tbs = ca.template("tls-server").fill(
            serials=[serial],
            not_before=[int(cert.not_valid_before_utc.timestamp())],
            not_after=[int(cert.not_valid_after_utc.timestamp())],
            subjects=[[*prof.subject_prefix, ("CN", f"h{j}.porthos.example")]],
            spkis=[parsed.spki(j)],
        )
        assert tbs.to_list() == [cert.tbs_certificate_bytes]
