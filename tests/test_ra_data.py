"""Per-item RA data (docs/ra-data.md): SANs of every GeneralName kind and a card's own
notAfter, judged by the profile (SAN ``from``/``required``, ``item_not_after``), through
the Python API and ``porthos issue --ra-data``. Fixture: tests/cpcps/ra-items.toml."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import CsrFactory
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID, ObjectIdentifier
from error_codes import raises_code
from interop import (
    assert_pkilint_clean,
    openssl_verify,
    pkilint_findings,
    pyca_verify_chain,
    to_pem,
)
from porthos import IssueStatus, Workspace
from porthos.cli.main import main
from porthos.exceptions import BatchArgumentError
from porthos.timestamps import iso_utc
from reference_encoder import children, read_tlv

TOML = Path(__file__).resolve().parent / "cpcps" / "ra-items.toml"
UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")
UUID = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
DAY = 86400

EVERY_KIND: list[list[Any]] = [
    ["uri", f"urn:uuid:{UUID}"],
    ["email", "anna@ra-items.example"],
    ["upn", "anna@ra-items.example"],
    ["dns", "card.ra-items.example"],
    ["ip", "192.0.2.7"],
    ["ip", "2001:db8::7"],
    ["dirname", [["O", "RA Items Test"], ["CN", "Anna Card"]]],
]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    w = Workspace.init(tmp_path_factory.mktemp("ra") / "ws", "prod", profile_set=str(TOML))
    yield w
    w.close()


def rows(ws: Workspace) -> int:
    return ws.store.count_certificates()


def at(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- every SAN kind ---------------------------------------------------------------------


def test_every_san_kind_from_the_ra_data(ws: Workspace, csr_factory: CsrFactory) -> None:
    ca = ws.ca("ri-issuing")
    result = ca.issue_batch(
        [csr_factory.make([("CN", "Anna")])], "card-identity", ra_data=[{"sans": EVERY_KIND}]
    )
    assert result.status.tolist() == [IssueStatus.ISSUED], result.reasons
    der = result.certificates[0]
    assert der is not None
    root = ws.ca("ri-root").certificate
    cert = pyca_verify_chain([root, ca.certificate], der)[-1]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"urn:uuid:{UUID}"]
    assert san.get_values_for_type(x509.RFC822Name) == ["anna@ra-items.example"]
    assert san.get_values_for_type(x509.DNSName) == ["card.ra-items.example"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("192.0.2.7"),
        ipaddress.ip_address("2001:db8::7"),
    ]
    (dirname,) = san.get_values_for_type(x509.DirectoryName)
    assert dirname.rfc4514_string() == "CN=Anna Card,O=RA Items Test"
    (other,) = san.get_values_for_type(x509.OtherName)
    assert other.type_id == UPN_OID
    # [0] EXPLICIT UTF8String "anna@ra-items.example"
    assert other.value == b"\x0c\x15anna@ra-items.example"
    # pkilint checks a URI with validators.url (a host-based URL), so an RFC 4122 URN,
    # which the PIV-I card profiles require (urn:uuid:<card GUID>, RFC 4122 §3; RFC 5280
    # §4.2.1.6 only asks for a scheme and a scheme-specific part), is its one finding.
    assert pkilint_findings(der) == [
        "ERROR pkix.invalid_uri_syntax @certificate.tbsCertificate.extensions.6.extnValue."
        f'subjectAltName.0.uniformResourceIdentifier: Invalid URI syntax: "urn:uuid:{UUID}"'
    ]
    openssl_verify([root, ca.certificate], der)
    text = subprocess.run(
        [shutil.which("openssl") or "openssl", "x509", "-noout", "-text"],
        input=to_pem(der), capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for shown in (
        f"URI:urn:uuid:{UUID}",
        "email:anna@ra-items.example",
        "DNS:card.ra-items.example",
        "IP Address:192.0.2.7",
        "IP Address:2001:DB8:0:0:0:0:0:7",
        "DirName:/O=RA Items Test/CN=Anna Card",
        "othername: UPN::anna@ra-items.example",
    ):
        assert shown in text, text


def test_every_san_kind_is_pkilint_clean(ws: Workspace, csr_factory: CsrFactory) -> None:
    sans = [["uri", "https://ra-items.example/cards/1"], *EVERY_KIND[1:]]
    result = ws.ca("ri-issuing").issue_batch(
        [csr_factory.make([("CN", "Anna")], slot=1)], "card-identity", ra_data=[{"sans": sans}]
    )
    der = result.certificates[0]
    assert der is not None, result.reasons
    assert_pkilint_clean(der, "certificate with every SAN kind")


# -- string types -----------------------------------------------------------------------

DC_OID, O_OID, CN_OID = "0.9.2342.19200300.100.1.25", "2.5.4.10", "2.5.4.3"
PRINTABLE, UTF8, IA5 = 0x13, 0x0C, 0x16


def name_tags(name_der: bytes) -> list[tuple[str, int]]:
    """(dotted OID, string tag byte) of each attribute of a Name's DER."""
    tag, content, _ = read_tlv(name_der, 0)
    assert tag == 0x30
    out = []
    for set_tag, rdn in children(content):
        assert set_tag == 0x31
        ((_, atv),) = children(rdn)
        (_, oid), (value_tag, _) = children(atv)
        out.append((x509.ObjectIdentifier(_dotted(oid)).dotted_string, value_tag))
    return out


