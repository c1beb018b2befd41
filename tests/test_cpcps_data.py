"""What a CP/CPS decides beyond its certificate profiles, as data (issue 15): the
identity check per profile, re-key types and windows, revocation reasons and
suspension, CRL period and validity per CA, termination, generation naming.

The Porthos values are checked against the text of 000
(/work/shared/seeds/000_ce300bfce444b8f6.txt), not against a copy of the TOML; every
new field fails at load with its path; and tests/cpcps/two-tier.toml, a second CP/CPS,
loads with the same loader and has the values its file says.
"""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from error_codes import raises_code
from porthos.cpcps.loader import build_profile_set, load_profile_set
from porthos.cpcps.profiles import (
    Duration,
    GenerationNaming,
    IdentityCheck,
    Validity,
    generation_value,
)
from porthos.crl_reasons import REASONS
from porthos.exceptions import ProfileError

SEED = "/work/shared/seeds/000_ce300bfce444b8f6.txt"
TWO_TIER = Path(__file__).parent / "cpcps" / "two-tier.toml"
DAY = 86400
ISSUING = ("ha-device-ca-1", "sa-device-ca-1", "infrastructure-ca-1", "user-ca-1")


def _bundled() -> dict[str, Any]:
    text = resources.files("porthos.cpcps.porthos").joinpath("porthos.toml").read_text("utf-8")
    return tomllib.loads(text)


def _seed() -> str:
    with open(SEED, encoding="utf-8") as f:
        return f.read()


# --------------------------------------------------------------------------------------
# The Porthos values (000)
# --------------------------------------------------------------------------------------


def test_identity() -> None:
    ps = load_profile_set("porthos", "prod")
    assert ps.name == "porthos"
    assert ps.document.startswith("LEGIC Porthos PKI CP/CPS v1.1")
    assert ps.source == "porthos.toml"
    assert ps.identity == f"porthos ({ps.document})"


def test_crl_schedule_per_ca() -> None:
    """000 §4.9.7: root CRL valid 2 years, updated about once a year; issuing CAs'
    CRLs valid 28 days, updated every 14 days (§7.2.1, §7.2.2 nextUpdate)."""
    seed = _seed()
    assert "The CRL of the offline root CA has a validity of 2 years and is updated about" in seed
    assert "have a validity of 28 days and are updated every 14 days" in seed
    assert "Next Update\t<time of issuance + 2 years>" in seed
    assert "Next Update\t<time of issuance + 28 days>" in seed
    for env in ("prod", "nonprod"):
        ps = load_profile_set("porthos", env)
        root = ps.cas["root-ca-1"].crl
        # 365 days; 731 days = two calendar years including one leap day.
        assert root.period == Validity(days=365)
        assert root.validity == Validity(days=731)
        assert root.file_name == "root-ca-1.crl"
        for name in ISSUING:
            crl = ps.cas[name].crl
            assert crl.period == Validity(days=14)
            assert crl.validity == Validity(days=28)
            assert crl.validity.not_after(1000) == 1000 + 28 * DAY
            assert crl.file_name == f"{name}.crl"


def test_identity_check_per_profile() -> None:
    """000 §3.2.3: one procedure per identity type, run by the RA of the issuing CA."""
    ps = load_profile_set()
    expected = {
        "ha-device": ("dmc", "3.2.3.1"),
        "aws-verification-ha": ("dmc", "3.2.3.1"),
        "sa-device": ("transaction-id", "3.2.3.2"),
        "aws-verification-sa": ("transaction-id", "3.2.3.2"),
        "tls-client": ("aor", "3.2.3.3"),
        "tls-server": ("aor", "3.2.3.3"),
        "user": ("trusted-agent", "3.2.3.4"),
    }
    assert {n: p.identity_check for n, p in ps.profiles.items()} == {
        n: IdentityCheck(*v) for n, v in expected.items()
    }
    assert ps.profiles_checked_by("dmc") == ("ha-device", "aws-verification-ha")
    assert ps.profiles_checked_by("aor") == ("tls-client", "tls-server")
    assert ps.profiles_checked_by("nothing") == ()


