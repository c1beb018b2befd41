"""nameConstraints, policyMappings, policyConstraints and inhibitAnyPolicy from the
CP/CPS TOML (cpcps/ca_constraints.py): the loader validates the forms with the failing
path, and the certificates they give are read by OpenSSL as RFC 5280 §6 says: a leaf
outside a sub CA's permitted subtree is refused by ``openssl verify``, and a policy
mapping is reported by ``-policy_check -explicit_policy -policy OID -policy_print``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.x509.oid import ExtensionOID
from error_codes import raises_code
from hypothesis import given, settings
from hypothesis import strategies as st
from interop import to_pem
from porthos import _native
from porthos.cpcps.loader import parse_profile_set
from porthos.exceptions import ProfileError

TOML = Path(__file__).resolve().parent / "cpcps" / "two-tier.toml"
SUB_BC = '  { type = "basic_constraints", critical = true, ca = true, path_len = 0 },\n'
ROOT_POLICY = "1.3.6.1.4.1.55555.1.1"  # the root's (the "bridge") policy domain
SUB_POLICY = "1.3.6.1.4.1.55555.2.7"  # the sub CA's domain, mapped to ROOT_POLICY


def with_sub_ca_extensions(*lines: str) -> str:
    """two-tier.toml with extra entries after the issuing CA's basic_constraints."""
    text = TOML.read_text("utf-8")
    assert SUB_BC in text
    return text.replace(SUB_BC, SUB_BC + "".join(f"  {line},\n" for line in lines))


def sub_ca_spec(*lines: str) -> dict[str, Any]:
    ps = parse_profile_set(with_sub_ca_extensions(*lines), "prod")
    spec: dict[str, Any] = json.loads(ps.cas["tt-issuing-g1"].template_spec_json())
    return spec