def _dotted(content: bytes) -> str:
    arcs, value = [], 0
    for b in content:
        value = value << 7 | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(map(str, [first, arcs[0] - 40 * first, *arcs[1:]]))


def test_ca_names_are_printable_and_dc_ia5(ws: Workspace) -> None:
    want = [(DC_OID, IA5), (DC_OID, IA5), (O_OID, PRINTABLE), (CN_OID, PRINTABLE)]
    for name in ("ri-root", "ri-issuing"):
        cert = x509.load_der_x509_certificate(ws.ca(name).certificate)
        assert name_tags(cert.subject.public_bytes()) == want
        assert name_tags(cert.issuer.public_bytes()) == want
        assert_pkilint_clean(ws.ca(name).certificate, name)


def test_printable_else_utf8_per_value(ws: Workspace, csr_factory: CsrFactory) -> None:
    reqs = [csr_factory.make([("CN", "Zoe Card")]), csr_factory.make([("CN", "Zoë Card")], slot=1)]
    uri = [{"sans": [["uri", "https://ra-items.example/cards/2"]]}] * 2
    result = ws.ca("ri-issuing").issue_batch(reqs, "card-identity", ra_data=uri)
    assert result.issued_count == 2, result.reasons
    plain, accented = (x509.load_der_x509_certificate(d or b"") for d in result.certificates)
    prefix = [(DC_OID, IA5), (DC_OID, IA5), (O_OID, PRINTABLE)]
    assert name_tags(plain.subject.public_bytes()) == [*prefix, (CN_OID, PRINTABLE)]
    assert name_tags(accented.subject.public_bytes()) == [*prefix, (CN_OID, UTF8)]
    assert accented.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Zoë Card"
    assert_pkilint_clean(accented.public_bytes(serialization.Encoding.DER), "UTF8 CN")


def test_a_value_outside_a_forced_printable_is_refused_alone(
    ws: Workspace, csr_factory: CsrFactory
) -> None:
    before = rows(ws)
    reqs = [csr_factory.make([("CN", "Zoë")], slot=2), csr_factory.make([("CN", "Zoe")], slot=3)]
    uri = [{"sans": [["uri", f"urn:uuid:{UUID}"]]}] * 2
    result = ws.ca("ri-issuing").issue_batch(reqs, "card-auth", ra_data=uri)
    assert result.status.tolist() == [IssueStatus.SUBJECT_INVALID, IssueStatus.ISSUED]
    assert result.reasons[0] == (
        "subject[3]: value not representable as PrintableString (CN='Zoë')"
    )
    assert result.certificates[0] is None
    assert rows(ws) == before + 1