def test_rekey() -> None:
    """000 §4.7.3 table: type A only at the device CAs; the window as read in
    seeds/README.md (6 months before expiry to 5 years after); §4.9.1/§4.9.4 early
    re-key: superseded after a grace period (porthos: 14 days)."""
    assert "Porthos High Assurance Device CA\t-\tA, B" in _seed()
    ps = load_profile_set()
    assert {n for n, p in ps.profiles.items() if "A" in p.rekey} == {"ha-device", "sa-device"}
    assert all("B" in p.rekey for p in ps.profiles.values())
    rk = ps.rekey
    assert rk is not None
    assert rk.renewal_window == Validity(months=6)
    assert rk.grace_period == Validity(months=60)
    # 2025-03-31T00:00:00Z: opens 2024-09-30 (day clamped), closes 2030-03-31.
    assert rk.window(1743379200) == (1727654400, 1901145600)
    assert rk.early is not None
    assert rk.early.revocation_reason == REASONS["superseded"]
    assert rk.early.revocation_grace == Duration(14 * DAY)


def test_revocation_reasons() -> None:
    """000 §4.9.1 circumstances; no suspension (§4.9 stops at §4.9.9)."""
    seed = _seed()
    assert "4.9.9 Online revocation/status checking availability" in seed
    assert "4.9.13" not in seed
    rev = load_profile_set().revocation
    assert rev.suspension is None
    assert list(rev.subscriber_reasons) == [
        REASONS[n]
        for n in (
            "unspecified",
            "keyCompromise",
            "affiliationChanged",
            "superseded",
            "cessationOfOperation",
            "privilegeWithdrawn",
        )
    ]
    assert list(rev.ca_reasons) == [REASONS["cACompromise"], REASONS["cessationOfOperation"]]
    assert set(rev.refused) == {
        REASONS[n] for n in ("certificateHold", "removeFromCRL", "aACompromise")
    }
    assert "§4.9" in rev.refused[REASONS["certificateHold"]]
    for text in (*rev.subscriber_reasons.values(), *rev.ca_reasons.values()):
        assert "§" in text  # each reason names the circumstance it stands for


def test_termination_ra_generations() -> None:
    ps = load_profile_set()
    assert ps.termination.revocation_reason == REASONS["cessationOfOperation"]
    assert ps.termination.final_crl_margin == Duration(DAY)
    assert ps.ra.transaction_ttl == Duration(24 * 3600)
    g = ps.generations
    assert (g.name, g.common_name, g.link_profile) == (
        "{base}-{generation}",
        "{base} {generation}",
        "root-link",
    )
    assert g.ca_name("root-ca-1", 2) == "root-ca-2"
    assert g.ca_name("infrastructure-ca-1", 1) == "infrastructure-ca-1"
    assert g.ca_common_name("Non-Prod Porthos Root CA 1", 3) == "Non-Prod Porthos Root CA 3"


def test_sa_device_ignores_the_copied_prefix() -> None:
    """000 §7.1.3.2: a CSR OU equal to the fixed "Porthos SA Device" is not a realm."""
    ps = load_profile_set()
    assert ps.profiles["sa-device"].ignore_prefix_in_csr is True
    assert not any(p.ignore_prefix_in_csr for n, p in ps.profiles.items() if n != "sa-device")


# --------------------------------------------------------------------------------------
# The generic mechanism
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "generation", "expected"),
    [
        ("{base}-{generation}", "root-ca-1", 2, "root-ca-2"),
        ("{base}-{generation}", "root-ca-12", 13, "root-ca-13"),
        ("{base}-{generation}", "root-ca-1", 1, "root-ca-1"),
        ("{base}-{generation}", "root", 1, "root"),
        ("{base}-{generation}", "root", 2, "root-2"),
        ("{base} {generation}", "Porthos Root CA 1", 2, "Porthos Root CA 2"),
        ("{base}-g{generation}", "tt-root-g1", 2, "tt-root-g2"),
        ("{base}-g{generation}", "tt-root-1", 2, "tt-root-1-g2"),
        ("g{generation}-{base}", "g1-root", 4, "g4-root"),
        ("{base} (.{generation})", "CA (.1)", 2, "CA (.2)"),  # literal parts are escaped
    ],
)
def test_generation_value(pattern: str, value: str, generation: int, expected: str) -> None:
    assert generation_value(pattern, value, generation) == expected


def test_generation_value_refuses_generation_0() -> None:
    # The message must name the field path (validation at load, with paths).
    with raises_code(ProfileError, "profile", match="count from 1"):
        generation_value("{base}-{generation}", "root-ca-1", 0)


# --------------------------------------------------------------------------------------
# Validation: each bad field fails at load, naming its path
# --------------------------------------------------------------------------------------

