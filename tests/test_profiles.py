"""The bundled porthos profile set against the 000 §7.1 tables, and load-time
validation: every bad field fails at load with its path (never at issuance)."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from importlib import resources
from typing import Any

import pytest
from error_codes import raises_code
from porthos import load_profile_set
from porthos.cpcps.loader import build_profile_set, parse_profile_set
from porthos.cpcps.profiles import Validity
from porthos.exceptions import ProfileError

SEED = "/work/shared/seeds/000_ce300bfce444b8f6.txt"
CLIENT_AUTH = "1.3.6.1.5.5.7.3.2"
SERVER_AUTH = "1.3.6.1.5.5.7.3.1"

# 000 §2.1
BASES = {
    "prod": ("http://crl.pki.porthos.services", "http://crt.pki.porthos.services"),
    "nonprod": ("http://crl.pki.porthos.io", "http://crt.pki.porthos.io"),
}

# 000 §7.1.1-2: CA name -> (CN prod, CN nonprod, validity, path_len)
CAS = {
    "root-ca-1": ("Porthos Root CA 1", "Non-Prod Porthos Root CA 1", 120, None),
    "ha-device-ca-1": (
        "Porthos High Assurance Device CA 1",
        "Non-Prod Porthos High Assurance Device CA 1",
        84,
        0,
    ),
    "sa-device-ca-1": (
        "Porthos Standard Assurance Device CA 1",
        "Non-Prod Porthos Standard Assurance Device CA 1",
        84,
        0,
    ),
    "infrastructure-ca-1": (
        "Porthos Infrastructure CA 1",
        "Non-Prod Porthos Infrastructure CA 1",
        84,
        0,
    ),
    "user-ca-1": ("Porthos User CA 1", "Non-Prod Porthos User CA 1", 84, 0),
}

# 000 §7.1.3-4: profile -> (section, issuer, rule, fixed subject, key types, validity,
# key usages, EKU or None)
PROFILES: dict[str, tuple[Any, ...]] = {
    "ha-device": (
        "7.1.3.1",
        "ha-device-ca-1",
        "uuid",
        (("O", "dormakaba"), ("OU", "Porthos HA Device")),
        ("ec-p256",),
        Validity(months=13),
        ["digital_signature", "key_agreement"],
        [CLIENT_AUTH],
    ),
    "sa-device": (
        "7.1.3.2",
        "sa-device-ca-1",
        "sa-device",
        (("O", "dormakaba"), ("OU", "Porthos SA Device")),
        ("ec-p256",),
        Validity(months=13),
        ["digital_signature", "key_agreement"],
        [CLIENT_AUTH],
    ),
    "tls-client": (
        "7.1.3.3",
        "infrastructure-ca-1",
        "fqdn-application",
        (("O", "dormakaba"), ("OU", "Porthos client")),
        ("ec-p256",),
        Validity(months=13),
        ["digital_signature", "key_agreement"],
        [CLIENT_AUTH],
    ),
    # Deviation from the 000 §7.1.3.4 table: no key_encipherment for an EC key
    # (RFC 5480 §3); see test_tls_server_key_encipherment_is_refused.
    "tls-server": (
        "7.1.3.4",
        "infrastructure-ca-1",
        "fqdn",
        (("O", "dormakaba"), ("OU", "Porthos service")),
        ("ec-p256",),
        Validity(months=13),
        ["digital_signature", "key_agreement"],
        [SERVER_AUTH],
    ),
    "user": (
        "7.1.3.5",
        "user-ca-1",
        "user-name",
        (("O", "dormakaba"), ("OU", "Porthos user")),
        ("ec-p256",),
        Validity(months=13),
        ["digital_signature", "key_agreement"],
        [CLIENT_AUTH],
    ),
    "aws-verification-ha": (
        "7.1.4.1",
        "ha-device-ca-1",
        "aws-registration-code",
        (),
        ("rsa-2048",),
        Validity(days=5),
        ["digital_signature"],
        None,
    ),
    "aws-verification-sa": (
        "7.1.4.2",
        "sa-device-ca-1",
        "aws-registration-code",
        (),
        ("rsa-2048",),
        Validity(days=5),
        ["digital_signature"],
        None,
    ),
}


def _bundled() -> dict[str, Any]:
    text = resources.files("porthos.cpcps.porthos").joinpath("porthos.toml").read_text("utf-8")
    return tomllib.loads(text)


@pytest.mark.parametrize("env", ["prod", "nonprod"])
def test_cas_match_the_tables(env: str) -> None:
    ps = load_profile_set("porthos", env)
    assert list(ps.cas) == list(CAS)  # root first, then 7.1.2.1-4 in order
    crl, crt = BASES[env]
    for name, (cn_prod, cn_nonprod, months, path_len) in CAS.items():
        ca = ps.cas[name]
        cn = cn_prod if env == "prod" else cn_nonprod
        # DER order: most general first (seeds/README.md: the tables print CN first).
        assert ca.subject == (("C", "CH"), ("O", "dormakaba"), ("CN", cn))
        assert ca.key_type == "ec-p256"
        assert ca.signature_algorithm == "ecdsa-sha256"
        assert ca.validity == Validity(months=months)
        spec = json.loads(ca.template_spec_json())["extensions"]
        types = [e["type"] for e in spec]
        ku = next(e for e in spec if e["type"] == "key_usage")
        bc = next(e for e in spec if e["type"] == "basic_constraints")
        # 000 §7.1.1.1 "certSign, criSign": criSign read as cRLSign.
        assert ku == {
            "type": "key_usage",
            "critical": True,
            "usages": ["key_cert_sign", "crl_sign"],
        }
        assert bc == {
            "type": "basic_constraints",
            "critical": True,
            "ca": True,
            "path_len": path_len,
        }
        if name == "root-ca-1":
            assert ca.self_signed
            assert types == [
                "authority_key_identifier",
                "subject_key_identifier",
                "key_usage",
                "basic_constraints",
            ]
        else:
            assert ca.issuer == "root-ca-1"
            assert types == [
                "authority_key_identifier",
                "subject_key_identifier",
                "crl_distribution_points",
                "authority_info_access",
                "key_usage",
                "basic_constraints",
            ]
            assert spec[2]["uris"] == [f"{crl}/root-ca-1.crl"]
            assert spec[3]["ca_issuers"] == [f"{crt}/root-ca-1.crt"]
            assert spec[3]["ocsp"] == []


def test_nonprod_root_reading() -> None:
    """000 §7.1.1.1 slip: the Non-Prod root is "Non-Prod Porthos Root CA 1" (its issuer
    column and the issuing CAs' issuer field), not the subject column's text."""
    ps = load_profile_set("porthos", "nonprod")
    assert ("CN", "Non-Prod Porthos Root CA 1") in ps.cas["root-ca-1"].subject
    with open(SEED, encoding="utf-8") as f:
        seed = f.read()
    assert "Issuer\tCN=Porthos Root CA 1 O=dormakaba C=CH\tCN=Non-Prod Porthos Root CA 1" in seed


@pytest.mark.parametrize("env", ["prod", "nonprod"])
@pytest.mark.parametrize("name", list(PROFILES))
def test_profiles_match_the_tables(env: str, name: str) -> None:
    section, issuer, rule, prefix, key_types, validity, usages, eku = PROFILES[name]
    ps = load_profile_set("porthos", env)
    prof = ps.profiles[name]
    assert prof.section == section
    assert prof.issuer == issuer
    assert prof.subject_rule == rule
    assert prof.subject_prefix == prefix
    assert prof.key_types == key_types
    assert prof.validity == validity
    crl, crt = BASES[env]
    spec = json.loads(prof.template_spec_json())["extensions"]
    expected = [
        {"type": "authority_key_identifier"},
        {"type": "subject_key_identifier"},
        {"type": "crl_distribution_points", "uris": [f"{crl}/{issuer}.crl"]},
        {"type": "authority_info_access", "ca_issuers": [f"{crt}/{issuer}.crt"], "ocsp": []},
        {"type": "key_usage", "critical": True, "usages": usages},
    ]
    if eku is not None:
        expected.append({"type": "extended_key_usage", "critical": False, "purposes": eku})
    expected.append({"type": "basic_constraints", "critical": True, "ca": False, "path_len": None})
    assert spec == expected


def test_profile_names_and_order() -> None:
    ps = load_profile_set()
    assert ps.env == "prod"
    assert list(ps.profiles) == list(PROFILES)
    assert [p.name for p in ps.profiles_of("infrastructure-ca-1")] == ["tls-client", "tls-server"]
    assert ps.profiles_of("root-ca-1") == []


def test_table_values_are_in_the_seed() -> None:
    """The expectations above are the seed's text, not a copy of the TOML: spot-check
    the lines they come from."""
    with open(SEED, encoding="utf-8") as f:
        seed = f.read()
    assert "Key usage\tcritical, digitalSignature, keyAgreement, keyEncipherment" in seed
    assert "OU= Porthos client O=dormakaba" in seed
    assert "<now + 5 days>" in seed and "<now + 13 months>" in seed
    assert re.search(
        r"CRLs\thttp://crl\.pki\.porthos\.services\thttp://crl\.pki\.porthos\.io", seed
    )


def test_tls_server_key_encipherment_is_refused() -> None:
    """000 §7.1.3.4 lists keyEncipherment for a P-256 key; RFC 5480 §3 forbids it. The
    table's literal reading must fail at load, at the exact usage."""
    doc = _bundled()
    exts = doc["profiles"]["tls-server"]["extensions"]
    assert exts[4]["usages"] == ["digital_signature", "key_agreement"]
    exts[4]["usages"].append("key_encipherment")
    # A load error must start with the field path of the bad value.
    with raises_code(
        ProfileError, "profile", match=r"^profiles\.tls-server\.extensions\[4\]\.usages\[2\]: "
    ):
        build_profile_set(doc, "prod")


def _set(doc: dict[str, Any], path: list[Any], value: Any) -> None:
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


_DELETE = object()

BAD: list[tuple[list[Any], Any, str]] = [
    (
        ["profiles", "tls-server", "extensions", 4, "usages", 1],
        "crl_sgn",
        r"profiles\.tls-server\.extensions\[4\]\.usages\[1\]: unknown key usage 'crl_sgn'",
    ),
    (["profiles", "user", "colour"], "blue", r"profiles\.user\.colour: unknown key"),
    (
        ["profiles", "user", "extensions", 5, "type"],
        "extended_usage",
        r"profiles\.user\.extensions\[5\]\.type: unknown extension type",
    ),
    (
        ["profiles", "user", "extensions", 5, "purposes", 0],
        "1.3.6.1.5.5.7.3.x",
        r"profiles\.user\.extensions\[5\]\.purposes\[0\]: not a dotted OID",
    ),
    (
        ["profiles", "user", "extensions", 5, "purposes", 0],
        "3.1.2",
        r"profiles\.user\.extensions\[5\]\.purposes\[0\]: not a dotted OID",
    ),
    (
        ["profiles", "user", "extensions", 2, "uris", 0],
        "crl.pki/user-ca-1.crl",
        r"profiles\.user\.extensions\[2\]\.uris\[0\]: not an absolute",
    ),
    (
        ["profiles", "user", "extensions", 2, "uris", 0],
        "{crl}/ha-device-ca-1.crl",
        r"profiles\.user\.extensions\[2\]\.uris\[0\]: URL names 'ha-device-ca-1'",
    ),
    (
        ["profiles", "user", "extensions", 3, "ca_issuers", 0],
        "{cdp}/user-ca-1.crt",
        r"profiles\.user\.extensions\[3\]\.ca_issuers\[0\]: bad placeholder",
    ),
    (
        ["profiles", "user", "issuer"],
        "user-ca-2",
        r"profiles\.user\.issuer: unknown CA 'user-ca-2'",
    ),
    (["profiles", "user", "subject_rule"], "email", r"profiles\.user\.subject_rule: unknown rule"),
    (
        ["profiles", "user", "key_types", 0],
        "ec-p521",
        r"profiles\.user\.key_types\[0\]: unknown key type",
    ),
    (
        ["profiles", "user", "validity"],
        {"weeks": 2},
        r"profiles\.user\.validity: expected exactly one",
    ),
    (
        ["profiles", "user", "validity"],
        {"months": 0},
        r"profiles\.user\.validity\.months: expected a positive",
    ),
    (
        ["profiles", "user", "validity"],
        {"years": 8},
        r"profiles\.user\.validity: longer than its CA",
    ),
    (
        ["profiles", "user", "subject_prefix", 1, 1],
        " Porthos user",
        r"profiles\.user\.subject_prefix\[1\]\[1\]: leading or trailing space",
    ),
    (
        ["profiles", "user", "subject_prefix", 1, 0],
        "OrgUnit",
        r"profiles\.user\.subject_prefix\[1\]\[0\]: unknown attribute",
    ),
    (
        ["profiles", "user", "extensions", 0, "critical"],
        True,
        r"profiles\.user\.extensions\[0\]\.critical: authority_key_identifier must not be",
    ),
    (
        ["profiles", "user", "extensions", 6, "ca"],
        True,
        r"profiles\.user\.extensions: a subscriber profile must have ca = false",
    ),
    (
        ["profiles", "user", "extensions", 6, "path_len"],
        0,
        r"profiles\.user\.extensions\[6\]\.path_len: only a CA",
    ),
    (
        ["profiles", "user", "extensions", 4, "usages"],
        ["digital_signature", "digital_signature"],
        r"profiles\.user\.extensions\[4\]\.usages\[1\]: duplicate key usage",
    ),
    (
        ["profiles", "user", "extensions", 4, "usages"],
        ["digital_signature", "crl_sign"],
        r"profiles\.user\.extensions\[4\]\.usages: a subscriber may not sign",
    ),
    (
        ["profiles", "user", "extensions", 1],
        {"type": "authority_key_identifier"},
        r"profiles\.user\.extensions\[1\]: authority_key_identifier already listed at "
        r"profiles\.user\.extensions\[0\]",
    ),
    (
        ["profiles", "user", "extensions", 4, "critical"],
        "yes",
        r"profiles\.user\.extensions\[4\]\.critical: expected true or false",
    ),
    (["profiles", "user", "section"], _DELETE, r"profiles\.user\.section: missing"),
    (
        ["cas", "root-ca-1", "extensions", 2, "usages", 1],
        "criSign",
        r"cas\.root-ca-1\.extensions\[2\]\.usages\[1\]: unknown key usage 'criSign'",
    ),
    (
        ["cas", "root-ca-1", "subject", "nonprod"],
        _DELETE,
        r"cas\.root-ca-1\.subject\.nonprod: missing",
    ),
    (
        ["cas", "root-ca-1", "subject", "staging"],
        [["CN", "x"]],
        r"cas\.root-ca-1\.subject\.staging: unknown environment",
    ),
    (
        ["cas", "user-ca-1", "issuer"],
        "user-ca-1",
        r"cas\.user-ca-1\.issuer: the self-signed root must be listed before every subordinate CA",
    ),
    (["cas", "user-ca-1", "issuer"], "nobody", r"cas\.user-ca-1\.issuer: unknown CA 'nobody'"),
    (["cas", "user-ca-1", "key_type"], "ec-p255", r"cas\.user-ca-1\.key_type: unknown key type"),
    (
        ["cas", "user-ca-1", "signature_algorithm"],
        "ecdsa-sha1",
        r"cas\.user-ca-1\.signature_algorithm: unknown",
    ),
    (
        ["cas", "user-ca-1", "subject", "prod", 2, 1],
        "Porthos Infrastructure CA 1",
        r"cas\.user-ca-1\.subject\.prod: same subject as another CA",
    ),
    (
        ["cas", "root-ca-1", "extensions", 3, "ca"],
        False,
        r"cas\.root-ca-1\.extensions: a CA needs basic_constraints",
    ),
    (
        ["cas", "user-ca-1", "extensions", 5, "path_len"],
        -1,
        r"cas\.user-ca-1\.extensions\[5\]\.path_len: expected an integer >= 0",
    ),
    (["envs", "prod", "crl"], "ftp://crl.example", r"envs\.prod\.crl: not an absolute"),
    (["envs", "prod", "cdp"], "http://x", r"envs\.prod\.cdp: unknown key"),
    (["schema"], 2, r"schema: unsupported schema 2"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[m[:40] for _, _, m in BAD])
def test_invalid_profiles_fail_at_load_with_their_path(
    path: list[Any], value: Any, message: str
) -> None:
    doc = _bundled()
    build_profile_set(copy.deepcopy(doc), "prod")  # the unmodified document is valid
    _set(doc, path, value)
    # A load error must start with the field path of the bad value.
    with raises_code(ProfileError, "profile", match="^" + message):
        build_profile_set(doc, "prod")


def test_ca_order_root_first() -> None:
    doc = _bundled()
    cas = doc["cas"]
    doc["cas"] = {
        "user-ca-1": cas["user-ca-1"],
        **{k: v for k, v in cas.items() if k != "user-ca-1"},
    }
    # A load error must start with the field path of the bad value.
    with raises_code(
        ProfileError, "profile", match=r"^cas\.user-ca-1\.issuer: unknown CA 'root-ca-1'"
    ):
        build_profile_set(doc, "prod")


def test_unknown_env_and_bad_toml() -> None:
    # A load error must start with the field path of the bad value.
    with raises_code(ProfileError, "profile", match=r"^envs: no environment 'staging'"):
        load_profile_set("porthos", "staging")
    with raises_code(ProfileError, "profile"):
        parse_profile_set("schema = 1\nname = ", "prod")
    with raises_code(ProfileError, "profile"):
        load_profile_set("carillon-x", "prod")


def test_raw_extension_validation() -> None:
    doc = _bundled()
    exts = doc["profiles"]["user"]["extensions"]
    exts.append({"type": "raw", "oid": "1.3.6.1.4.1.99999.1", "value_hex": "0500"})
    ps = build_profile_set(copy.deepcopy(doc), "prod")
    assert ps.profiles["user"].extension("raw") == {
        "type": "raw",
        "oid": "1.3.6.1.4.1.99999.1",
        "value_hex": "0500",
    }
    exts[-1] = {"type": "raw", "oid": "2.5.29.15", "value_hex": "0500"}
    # A load error must start with the field path of the bad value.
    with raises_code(
        ProfileError,
        "profile",
        match=r"^profiles\.user\.extensions\[7\]\.oid: 2\.5\.29\.15 has a typed",
    ):
        build_profile_set(copy.deepcopy(doc), "prod")
    exts[-1] = {"type": "raw", "oid": "1.3.6.1.4.1.99999.1", "value_hex": "zz"}
    with raises_code(
        ProfileError, "profile", match=r"^profiles\.user\.extensions\[7\]\.value_hex: not hex"
    ):
        build_profile_set(doc, "prod")


def test_validity_arithmetic() -> None:
    # 2024-01-31T12:00:00Z + 13 months = 2025-02-28T12:00:00Z (day clamped)
    assert Validity(months=13).not_after(1706702400) == 1740744000
    assert Validity(days=5).not_after(1706702400) == 1706702400 + 5 * 86400
    assert str(Validity(months=120)) == "10 years"
    assert str(Validity(months=13)) == "13 months"


def test_every_spec_compiles_in_the_native_template() -> None:
    """The loader's output is accepted by the Rust Template (docs/template-spec.md)."""
    from porthos import _native

    issuer = _native.encode_name([("C", "CH"), ("O", "dormakaba"), ("CN", "Test CA")])
    for env in ("prod", "nonprod"):
        ps = load_profile_set("porthos", env)
        specs = [c.template_spec_json() for c in ps.cas.values()]
        specs += [p.template_spec_json() for p in ps.profiles.values()]
        for spec in specs:
            _native.Template(spec, issuer, b"\x01" * 20, "ecdsa-sha256")