def ext_of(spec: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(e for e in spec["extensions"] if e["type"] == type_)


# -- the loader -------------------------------------------------------------------------


def test_every_form_loads_and_compiles() -> None:
    spec = sub_ca_spec(
        '{ type = "name_constraints", critical = false, permitted = [{ directory_name = '
        '[["C", "CH"], ["O", "Two-Tier Test"]] }, { dns = "example.com" }, { rfc822 = '
        '"example.com" }, { uri = ".example.com" }, { ip = "10.0.0.0/8" }, { ip = '
        '"2001:db8::/32" }], excluded = [{ dns = "bad.example.com" }] }',
        f'{{ type = "policy_mappings", critical = false, mappings = [["{ROOT_POLICY}", '
        f'"{SUB_POLICY}"]] }}',
        '{ type = "policy_constraints", require_explicit_policy = 0, inhibit_policy_mapping = 1 }',
        '{ type = "inhibit_any_policy", critical = false, skip_certs = 0 }',
    )
    nc = ext_of(spec, "name_constraints")
    assert [k for k, _ in nc["permitted"]] == ["dirname_hex", "dns", "email", "uri", "ip", "ip"]
    assert (
        nc["permitted"][0][1] == _native.encode_name([("C", "CH"), ("O", "Two-Tier Test")]).hex()
    )
    assert nc["excluded"] == [["dns", "bad.example.com"]]
    issuer = _native.encode_name([("CN", "x")])
    tpl = _native.Template(json.dumps(spec), issuer, b"\x01" * 20, "ecdsa-sha256")
    key = _native.SoftwareKey.generate("ec-p256", "ecdsa-sha256")
    der = tpl.issue(
        key,
        serials=_native.generate_serials(1),
        not_before=[1_700_000_000],
        not_after=[1_800_000_000],
        subjects=[[("CN", "sub")]],
        spkis=[key.public_key_der()],
    )[0]
    cert = x509.load_der_x509_certificate(der)
    nc_ext = cert.extensions.get_extension_for_oid(ExtensionOID.NAME_CONSTRAINTS)
    assert nc_ext.critical is False
    assert len(nc_ext.value.permitted_subtrees or []) == 6
    pm = cert.extensions.get_extension_for_oid(ExtensionOID.POLICY_MAPPINGS)
    assert not pm.critical
    pc = cert.extensions.get_extension_for_oid(ExtensionOID.POLICY_CONSTRAINTS)
    assert pc.critical and pc.value.require_explicit_policy == 0
    assert pc.value.inhibit_policy_mapping == 1
    iap = cert.extensions.get_extension_for_oid(ExtensionOID.INHIBIT_ANY_POLICY)
    assert not iap.critical and iap.value.skip_certs == 0


def test_permitted_subject_rdns_is_the_most_general_part_of_the_ca_subject() -> None:
    # Carillon CP 001 §10.1.4 style: "PERMITTED: at least DIRNAME equal to the last two
    # RDN values of the Subject DN" = the first two in DER order (C, O here).
    nc = ext_of(
        sub_ca_spec('{ type = "name_constraints", permitted_subject_rdns = 2 }'),
        "name_constraints",
    )
    want = _native.encode_name([("C", "CH"), ("O", "Two-Tier Test")]).hex()
    assert nc["permitted"] == [["dirname_hex", want]]
    assert nc["excluded"] == []


BAD: list[tuple[str, str]] = [
    ('{ type = "name_constraints" }', r": name_constraints needs"),
    ('{ type = "name_constraints", permitted = [] }', r": name_constraints needs"),
    ('{ type = "name_constraints", permitted = [{ dns = "a b" }] }', r"permitted\[0\]\.dns"),
    ('{ type = "name_constraints", permitted = [{ ip = "10.0.0.1/8" }] }', r"permitted\[0\]\.ip"),
    ('{ type = "name_constraints", permitted = [{ ip = "10.0.0.0" }] }', r"permitted\[0\]\.ip"),
    (
        '{ type = "name_constraints", excluded = [{ rfc822 = "a@@b.c" }] }',
        r"excluded\[0\]\.rfc822",
    ),
    ('{ type = "name_constraints", permitted = [{ uri = "http://x.example" }] }', r"\.uri"),
    (
        '{ type = "name_constraints", permitted = [{ dns = "a.b", ip = "10.0.0.0/8" }] }',
        r"permitted\[0\]: expected exactly one",
    ),
    ('{ type = "name_constraints", permitted = [{ directory_name = [] }] }', r"directory_name"),
    (
        '{ type = "name_constraints", permitted = [{ directory_name = [["XX", "v"]] }] }',
        r"directory_name\[0\]\[0\]: unknown attribute",
    ),
    ('{ type = "name_constraints", permitted_subject_rdns = 4 }', r"permitted_subject_rdns"),
    ('{ type = "name_constraints", permitted_subject_rdns = 0 }', r"permitted_subject_rdns"),
    ('{ type = "name_constraints", permitted = [{ email = "x" }] }', r"expected exactly one"),
    ('{ type = "policy_mappings", mappings = [] }', r"mappings: at least one"),
    ('{ type = "policy_mappings" }', r"mappings: missing"),
    (
        '{ type = "policy_mappings", mappings = [["2.5.29.32.0", "1.2.3"]] }',
        r"mappings\[0\]\[0\]: anyPolicy",
    ),
    (
        '{ type = "policy_mappings", mappings = [["1.2.3", "2.5.29.32.0"]] }',
        r"mappings\[0\]\[1\]: anyPolicy",
    ),
    ('{ type = "policy_mappings", mappings = [["1.2.3", "x"]] }', r"mappings\[0\]\[1\]: not a"),
    ('{ type = "policy_mappings", mappings = [["1.2.3"]] }', r"mappings\[0\]: expected"),
    (
        '{ type = "policy_mappings", mappings = [["1.2.3", "1.2.4"], ["1.2.3", "1.2.4"]] }',
        r"mappings\[1\]: duplicate",
    ),
    ('{ type = "policy_constraints" }', r": policy_constraints needs"),
    ('{ type = "policy_constraints", require_explicit_policy = -1 }', r"require_explicit_policy"),
    ('{ type = "policy_constraints", inhibit_policy_mapping = true }', r"inhibit_policy_mapping"),
    ('{ type = "inhibit_any_policy" }', r"skip_certs: missing"),
    ('{ type = "inhibit_any_policy", skip_certs = "0" }', r"skip_certs: expected"),
    ('{ type = "inhibit_any_policy", skip_certs = 0, colour = 1 }', r"colour: unknown key"),
    ('{ type = "raw", oid = "2.5.29.30", value_hex = "3000" }', r"oid: 2\.5\.29\.30 has a typed"),
]


@pytest.mark.parametrize(("line", "where"), BAD)
def test_bad_forms_fail_at_load_naming_the_path(line: str, where: str) -> None:
    # The message is the behaviour: it must name the failing field.
    with raises_code(
        ProfileError, "profile", match=r"cas\.tt-issuing-g1\.extensions\[6\].*" + where
    ):
        parse_profile_set(with_sub_ca_extensions(line), "prod")


@pytest.mark.parametrize(
    "line",
    [
        '{ type = "name_constraints", permitted = [{ dns = "example.com" }] }',
        '{ type = "policy_mappings", mappings = [["1.2.3", "1.2.4"]] }',
        '{ type = "policy_constraints", require_explicit_policy = 0 }',
        '{ type = "inhibit_any_policy", skip_certs = 0 }',
    ],
)
def test_only_ca_profiles_may_carry_them(line: str) -> None:
    san = '{ type = "subject_alt_name", rule = "dns-from-cn" },'
    text = TOML.read_text("utf-8").replace(san, san + "\n  " + line + ",")
    with raises_code(
        ProfileError, "profile", match=r"profiles\.tls-server\.extensions\[7\]: .* CA"
    ):
        parse_profile_set(text, "prod")


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_DOMAIN = st.lists(_LABEL, min_size=1, max_size=4).map(".".join)
_SUBTREE = st.one_of(
    _DOMAIN.map(lambda d: {"dns": d}),
    _DOMAIN.map(lambda d: {"rfc822": d}),
    _DOMAIN.map(lambda d: {"uri": "." + d}),
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)).map(
        lambda t: {"ip": f"{__import__('ipaddress').ip_network((t[0], t[1]), strict=False)}"}
    ),
)