# -- SAN refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "sans", "why"),
    [
        ("card-auth", [["uri", "urn:uuid:x"], ["upn", "a@b"]], "does not support: upn"),
        ("card-auth", [["email", "a@b.example"]], "does not support: email"),
        ("card-identity", [["email", "a@b.example"]], "gives no uri SAN"),
        ("card-identity", None, "gives no uri SAN"),
        ("plain", [["uri", "urn:uuid:x"]], "takes no SAN from the RA data"),
        ("card-identity", [["uri", "urn:x"], ["email", "a@b@c"]], "exactly one @"),
        ("card-identity", [["uri", "no-scheme"]], "scheme"),
        ("card-identity", [["uri", "urn:x"], ["ip", "10.0.0.010"]], "IPv4 or IPv6"),
        ("card-identity", [["uri", "urn:x"], ["dns", "bad_label.example"]], "labels"),
        ("card-identity", [["uri", "urn:x"], ["upn", "nobody"]], "user@suffix"),
        ("card-identity", [["uri", "urn:x"], ["dirname", [["O", "a_b"]]]], "PrintableString"),
    ],
)
def test_sans_the_profile_or_encoder_refuses(
    ws: Workspace, csr_factory: CsrFactory, profile: str, sans: Any, why: str
) -> None:
    before = rows(ws)
    good = {"sans": [["uri", f"urn:uuid:{UUID}"]]} if profile != "plain" else {}
    result = ws.ca("ri-issuing").issue_batch(
        [csr_factory.make([("CN", "Bad")], slot=4), csr_factory.make([("CN", "Good")], slot=5)],
        profile,
        ra_data=[{"sans": sans}, good],
    )
    assert result.status.tolist() == [IssueStatus.SUBJECT_INVALID, IssueStatus.ISSUED]
    assert why in result.reasons[0], result.reasons[0]
    assert rows(ws) == before + 1


# -- per-item notAfter --------------------------------------------------------------------


def cert_of(der: bytes | None) -> x509.Certificate:
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_card_expiry_inside_the_validity_is_the_not_after(
    ws: Workspace, csr_factory: CsrFactory
) -> None:
    now = int(time.time())
    card = now + 100 * DAY
    ca = ws.ca("ri-issuing")
    result = ca.issue_batch(
        [csr_factory.make([("CN", "Card")], slot=6)],
        "card-auth",
        now=now,
        ra_data=[{"sans": [["uri", f"urn:uuid:{UUID}"]], "not_after": at(card)}],
    )
    assert result.issued_count == 1, result.reasons
    cert = cert_of(result.certificates[0])
    assert int(cert.not_valid_after_utc.timestamp()) == card
    row = ws.store.conn.execute(
        "SELECT not_after FROM certificates WHERE der = ?", (result.certificates[0],)
    ).fetchone()
    assert row is not None and row[0] == card


def test_card_expiry_past_the_validity_clamps_or_refuses(
    ws: Workspace, csr_factory: CsrFactory
) -> None:
    now = int(time.time())
    late = {"sans": [["uri", f"urn:uuid:{UUID}"]], "not_after": at(now + 400 * DAY)}
    ca = ws.ca("ri-issuing")
    clamped = ca.issue_batch(
        [csr_factory.make([("CN", "Late")], slot=7)], "card-identity", now=now, ra_data=[late]
    )
    assert clamped.issued_count == 1, clamped.reasons
    assert int(cert_of(clamped.certificates[0]).not_valid_after_utc.timestamp()) == now + 365 * DAY
    before = rows(ws)
    refused = ca.issue_batch(
        [csr_factory.make([("CN", "Late")], slot=8)], "card-auth", now=now, ra_data=[late]
    )
    assert refused.status.tolist() == [IssueStatus.REFUSED]
    assert (
        f"later than profile card-auth's validity (365 days), {iso_utc(now + 365 * DAY)}"
        in (refused.reasons[0])
    )
    assert rows(ws) == before


@pytest.mark.parametrize(
    ("profile", "offset", "why"),
    [
        ("card-auth", -DAY, "card expiry in the past"),
        ("card-identity", 0, "card expiry in the past"),
        ("plain", 10 * DAY, "takes no per-item notAfter"),
    ],
)
def test_card_expiries_refused(
    ws: Workspace, csr_factory: CsrFactory, profile: str, offset: int, why: str
) -> None:
    now = int(time.time())
    item: dict[str, Any] = {"not_after": at(now + offset)}
    if profile != "plain":
        item["sans"] = [["uri", f"urn:uuid:{UUID}"]]
    before = rows(ws)
    result = ws.ca("ri-issuing").issue_batch(
        [csr_factory.make([("CN", "Past")], slot=9)], profile, now=now, ra_data=[item]
    )
    assert result.status.tolist() == [IssueStatus.REFUSED]
    assert why in result.reasons[0]
    assert rows(ws) == before


