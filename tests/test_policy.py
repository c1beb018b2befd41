"""cpcps/policy.py and subject_rules.py: subject rules (000 §3.1, §3.2.4, §7.1.3-4),
key rules (000 §6.1.5),
validity arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from porthos import load_profile_set
from porthos.cpcps.policy import (
    add_months,
    build_subject,
    check_key,
    decide,
    decide_batch,
    validity,
)
from porthos.cpcps.subject_rules import SubjectInvalid, is_fqdn
from porthos.status import IssueStatus, KeyType

# SubjectInvalid is not a porthos error and has no .code: its text becomes the item's
# reason (IssueStatus.SUBJECT_INVALID), so the tests below check that text.
PS = load_profile_set("porthos", "prod")
CN, OU, ORG, SN, C = "2.5.4.3", "2.5.4.11", "2.5.4.10", "2.5.4.5", "2.5.4.6"
UUID = "123e4567-e89b-12d3-a456-426614174000"


def subject(profile: str, *attrs: tuple[str, str]) -> list[tuple[str, str]]:
    return build_subject(PS.profiles[profile], list(attrs))


def test_ha_device_uuid() -> None:
    assert subject("ha-device", (CN, UUID)) == [
        ("O", "dormakaba"),
        ("OU", "Porthos HA Device"),
        ("CN", UUID),
    ]
    # RFC 4122 §3: case-insensitive on input, lower case on output.
    assert subject("ha-device", (CN, UUID.upper()))[-1] == ("CN", UUID)


@pytest.mark.parametrize(
    "cn",
    [
        "123e4567e89b12d3a456426614174000",  # no hyphens
        "{123e4567-e89b-12d3-a456-426614174000}",
        "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
        "123e4567-e89b-12d3-a456-42661417400",  # 11 digits in the last group
        "123e4567-e89b-12d3-a456-4266141740000",
        "g23e4567-e89b-12d3-a456-426614174000",
        " 123e4567-e89b-12d3-a456-426614174000",
        "",
    ],
)
def test_ha_device_rejects_non_uuid(cn: str) -> None:
    with pytest.raises(SubjectInvalid, match="not a UUID"):
        subject("ha-device", (CN, cn))


def test_exactly_one_cn() -> None:
    with pytest.raises(SubjectInvalid, match="no CN"):
        subject("ha-device", (ORG, "dormakaba"))
    with pytest.raises(SubjectInvalid, match="2 CNs"):
        subject("ha-device", (CN, UUID), (CN, UUID))


def test_other_csr_attributes_are_ignored() -> None:
    """000 §3.2.4: information that is not verified is not included."""
    got = subject(
        "ha-device", (C, "US"), (ORG, "Evil Corp"), (OU, "admins"), ("1.2.3.4", "x"), (CN, UUID)
    )
    assert got == [("O", "dormakaba"), ("OU", "Porthos HA Device"), ("CN", UUID)]
    got = subject("tls-server", (ORG, "Evil Corp"), (SN, "42"), (CN, "api.porthos.example"))
    assert got == [("O", "dormakaba"), ("OU", "Porthos service"), ("CN", "api.porthos.example")]


def test_sa_device_optional_realm_and_serial_number_order() -> None:
    # CSR order does not matter; certificate order is O, OU, OU=<realm>, CN, serialNumber
    got = subject("sa-device", (SN, "SN-0042"), (CN, UUID), (OU, "realm-7"), (ORG, "ignored"))
    assert got == [
        ("O", "dormakaba"),
        ("OU", "Porthos SA Device"),
        ("OU", "realm-7"),
        ("CN", UUID),
        ("serialNumber", "SN-0042"),
    ]
    assert subject("sa-device", (CN, UUID)) == [
        ("O", "dormakaba"),
        ("OU", "Porthos SA Device"),
        ("CN", UUID),
    ]
    assert subject("sa-device", (CN, UUID), (SN, "1"))[-1] == ("serialNumber", "1")
    assert subject("sa-device", (OU, "r"), (CN, UUID))[-2:] == [("OU", "r"), ("CN", UUID)]
    # A CSR that already carries the fixed OU: it is not a realm.
    assert subject("sa-device", (OU, "Porthos SA Device"), (CN, UUID)) == [
        ("O", "dormakaba"),
        ("OU", "Porthos SA Device"),
        ("CN", UUID),
    ]


def test_sa_device_rejections() -> None:
    with pytest.raises(SubjectInvalid, match="2 realm OUs"):
        subject("sa-device", (OU, "a"), (OU, "b"), (CN, UUID))
    with pytest.raises(SubjectInvalid, match="2 serialNumbers"):
        subject("sa-device", (SN, "1"), (SN, "2"), (CN, UUID))
    with pytest.raises(SubjectInvalid, match="PrintableString"):
        subject("sa-device", (SN, "SN_0042"), (CN, UUID))  # '_' is not PrintableString
    with pytest.raises(SubjectInvalid, match="realm OU"):
        subject("sa-device", (OU, "r" * 65), (CN, UUID))
    with pytest.raises(SubjectInvalid, match="not a UUID"):
        subject("sa-device", (CN, "device-1"))


@pytest.mark.parametrize(
    "name",
    ["api.porthos.example", "a.b", "x-1.example.co", "A" * 63 + ".example", "xn--bcher-kva.ch"],
)
def test_fqdn_accepts(name: str) -> None:
    assert is_fqdn(name) is None
    if len(name) <= 64:  # ub-common-name
        assert subject("tls-server", (CN, name))[-1] == ("CN", name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("localhost", "one label"),
        ("*.porthos.example", "wildcard"),
        ("api.porthos.example.", "trailing dot"),
        ("-api.porthos.example", "label"),
        ("api-.porthos.example", "label"),
        ("api..example", "label"),
        ("a" * 64 + ".example", "label"),
        ("api_1.example", "label"),
        ("10.0.0.1", "all-numeric"),
        ("", "no CN"),
    ],
)
def test_fqdn_rejects(name: str, why: str) -> None:
    if len(name) > 64:  # longer than ub-common-name: check the FQDN rule alone
        assert why in (is_fqdn(name) or "")
        return
    attrs = [(CN, name)] if name else [(ORG, "x")]
    with pytest.raises(SubjectInvalid, match=why):
        subject("tls-server", *attrs)


def test_fqdn_length_limits() -> None:
    long_name = ".".join(["a" * 63] * 4)  # 255 characters
    assert "253" in (is_fqdn(long_name) or "")
    # A valid FQDN longer than ub-common-name cannot be a CN (RFC 5280 Appendix A).
    with pytest.raises(SubjectInvalid, match="at most 64"):
        subject("tls-server", (CN, "a" * 60 + ".example"))


def test_tls_client_fqdn_application() -> None:
    cn = "host1.porthos.example:door-agent_2.v1"
    assert subject("tls-client", (CN, cn)) == [
        ("O", "dormakaba"),
        ("OU", "Porthos client"),
        ("CN", cn),
    ]
    for bad, why in [
        ("host1.porthos.example", "FQDN:application"),
        ("host1.porthos.example:", "application"),
        ("host1.porthos.example:a b", "application"),
        ("host1:agent", "host part"),
        ("*.porthos.example:agent", "host part"),
    ]:
        with pytest.raises(SubjectInvalid, match=why):
            subject("tls-client", (CN, bad))


def test_user_name() -> None:
    assert subject("user", (CN, "Jürg Müller"))[-1] == ("CN", "Jürg Müller")
    assert subject("user", (CN, "u" * 64))[-1] == ("CN", "u" * 64)
    for bad, why in [
        ("u" * 65, "at most 64"),
        ("a\x00b", "control"),
        ("   ", "empty"),
        ("a\nb", "control"),
    ]:
        with pytest.raises(SubjectInvalid, match=why):
            subject("user", (CN, bad))


def test_aws_registration_code() -> None:
    code = "a1b2" * 16
    # 000 §7.1.4: the subject is the registration code alone.
    assert subject("aws-verification-ha", (ORG, "x"), (CN, code)) == [("CN", code)]
    assert subject("aws-verification-sa", (CN, "ABC123")) == [("CN", "ABC123")]
    for bad, why in [
        ("abc-123", "registration code"),
        ("a" * 65, "at most 64"),
        ("", "registration code"),
    ]:
        with pytest.raises(SubjectInvalid, match=why):
            subject("aws-verification-ha", (CN, bad))


def test_key_rules_cite_6_1_5() -> None:
    ha = PS.profiles["ha-device"]
    aws = PS.profiles["aws-verification-ha"]
    assert check_key(ha, KeyType.EC_P256, 256) is None
    why = check_key(ha, KeyType.EC_P384, 384)
    assert why is not None and "EC P-384" in why and "EC P-256" in why and "§6.1.5" in why
    why = check_key(ha, KeyType.RSA, 2048)
    assert why is not None and "RSA 2048 bit" in why
    assert check_key(aws, KeyType.RSA, 2048) is None
    why = check_key(aws, KeyType.RSA, 3072)
    assert why is not None and "RSA 3072 bit" in why and "RSA 2048 bit" in why
    why = check_key(aws, KeyType.EC_P256, 256)
    assert why is not None and "§6.1.5" in why and "§7.1.4.1" in why
    assert check_key(ha, KeyType.ED25519, 0) is not None
    assert check_key(ha, KeyType.UNKNOWN, 0) is not None


def test_decide() -> None:
    ha = PS.profiles["ha-device"]
    d = decide(ha, [(CN, UUID)], KeyType.EC_P256, 256)
    assert d.status == IssueStatus.ISSUED and d.reason == "" and d.subject is not None
    d = decide(ha, [(CN, UUID)], KeyType.RSA, 2048)
    assert d.status == IssueStatus.KEY_NOT_ALLOWED and d.subject is None
    d = decide(ha, [(CN, "x")], KeyType.EC_P256, 256)
    assert d.status == IssueStatus.SUBJECT_INVALID and "UUID" in d.reason


@pytest.mark.parametrize("profile", sorted(PS.profiles))
def test_decide_batch_is_decide(profile: str) -> None:
    # Issuance decides whole batches (decide_batch, with a short path for one-CN UUID
    # subjects); every answer must be decide()'s, reasons included, for every profile.
    p = PS.profiles[profile]
    subjects: list[list[tuple[str, str]]] = [
        [(CN, UUID)],
        [(CN, UUID.upper())],
        [(CN, "x")],
        [(CN, UUID), (CN, UUID)],
        [(ORG, "dormakaba"), (CN, UUID)],
        [(CN, UUID), (SN, "12345")],
        [(OU, "realm-1"), (CN, UUID)],
        [(ORG, "dormakaba")],
        [],
        [(CN, "host.example.com")],
        [(CN, "host.example.com:app")],
        [(CN, "ABCdef123")],
        [(CN, "Jane Doe")],
        [(CN, " " + UUID)],
        [(C, "CH"), (CN, "a" * 65)],
    ]
    keys = [
        (KeyType.EC_P256, 256),
        (KeyType.EC_P384, 384),
        (KeyType.RSA, 2048),
        (KeyType.RSA, 3072),
        (KeyType.ED25519, 0),
        (KeyType.UNKNOWN, 0),
    ]
    cases = [(s, k) for s in subjects for k in keys]
    kt = np.array([int(k[0]) for _, k in cases], dtype=np.uint8)
    kb = np.array([k[1] for _, k in cases], dtype=np.uint32)
    statuses, reasons, out, sans = decide_batch(p, [s for s, _ in cases], kt, kb)
    for i, (s, (t, b)) in enumerate(cases):
        d = decide(p, s, int(t), b)
        assert (statuses[i], reasons[i], out[i]) == (int(d.status), d.reason, d.subject), (s, t)
    assert decide_batch(p, [], kt[:0], kb[:0]) == ([], [], [], None)


def _ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        ((2024, 1, 31, 10, 0, 0), 13, (2025, 2, 28, 10, 0, 0)),
        ((2023, 1, 31, 10, 0, 0), 13, (2024, 2, 29, 10, 0, 0)),  # leap year
        ((2024, 1, 31, 0, 0, 0), 1, (2024, 2, 29, 0, 0, 0)),
        ((2024, 3, 31, 23, 59, 59), 13, (2025, 4, 30, 23, 59, 59)),
        ((2024, 12, 15, 12, 0, 0), 13, (2026, 1, 15, 12, 0, 0)),
        ((2024, 11, 30, 0, 0, 0), 1, (2024, 12, 30, 0, 0, 0)),
        ((2024, 2, 29, 0, 0, 0), 120, (2034, 2, 28, 0, 0, 0)),
        ((2049, 12, 31, 0, 0, 0), 1, (2050, 1, 31, 0, 0, 0)),
    ],
)
def test_add_months(start: tuple[int, ...], months: int, end: tuple[int, ...]) -> None:
    assert add_months(_ts(*start), months) == _ts(*end)


def test_validity_per_profile() -> None:
    now = _ts(2024, 1, 31, 12, 0, 0)
    assert validity(PS.profiles["user"], now) == (now, _ts(2025, 2, 28, 12, 0, 0))
    assert validity(PS.profiles["aws-verification-sa"], now) == (now, now + 5 * 86400)