_DELETE = object()


def _set(doc: dict[str, Any], path: list[Any], value: Any) -> None:
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value


BAD: list[tuple[list[Any], Any, str]] = [
    (["document"], _DELETE, r"document: missing"),
    (["name"], "Porthos PKI", r"name: a CP/CPS name is lower-case"),
    # per-CA CRL schedule
    (["cas", "user-ca-1", "crl"], _DELETE, r"cas\.user-ca-1\.crl: missing"),
    (["cas", "user-ca-1", "crl", "period"], _DELETE, r"cas\.user-ca-1\.crl\.period: missing"),
    (
        ["cas", "user-ca-1", "crl", "period"],
        {"weeks": 2},
        r"cas\.user-ca-1\.crl\.period: expected exactly one of years, months, days",
    ),
    (
        ["cas", "user-ca-1", "crl", "validity"],
        {"days": -28},
        r"cas\.user-ca-1\.crl\.validity\.days: expected a positive integer",
    ),
    (
        ["cas", "user-ca-1", "crl", "period"],
        {"days": 28},
        r"cas\.user-ca-1\.crl\.period: 28 days is not shorter than validity \(28 days\)",
    ),
    (["cas", "root-ca-1", "crl", "next"], 1, r"cas\.root-ca-1\.crl\.next: unknown key"),
    (
        ["cas", "root-ca-1", "crl", "section"],
        7,
        r"cas\.root-ca-1\.crl\.section: expected a string",
    ),
    # per-profile identity check and re-key
    (
        ["profiles", "user", "identity_check"],
        _DELETE,
        r"profiles\.user\.identity_check: missing",
    ),
    (
        ["profiles", "user", "identity_check", "procedure"],
        "ha-device",
        r"profiles\.user\.identity_check\.procedure: unknown RA procedure 'ha-device'",
    ),
    (
        ["profiles", "user", "identity_check", "section"],
        "",
        r"profiles\.user\.identity_check\.section: empty string",
    ),
    (
        ["profiles", "user", "identity_check"],
        "trusted-agent",
        r"profiles\.user\.identity_check: expected a table",
    ),
    (["profiles", "user", "rekey"], ["C"], r"profiles\.user\.rekey\[0\]: unknown re-key type"),
    (["profiles", "user", "rekey"], ["B", "B"], r"profiles\.user\.rekey\[1\]: duplicate"),
    (["profiles", "user", "rekey"], [], r"profiles\.user\.rekey: at least one re-key type"),
    (["profiles", "user", "rekey"], "A", r"profiles\.user\.rekey: expected an array"),
    (
        ["profiles", "sa-device", "ignore_prefix_in_csr"],
        "yes",
        r"profiles\.sa-device\.ignore_prefix_in_csr: expected true or false",
    ),
    # revocation
    (["revocation"], _DELETE, r"revocation: missing"),
    (["revocation", "suspension"], _DELETE, r"revocation\.suspension: missing"),
    (
        ["revocation", "suspension"],
        True,
        r"revocation\.suspension: suspension = true says nothing of its limit",
    ),
    (
        ["revocation", "suspension"],
        {
            "section": "4.9.13",
            "limit": {"months": 9},
            "escalate_to": "keyCompromise",
            "profiles": ["nope"],
        },
        r"revocation\.suspension\.profiles\[0\]: unknown profile 'nope'",
    ),
    (
        ["revocation", "suspension"],
        {
            "section": "4.9.13",
            "limit": {"months": 9},
            "escalate_to": "aACompromise",
            "profiles": ["user"],
        },
        r"revocation\.suspension\.escalate_to: aACompromise is not in "
        r"revocation\.subscriber_reasons",
    ),
    (
        ["revocation", "suspension"],
        {
            "section": "4.9.13",
            "limit": {"months": 9},
            "escalate_to": "certificateHold",
            "profiles": ["user"],
        },
        r"revocation\.suspension\.escalate_to: a hold escalates to a stated revocation reason",
    ),
    (
        ["revocation", "suspension"],
        {
            "section": "4.9.13",
            "limit": {"months": 9},
            "escalate_to": "keyCompromise",
            "profiles": ["user"],
            "hold_instruction": "maybe",
        },
        r"revocation\.suspension\.hold_instruction: one of reject, callissuer, none, absent",
    ),
    (
        ["revocation", "suspension"],
        {
            "section": "4.9.13",
            "limit": {"weeks": 9},
            "escalate_to": "keyCompromise",
            "profiles": ["user"],
        },
        r"revocation\.suspension\.limit: expected exactly one of years, months, days",
    ),
    # approval rules (RFC 3647 §5.2.2), validated at load
    (
        ["profiles", "user", "approval"],
        {"persons": 1, "roles": ["ra"], "section": "5.2.2"},
        r"profiles\.user\.approval\.persons: an approval rule names 2\.\.10 persons, got 1",
    ),
    (
        ["profiles", "user", "approval"],
        {"persons": 2, "roles": ["ra", "ra", "ra"], "section": "5.2.2"},
        r"profiles\.user\.approval\.roles: 3 roles for 2 persons",
    ),
    (
        ["profiles", "user", "approval"],
        {"persons": 2, "roles": ["RA"], "section": "5.2.2"},
        r"profiles\.user\.approval\.roles\[0\]: role names are lower-case",
    ),
    (
        ["profiles", "user", "approval"],
        {"persons": 2, "roles": ["ra"], "exclude": ["ra"], "section": "5.2.2"},
        r"profiles\.user\.approval\.exclude\[0\]: 'ra' is also a required role",
    ),
    (
        ["profiles", "user", "approval"],
        {"persons": 2, "roles": ["ra"]},
        r"profiles\.user\.approval\.section: missing",
    ),
    (
        ["revocation", "subscriber_reasons", "keyCompromized"],
        "typo",
        r"revocation\.subscriber_reasons\.keyCompromized: unknown CRL reason",
    ),
    (
        ["revocation", "subscriber_reasons", "keyCompromise"],
        1,
        r"revocation\.subscriber_reasons\.keyCompromise: expected a string",
    ),
    (
        ["revocation", "subscriber_reasons", "certificateHold"],
        "hold",
        r"revocation\.subscriber_reasons\.certificateHold: suspension is not offered",
    ),
    (["revocation", "ca_reasons"], {}, r"revocation\.ca_reasons: at least one reason"),
    (
        ["revocation", "refused", "keyCompromise"],
        "no",
        r"revocation\.refused\.keyCompromise: also allowed in revocation\.subscriber_reasons",
    ),
    (["revocation", "hold"], False, r"revocation\.hold: unknown key"),
    # termination
    (["termination"], _DELETE, r"termination: missing"),
    (
        ["termination", "revocation_reason"],
        "keyCompromise",
        r"termination\.revocation_reason: keyCompromise is not in revocation\.ca_reasons",
    ),
    (
        ["termination", "revocation_reason"],
        "cACompromise",
        r"termination\.revocation_reason: cACompromise is not in revocation\.subscriber_reasons",
    ),
    (
        ["termination", "final_crl_margin"],
        {"days": 0},
        r"termination\.final_crl_margin\.days: expected a positive integer",
    ),
    (
        ["termination", "final_crl_margin"],
        {"weeks": 1},
        r"termination\.final_crl_margin: expected exactly one of days, hours, minutes, seconds",
    ),
    # re-key windows
    (["rekey"], _DELETE, r"rekey: missing; profiles\.ha-device\.rekey offers type A"),
    (["rekey", "renewal_window"], _DELETE, r"rekey\.renewal_window: missing"),
    (
        ["rekey", "grace_period"],
        {"years": 0},
        r"rekey\.grace_period\.years: expected a positive integer",
    ),
    (
        ["rekey", "early", "revocation_reason"],
        "cACompromise",
        r"rekey\.early\.revocation_reason: cACompromise is not in revocation\.subscriber_reasons",
    ),
    (
        ["rekey", "early", "revocation_reason"],
        "supersede",
        r"rekey\.early\.revocation_reason: unknown CRL reason 'supersede'",
    ),
    (
        ["rekey", "early", "revocation_grace"],
        {"days": -1},
        r"rekey\.early\.revocation_grace\.days: expected an integer >= 0",
    ),
    # RA
    (["ra", "transaction_ttl"], {"hours": 0}, r"ra\.transaction_ttl\.hours: expected a positive"),
    (["ra", "ttl"], {"hours": 1}, r"ra\.ttl: unknown key"),
    # generations
    (
        ["generations", "name"],
        "{base}",
        r"generations\.name: expected exactly one \{base\} and one \{generation\}",
    ),
    (
        ["generations", "name"],
        "{base}-{generation}-{base}",
        r"generations\.name: expected exactly one",
    ),
    (["generations", "name"], "{base}-{gen}", r"generations\.name: expected exactly one"),
    (["generations", "name"], "{base}-{generation:02}", r"generations\.name: no format specs"),
    (["generations", "name"], "{base}_{generation}", r"generations\.name: CA names are lower"),
    (["generations", "name"], "{base}-{generation", r"generations\.name: bad pattern"),
    (
        ["generations", "common_name"],
        "{base} Gen",
        r"generations\.common_name: expected exactly one",
    ),
    (
        ["generations", "link_profile"],
        "user",
        r"generations\.link_profile: 'user' is a certificate profile",
    ),
    (["generations", "link_profile"], "Root Link", r"generations\.link_profile: profile names"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[m[:50] for _, _, m in BAD])
def test_invalid_lifecycle_data_fails_at_load_with_its_path(
    path: list[Any], value: Any, message: str
) -> None:
    doc = _bundled()
    build_profile_set(copy.deepcopy(doc), "prod")  # the unmodified document is valid
    _set(doc, path, value)
    # The message must name the field path (validation at load, with paths).
    with raises_code(ProfileError, "profile", match="^" + message):
        build_profile_set(doc, "prod")


def test_clashing_generation_names() -> None:
    """A generation-2 name that is already a generation-1 CA fails at load, not at the
    rollover that would need it."""
    doc = _bundled()
    doc["cas"]["user-ca-2"] = copy.deepcopy(doc["cas"]["user-ca-1"])
    doc["cas"]["user-ca-2"]["subject"]["prod"][2][1] = "Other CA"
    doc["cas"]["user-ca-2"]["subject"]["nonprod"][2][1] = "Non-Prod Other CA"
    with pytest.raises(
        ProfileError, match=r"^generations\.name: CA user-ca-1 would become 'user-ca-2'"
    ):
        build_profile_set(doc, "prod")


def test_defaults_of_the_optional_fields() -> None:
    """Without [ra], [generations], a profile's rekey or ignore_prefix_in_csr, and
    without [rekey] when no profile offers type A: the documented defaults."""
    doc = _bundled()
    for key in ("ra", "generations", "rekey"):
        del doc[key]
    for prof in doc["profiles"].values():
        prof.pop("rekey", None)
        prof.pop("ignore_prefix_in_csr", None)
    ps = build_profile_set(doc, "prod")
    assert ps.ra.transaction_ttl == Duration(24 * 3600)
    assert ps.generations == GenerationNaming()
    assert ps.generations.ca_name("root-ca-1", 2) == "root-ca-2"
    assert ps.rekey is None
    assert all(p.rekey == ("B",) for p in ps.profiles.values())
    assert not any(p.ignore_prefix_in_csr for p in ps.profiles.values())


def test_without_early_rekey_and_refused() -> None:
    doc = _bundled()
    del doc["rekey"]["early"]
    del doc["revocation"]["refused"]
    ps = build_profile_set(doc, "prod")
    assert ps.rekey is not None and ps.rekey.early is None
    # Without suspension, its two reasons are refused with the loader's text.
    assert set(ps.revocation.refused) == {REASONS["certificateHold"], REASONS["removeFromCRL"]}
    assert "suspension" in ps.revocation.refused[REASONS["certificateHold"]]


def test_derived_generation_keeps_the_data() -> None:
    """A rollover derives generation 2 from the generation-1 document (changeover.py):
    the new tables travel with it and the derived set validates."""
    from porthos.workspace.generations import generation_profile_set

    ps = generation_profile_set("porthos", "prod", 2)
    assert list(ps.cas) == ["root-ca-2", *(n.replace("-1", "-2") for n in ISSUING)]
    assert ps.cas["root-ca-2"].crl.validity == Validity(days=731)
    assert ps.cas["user-ca-2"].crl.file_name == "user-ca-2.crl"
    assert ps.profiles["ha-device"].rekey == ("A", "B")
    assert ps.generations.ca_name("root-ca-2", 3) == "root-ca-3"


# --------------------------------------------------------------------------------------
# A second CP/CPS from a path
# --------------------------------------------------------------------------------------


def test_two_tier_loads_from_a_path() -> None:
    for given in (TWO_TIER, str(TWO_TIER)):
        ps = load_profile_set(given, "prod")
        assert ps.name == "two-tier"
        assert ps.source == str(TWO_TIER)
    # The message must name the field path (validation at load, with paths).
    with raises_code(ProfileError, "profile", match=r"^envs: no environment 'nonprod'"):
        load_profile_set(TWO_TIER, "nonprod")
    # The message must name the field path (validation at load, with paths).
    with raises_code(ProfileError, "profile", match="cannot read profile set"):
        load_profile_set(TWO_TIER.with_name("missing.toml"))


def test_two_tier_fields_are_what_the_file_says() -> None:
    ps = load_profile_set(TWO_TIER, "prod")
    assert ps.document.startswith("Two-tier test CP/CPS")
    assert ps.envs == ("prod",)
    assert ps.urls == {"crl": "http://crl.two-tier.example", "crt": "http://crt.two-tier.example"}

    assert list(ps.cas) == ["tt-root-g1", "tt-issuing-g1"]
    root, issuing = ps.cas["tt-root-g1"], ps.cas["tt-issuing-g1"]
    assert root.self_signed and issuing.issuer == "tt-root-g1"
    assert (root.key_type, root.signature_algorithm) == ("ec-p384", "ecdsa-sha384")
    assert (issuing.key_type, issuing.signature_algorithm) == ("rsa-3072", "rsa-pkcs1-sha256")
    assert root.subject == (("C", "CH"), ("O", "Two-Tier Test"), ("CN", "Two-Tier Root G1"))
    assert (root.validity, issuing.validity) == (Validity(months=96), Validity(months=48))
    assert (root.crl.period, root.crl.validity) == (Validity(days=90), Validity(days=180))
    assert (issuing.crl.period, issuing.crl.validity) == (Validity(days=3), Validity(days=7))
    assert issuing.crl.file_name == "tt-issuing-g1.crl"

    assert list(ps.profiles) == ["tls-server"]
    tls = ps.profiles["tls-server"]
    assert tls.issuer == "tt-issuing-g1"
    assert tls.subject_rule == "fqdn"
    assert tls.key_types == ("ec-p256", "ec-p384")
    assert tls.validity == Validity(days=90)
    assert tls.identity_check == IdentityCheck("aor", "3.2.3")
    assert tls.rekey == ("B",)
    assert tls.extension("subject_alt_name") == {"type": "subject_alt_name", "rule": "dns-from-cn"}
    assert tls.extension("extended_key_usage") == {
        "type": "extended_key_usage",
        "purposes": ["1.3.6.1.5.5.7.3.1"],
    }
    assert tls.extension("crl_distribution_points") == {
        "type": "crl_distribution_points",
        "uris": ["http://crl.two-tier.example/tt-issuing-g1.crl"],
    }

    rev = ps.revocation
    assert list(rev.subscriber_reasons) == [
        REASONS["keyCompromise"],
        REASONS["superseded"],
        REASONS["cessationOfOperation"],
    ]
    assert list(rev.ca_reasons) == [REASONS["cACompromise"], REASONS["cessationOfOperation"]]
    assert list(rev.refused) == [
        REASONS[n]
        for n in ("unspecified", "privilegeWithdrawn", "certificateHold", "removeFromCRL")
    ]
    assert ps.termination.revocation_reason == REASONS["cessationOfOperation"]
    assert ps.termination.final_crl_margin == Duration(12 * 3600)
    assert ps.rekey is None  # no profile offers type A
    assert ps.ra.transaction_ttl == Duration(24 * 3600)  # the default
    g = ps.generations
    assert (g.name, g.common_name, g.link_profile) == (
        "{base}-g{generation}",
        "{base} G{generation}",
        "cross-link",
    )
    assert g.ca_name("tt-issuing-g1", 2) == "tt-issuing-g2"
    assert g.ca_common_name("Two-Tier Issuing CA G1", 2) == "Two-Tier Issuing CA G2"


def test_two_tier_specs_compile_in_the_native_template() -> None:
    from porthos import _native

    ps = load_profile_set(TWO_TIER, "prod")
    issuer = _native.encode_name([("CN", "Two-Tier Issuing CA G1")])
    for spec, alg in (
        (ps.cas["tt-root-g1"].template_spec_json(), "ecdsa-sha384"),
        (ps.cas["tt-issuing-g1"].template_spec_json(), "ecdsa-sha384"),
        (ps.profiles["tls-server"].template_spec_json(), "rsa-pkcs1-sha256"),
    ):
        _native.Template(spec, issuer, b"\x01" * 20, alg)