@settings(max_examples=40, deadline=None)
@given(
    permitted=st.lists(_SUBTREE, max_size=4),
    excluded=st.lists(_SUBTREE, max_size=4),
    mappings=st.lists(st.tuples(st.integers(1, 99), st.integers(1, 99)), max_size=3, unique=True),
)
def test_loader_forms_round_trip_into_the_certificate(
    permitted: list[dict[str, str]],
    excluded: list[dict[str, str]],
    mappings: list[tuple[int, int]],
) -> None:
    """Whatever valid subtrees the TOML lists reach the certificate, in order (pyca reads
    them back); an empty name_constraints is refused."""
    from porthos.cpcps.extensions import extensions

    exts: list[dict[str, Any]] = [{"type": "basic_constraints", "ca": True}]
    if permitted or excluded:
        exts.append({"type": "name_constraints", "permitted": permitted, "excluded": excluded})
    if mappings:
        exts.append(
            {
                "type": "policy_mappings",
                "mappings": [[f"1.2.3.{a}", f"1.2.4.{b}"] for a, b in mappings],
            }
        )
    clean = extensions(exts, "x", {}, "ca")
    from porthos.cpcps.template_spec import spec_json

    tpl = _native.Template(
        spec_json(clean), _native.encode_name([("CN", "i")]), None, "ecdsa-sha256"
    )
    key = _native.SoftwareKey.generate("ec-p256", "ecdsa-sha256")
    der = tpl.issue(
        key,
        serials=_native.generate_serials(1),
        not_before=[1_700_000_000],
        not_after=[1_800_000_000],
        subjects=[[("CN", "s")]],
        spkis=[key.public_key_der()],
    )[0]
    cert = x509.load_der_x509_certificate(der)
    if permitted or excluded:
        nc = cert.extensions.get_extension_for_oid(ExtensionOID.NAME_CONSTRAINTS).value
        assert len(nc.permitted_subtrees or []) == len(permitted)
        assert len(nc.excluded_subtrees or []) == len(excluded)
        for got, want in zip(nc.permitted_subtrees or [], permitted, strict=True):
            ((kind, value),) = want.items()
            if kind == "ip":
                assert str(got.value) == value
            else:
                assert got.value == value
    if mappings:
        # pyca does not decode policyMappings; asn1crypto does (a second DER reader).
        raw = cert.extensions.get_extension_for_oid(ExtensionOID.POLICY_MAPPINGS).value
        pm = asn1_x509.PolicyMappings.load(raw.value)
        got = [(m["issuer_domain_policy"].dotted, m["subject_domain_policy"].dotted) for m in pm]
        assert got == [(f"1.2.3.{a}", f"1.2.4.{b}") for a, b in mappings]