# -- malformed RA data: one error, nothing stored ------------------------------------------


@pytest.mark.parametrize(
    ("ra_data", "message"),
    [
        ({"sans": []}, "expected a list"),
        ([], "0 entries for 1 requests"),
        ([{}, {}], "2 entries for 1 requests"),
        (["x"], "expected an object"),
        ([{"san": []}], "unknown key"),
        ([{"sans": "uri"}], "expected a list of [kind, value]"),
        ([{"sans": [["uri"]]}], "expected [kind, value]"),
        ([{"sans": [["x400", "x"]]}], "unknown SAN kind 'x400'"),
        ([{"sans": [["uri", 7]]}], "expected a string"),
        ([{"sans": [["dirname", "CN=x"]]}], "list of [attribute, value]"),
        ([{"not_after": "2027-03-01"}], "date-time"),
        ([{"not_after": "2027-03-01T00:00:00"}], "UTC offset"),
        ([{"not_after": 1700000000}], "expected a string"),
    ],
)
def test_malformed_ra_data_raises_one_error(
    ws: Workspace, csr_factory: CsrFactory, ra_data: Any, message: str
) -> None:
    before = rows(ws)
    audit = ws.store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0]
    with raises_code(BatchArgumentError, "batch-argument") as info:
        ws.ca("ri-issuing").issue_batch(
            [csr_factory.make([("CN", "X")])], "card-identity", ra_data=ra_data
        )
    assert message in str(info.value)
    assert rows(ws) == before
    assert ws.store.conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == audit


# -- the CLI ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    w = tmp_path_factory.mktemp("ra-cli") / "ws"
    Workspace.init(w, "prod", profile_set=str(TOML)).close()
    return w


def cli_rows(workdir: Path) -> int:
    with Workspace.open(workdir) as w:
        return rows(w)


def issue(workdir: Path, tmp: Path, ra: bytes, csr_factory: CsrFactory, n: int = 2) -> Any:
    bundle = "".join(csr_factory.pem([("CN", f"Card {i}")], slot=10 + i) for i in range(n))
    (tmp / "in.pem").write_text(bundle)
    (tmp / "ra.json").write_bytes(ra)
    return CliRunner().invoke(
        main,
        ["issue", "-w", str(workdir), "-p", "card-identity", "--csr", str(tmp / "in.pem"),
         "--out", str(tmp / "out.pem"), "--ra-data", str(tmp / "ra.json")],
    )  # fmt: skip


def test_cli_ra_data_happy_path(workdir: Path, tmp_path: Path, csr_factory: CsrFactory) -> None:
    expiry = int(time.time()) + 200 * DAY
    ra = [
        {"sans": EVERY_KIND, "not_after": at(expiry)},
        {"sans": [["uri", "urn:uuid:00000000-0000-4000-8000-000000000001"]]},
    ]
    result = issue(workdir, tmp_path, json.dumps(ra).encode(), csr_factory)
    assert result.exit_code == 0, result.output
    first, second = x509.load_pem_x509_certificates((tmp_path / "out.pem").read_bytes())
    assert int(first.not_valid_after_utc.timestamp()) == expiry
    san = first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert len(list(san)) == len(EVERY_KIND)
    uris = second.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(uris) == [
        x509.UniformResourceIdentifier("urn:uuid:00000000-0000-4000-8000-000000000001")
    ]
    assert second.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Card 1"


@pytest.mark.parametrize(
    ("ra", "message"),
    [
        (b"\xff\xfe[]", "not UTF-8"),
        (b"[{", "not JSON"),
        (b'{"sans": []}', "expected a JSON list"),
        (b"[{}]", "1 entries for 2 requests"),
        (b'[{"sans": 1}, {}]', "expected a list of [kind, value]"),
        (b'[{"not_after": "soon"}, {}]', "not an RFC 3339 date-time"),
    ],
)
def test_cli_bad_ra_data_exits_2_and_stores_nothing(
    workdir: Path, tmp_path: Path, csr_factory: CsrFactory, ra: bytes, message: str
) -> None:
    before = cli_rows(workdir)
    result = issue(workdir, tmp_path, ra, csr_factory)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "[batch-argument]" in lines[0], lines
    assert not (tmp_path / "out.pem").exists()
    assert cli_rows(workdir) == before


