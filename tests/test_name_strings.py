"""``name_strings``: the DirectoryString type per attribute, as CP/CPS data
(cpcps/name_strings.py, rust/porthos-core/src/x509/name_encode.rs): validated at load
with the field path, applied to CA subjects and end-entity subjects, and absent in the
Porthos PKI, whose certificates stay byte for byte what they were."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from error_codes import raises_code
from porthos import _native
from porthos.cpcps.loader import load_profile_set, parse_profile_set
from porthos.exceptions import EncodeError, ProfileError

TOML = Path(__file__).resolve().parent / "cpcps" / "ra-items.toml"
DEFAULT_LINE = (
    'name_strings = { C = "printable", O = "printable", OU = "printable", CN = "printable", '
    'DC = "ia5", emailAddress = "ia5", serialNumber = "printable" }'
)

# SHA-256 over every Porthos CA subject and the TBS of every Porthos CA and certificate
# profile filled with fixed values (both environments), computed with the extension
# built before name_strings existed (main at dd55add). Equal digests: the Porthos PKI,
# which has no name_strings, issues the same bytes as before.
PORTHOS_GOLDEN = "5dfea6e51d821eadd7e0c28f6ae7665d5813e8975ceda12e3f856626a4220f3c"


def test_porthos_templates_are_byte_identical() -> None:
    h = hashlib.sha256()
    issuer = _native.encode_name([("C", "CH"), ("O", "Golden"), ("CN", "Golden CA")])
    kid = bytes(range(20))
    spki = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200") + bytes(
        [4, *range(1, 65)]
    )
    fixed = dict(serials=[b"\x01\x02"], not_before=[1700000000], not_after=[1800000000])
    for env in ("prod", "nonprod"):
        ps = load_profile_set("porthos", env)
        for ca in ps.cas.values():
            assert ca.name_strings is None
            assert "name_strings" not in json.loads(ca.template_spec_json())
            h.update(_native.encode_name(list(ca.subject)))
            t = _native.Template(ca.template_spec_json(), issuer, kid, "ecdsa-sha256")
            h.update(t.fill(subjects=[list(ca.subject)], spkis=[spki], **fixed)[0])
        for p in ps.profiles.values():
            assert p.name_strings is None
            t = _native.Template(
                p.template_spec_json(0 if p.crl_shards else None), issuer, kid, "ecdsa-sha256"
            )
            subject = [*p.subject_prefix, ("CN", "golden.example.com")]
            sans = [[("dns", "golden.example.com")]] if p.san_rule else None
            h.update(t.fill(subjects=[subject], spkis=[spki], sans=sans, **fixed)[0])
    assert h.hexdigest() == PORTHOS_GOLDEN


# -- the encoder --------------------------------------------------------------------------


def test_encode_name_string_types() -> None:
    attrs = [("DC", "example"), ("O", "Acme"), ("CN", "Zoë")]
    default = _native.encode_name(attrs)
    assert _native.encode_name(attrs, {}) == default
    chosen = _native.encode_name(attrs, {"O": "printable", "CN": "printable-else-utf8"})
    # DC stays IA5String (its syntax), O becomes PrintableString, "Zoë" stays UTF8String.
    assert b"\x19\x16\x07example" in default and b"\x19\x16\x07example" in chosen
    assert b"\x0a\x0c\x04Acme" in default and b"\x0a\x13\x04Acme" in chosen
    assert "\x0c\x04Zoë".encode() in chosen
    with raises_code(EncodeError, "encode", match="PrintableString"):
        _native.encode_name(attrs, {"CN": "printable"})
    with raises_code(EncodeError, "encode", match="always ia5"):
        _native.encode_name(attrs, {"DC": "utf8"})


def test_a_template_spec_carries_the_string_types() -> None:
    issuer = _native.encode_name([("CN", "CA")])
    spec = json.dumps(
        {"extensions": [{"type": "basic_constraints", "ca": False}],
         "name_strings": {"CN": "printable"}}
    )  # fmt: skip
    t = _native.Template(spec, issuer, None, "ecdsa-sha256")
    assert t.has_name_strings and not t.has_san
    assert t.item_errors(subjects=[[("CN", "ok")], [("CN", "n_o")]]) == [
        "",
        "subject[0]: value not representable as PrintableString",
    ]
    bad = spec.replace('"printable"', '"bmp"')
    with raises_code(ProfileError, "profile", match="name_strings"):
        _native.Template(bad, issuer, None, "ecdsa-sha256")


# -- the loader ---------------------------------------------------------------------------


def with_line(old: str, new: str) -> str:
    text = TOML.read_text("utf-8")
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        (DEFAULT_LINE, 'name_strings = { XX = "utf8" }', "name_strings.XX"),
        (DEFAULT_LINE, 'name_strings = { CN = "bmp" }', "name_strings.CN"),
        (DEFAULT_LINE, 'name_strings = { C = "utf8" }', "name_strings: C: this attribute"),
        (DEFAULT_LINE, 'name_strings = { CN = "ia5" }', "no DirectoryString"),
        (DEFAULT_LINE, 'name_strings = { DC = "printable" }', "always ia5"),
        (
            '["CN", "RA Items Root"]]',
            '["CN", "RA Items Root_1"]]',
            "cas.ri-root.subject.prod[3][1]",
        ),
        (
            'name_strings = { CN = "printable-else-utf8" }',
            'name_strings = { CN = "printable-else-utf8", C = "ia5" }',
            "profiles.card-identity.name_strings: C: this attribute is always printable",
        ),
        (
            'subject_prefix = [["O", "RA Items Test"]]',
            'subject_prefix = [["O", "RA Items Tést"]]',
            "profiles.plain.subject_prefix[0][1]",
        ),
        (
            'item_not_after = "clamp"',
            'item_not_after = "extend"',
            "profiles.card-identity.item_not_after",
        ),
    ],
)
def test_the_loader_refuses_with_the_path(old: str, new: str, path: str) -> None:
    with raises_code(ProfileError, "profile") as info:
        parse_profile_set(with_line(old, new), "prod")
    # The path is the behaviour under test: it tells the author where to look.
    assert path in str(info.value), str(info.value)


def test_overrides_layer_over_the_default() -> None:
    ps = load_profile_set(TOML, "prod")
    assert ps.cas["ri-root"].name_strings is not None
    assert ps.cas["ri-root"].name_strings["CN"] == "printable"
    card = ps.profiles["card-identity"].name_strings
    assert card is not None and card["CN"] == "printable-else-utf8" and card["DC"] == "ia5"
    text = with_line(DEFAULT_LINE, "")
    ps = parse_profile_set(text, "prod")
    assert ps.cas["ri-root"].name_strings is None
    assert ps.profiles["card-identity"].name_strings == {"CN": "printable-else-utf8"}


@pytest.mark.parametrize(
    ("san", "path"),
    [
        ('{ type = "subject_alt_name" }', "extensions[6].rule: missing"),
        ('{ type = "subject_alt_name", from = ["x400"] }', "extensions[6].from[0]"),
        ('{ type = "subject_alt_name", from = [] }', "extensions[6].from"),
        ('{ type = "subject_alt_name", from = ["uri", "uri"] }', "duplicate SAN kind"),
        (
            '{ type = "subject_alt_name", from = ["email"], required = ["uri"] }',
            "extensions[6].required[0]",
        ),
    ],
)
def test_a_san_without_a_source_or_with_bad_kinds_fails_at_load(san: str, path: str) -> None:
    old = (
        '{ type = "subject_alt_name", from = ["uri", "email", "upn", "dns", "ip", "dirname"], '
        'required = ["uri"] }'
    )
    with raises_code(ProfileError, "profile") as info:
        parse_profile_set(with_line(old, san), "prod")
    assert path in str(info.value), str(info.value)


def test_a_rollover_keeps_the_string_types(tmp_path: Path) -> None:
    from cryptography import x509
    from porthos.workflows.rollover import rollover
    from porthos.workspace.workspace import Workspace

    with Workspace.init(tmp_path / "ws", "prod", profile_set=str(TOML)) as ws:
        rollover(ws)
    with Workspace.open(tmp_path / "ws") as ws:
        names = [row.name for row in ws.store.cas()]
        assert "ri-root-2" in names and "ri-issuing-2" in names
        for name in ("ri-root-2", "ri-issuing-2"):
            cert = x509.load_der_x509_certificate(ws.store.ca(name).certificate)
            for der in (cert.subject.public_bytes(), cert.issuer.public_bytes()):
                # DC IA5String twice; O and CN PrintableString; no UTF8String value.
                assert der.count(bytes.fromhex("060a0992268993f22c64011916")) == 2
                assert bytes.fromhex("060355040a13") in der
                assert bytes.fromhex("060355040313") in der
                assert bytes.fromhex("0603550403" + "0c") not in der