# -- OpenSSL reads them as RFC 5280 §6 says ----------------------------------------------

NOW, LATER = 1_760_000_000, 1_860_000_000


def _issue(
    spec: dict[str, Any] | str,
    issuer_der: bytes | None,
    signer: _native.SoftwareKey,
    subject: list[tuple[str, str]],
    key: _native.SoftwareKey,
) -> bytes:
    spec_text = spec if isinstance(spec, str) else json.dumps(spec)
    if issuer_der is None:
        tpl = _native.Template(
            spec_text,
            _native.encode_name(subject),
            _native.key_identifier(key.public_key_der()),
            "ecdsa-sha256",
        )
    else:
        tpl = _native.Template.for_issuer(spec_text, issuer_der, "ecdsa-sha256")
    return tpl.issue(
        signer,
        serials=_native.generate_serials(1),
        not_before=[NOW],
        not_after=[LATER],
        subjects=[subject],
        spkis=[key.public_key_der()],
    )[0]


def _ca_exts(*more: dict[str, Any], policies: list[str]) -> dict[str, Any]:
    return {
        "extensions": [
            {"type": "authority_key_identifier"},
            {"type": "subject_key_identifier"},
            {"type": "key_usage", "usages": ["key_cert_sign", "crl_sign"]},
            {"type": "basic_constraints", "ca": True},
            {"type": "certificate_policies", "policies": [{"oid": p} for p in policies]},
            *more,
        ]
    }


def _leaf_spec(policy: str) -> dict[str, Any]:
    return {
        "extensions": [
            {"type": "authority_key_identifier"},
            {"type": "subject_key_identifier"},
            {"type": "key_usage", "usages": ["digital_signature"]},
            {"type": "basic_constraints", "ca": False},
            {"type": "certificate_policies", "policies": [{"oid": policy}]},
        ]
    }