def test_a_streamed_batch_keeps_each_items_sans_and_not_after(
    ws: Workspace, csr_factory: CsrFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from porthos.issuance import batch

    monkeypatch.setattr(batch, "PIPELINE_PIECE", 4)
    monkeypatch.setattr(batch, "PIPELINE_LAST", 2)
    now = int(time.time())
    n = 11
    reqs = [csr_factory.make([("CN", f"Stream {i}")], slot=20 + i) for i in range(n)]
    ra = [
        {"sans": [["uri", f"urn:uuid:00000000-0000-4000-8000-{i:012d}"]],
         "not_after": at(now + (10 + i) * DAY)}
        for i in range(n)
    ]  # fmt: skip
    ra[5] = {"sans": [["email", "no-uri@ra-items.example"]]}  # refused: uri is required
    before = rows(ws)
    result = ws.ca("ri-issuing").issue_batch(reqs, "card-identity", now=now, ra_data=ra)
    assert result.status[5] == IssueStatus.SUBJECT_INVALID
    assert result.issued_count == n - 1
    for i, der in enumerate(result.certificates):
        if i == 5:
            continue
        cert = cert_of(der)
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"Stream {i}"
        assert int(cert.not_valid_after_utc.timestamp()) == now + (10 + i) * DAY
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert list(san) == [
            x509.UniformResourceIdentifier(f"urn:uuid:00000000-0000-4000-8000-{i:012d}")
        ]
        stored = ws.store.conn.execute(
            "SELECT not_after FROM certificates WHERE der = ?", (der,)
        ).fetchone()
        assert stored is not None and stored[0] == now + (10 + i) * DAY
    assert rows(ws) == before + n - 1


def test_an_embedding_ca_passes_the_columns_itself(csr_factory: CsrFactory) -> None:
    # No workspace: BatchIssuer takes decided per-request columns (batch_hooks.ItemColumns).
    import numpy as np
    from porthos import _native
    from porthos.issuance.batch import BatchIssuer
    from porthos.issuance.batch_hooks import ItemColumns

    key = _native.SoftwareKey.generate("ec-p256")
    name = _native.encode_name([("CN", "Embedded CA")])
    spec = json.dumps({"extensions": [{"type": "basic_constraints", "ca": True}]})
    root = _native.Template(spec, name, _native.key_identifier(key.public_key_der()),
                            key.signature_algorithm)  # fmt: skip
    now = int(time.time())
    ca_cert = root.issue(key, serials=_native.generate_serials(1), not_before=[now],
                         not_after=[now + 100 * DAY], subjects=[[("CN", "Embedded CA")]],
                         spkis=[key.public_key_der()])[0]  # fmt: skip
    leaf = json.dumps(
        {"extensions": [{"type": "subject_alt_name"}, {"type": "basic_constraints", "ca": False}]}
    )
    issuer = BatchIssuer.from_spec(leaf, ca_cert, key, issuer_not_after=now + 100 * DAY)
    reqs = [csr_factory.make([("CN", f"e{i}")], slot=40 + i) for i in range(3)]
    columns = ItemColumns(
        sans=[[("upn", "e0@example.com")], None, [("ip", "not-an-ip")]],
        not_after=[now + 5 * DAY, now + 200 * DAY, now + 5 * DAY],
    )
    result = issuer.issue(reqs, not_before=now, not_after=now + 10 * DAY, items=columns)
    assert result.status.tolist() == [
        IssueStatus.ISSUED,
        IssueStatus.REFUSED,
        IssueStatus.SUBJECT_INVALID,
    ]
    assert "later than the issuer's notAfter" in result.reasons[1]
    assert "IPv4 or IPv6" in result.reasons[2]
    cert = cert_of(result.certificates[0])
    assert int(cert.not_valid_after_utc.timestamp()) == now + 5 * DAY
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [o.type_id for o in san.get_values_for_type(x509.OtherName)] == [UPN_OID]
    with raises_code(BatchArgumentError, "batch-argument"):
        issuer.issue(reqs, not_before=now, not_after=now + DAY,
                     items=ItemColumns(not_after=np.array([now + DAY])))  # fmt: skip