def _openssl(
    tmp: Path, root: bytes, chain: list[bytes], leaf: bytes, *args: str
) -> subprocess.CompletedProcess[str]:
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is not installed"
    (tmp / "root.pem").write_bytes(to_pem(root))
    (tmp / "chain.pem").write_bytes(b"".join(to_pem(c) for c in chain))
    (tmp / "leaf.pem").write_bytes(to_pem(leaf))
    cmd = [
        openssl,
        "verify",
        "-x509_strict",
        "-CAfile",
        str(tmp / "root.pem"),
        "-untrusted",
        str(tmp / "chain.pem"),
        "-attime",
        str(NOW + 86400),
        *args,
        str(tmp / "leaf.pem"),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def hierarchy() -> dict[str, Any]:
    """A root (domain ROOT_POLICY) and a sub CA from two-tier.toml whose profile carries
    ``permitted_subject_rdns = 2`` and maps ROOT_POLICY to SUB_POLICY."""
    root_key = _native.SoftwareKey.generate("ec-p256", "ecdsa-sha256")
    sub_key = _native.SoftwareKey.generate("ec-p256", "ecdsa-sha256")
    root = _issue(
        _ca_exts(policies=["2.5.29.32.0"]),
        None,
        root_key,
        [("C", "CH"), ("O", "Bridge"), ("CN", "Bridge Root")],
        root_key,
    )
    spec = sub_ca_spec(
        '{ type = "name_constraints", critical = true, permitted_subject_rdns = 2 }',
        f'{{ type = "policy_mappings", mappings = [["{ROOT_POLICY}", "{SUB_POLICY}"]] }}',
        '{ type = "certificate_policies", policies = [{ oid = "' + ROOT_POLICY + '" }] }',
    )
    spec["extensions"] = [
        e
        for e in spec["extensions"]
        if e["type"] not in ("crl_distribution_points", "authority_info_access")
    ]
    sub_subject = [("C", "CH"), ("O", "Two-Tier Test"), ("CN", "Two-Tier Issuing CA G1")]
    sub = _issue(spec, root, root_key, sub_subject, sub_key)
    return {"root": root, "sub": sub, "sub_key": sub_key}


def test_openssl_refuses_a_leaf_outside_the_permitted_subtree(
    hierarchy: dict[str, Any], tmp_path: Path
) -> None:
    key = _native.SoftwareKey.generate("ec-p256", "ecdsa-sha256")
    inside = _issue(
        _leaf_spec(SUB_POLICY),
        hierarchy["sub"],
        hierarchy["sub_key"],
        [("C", "CH"), ("O", "Two-Tier Test"), ("CN", "inside")],
        key,
    )
    outside = _issue(
        _leaf_spec(SUB_POLICY),
        hierarchy["sub"],
        hierarchy["sub_key"],
        [("C", "CH"), ("O", "Elsewhere"), ("CN", "outside")],
        key,
    )
    ok = _openssl(tmp_path, hierarchy["root"], [hierarchy["sub"]], inside)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _openssl(tmp_path, hierarchy["root"], [hierarchy["sub"]], outside)
    assert bad.returncode != 0
    assert "permitted subtree violation" in (bad.stdout + bad.stderr)


def test_openssl_reports_the_policy_mapping(hierarchy: dict[str, Any], tmp_path: Path) -> None:
    key = _native.SoftwareKey.generate("ec-p256", "ecdsa-sha256")
    leaf = _issue(
        _leaf_spec(SUB_POLICY),
        hierarchy["sub"],
        hierarchy["sub_key"],
        [("C", "CH"), ("O", "Two-Tier Test"), ("CN", "mapped")],
        key,
    )
    args = ("-policy_check", "-explicit_policy", "-policy", ROOT_POLICY, "-policy_print")
    ok = _openssl(tmp_path, hierarchy["root"], [hierarchy["sub"]], leaf, *args)
    out = ok.stdout + ok.stderr
    assert ok.returncode == 0, out
    # The user-acceptable policy set is the root's domain policy, reached through the
    # sub CA's mapping of ROOT_POLICY to SUB_POLICY (RFC 5280 §6.1.4 (b)).
    assert "User Policies:" in out and ROOT_POLICY in out
    # A policy the path does not support fails under -explicit_policy.
    no = _openssl(
        tmp_path,
        hierarchy["root"],
        [hierarchy["sub"]],
        leaf,
        "-policy_check",
        "-explicit_policy",
        "-policy",
        "1.3.6.1.4.1.55555.9",
    )
    assert no.returncode != 0
