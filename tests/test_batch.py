"""The batch pipeline without a workspace (porthos.issuance.batch): the README's
"Embedding the engine" example as it is written there, and the hooks an embedding CA
plugs in (screens, naming, commit), checked with pyca/cryptography."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CsrFactory
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from cryptography.x509.oid import NameOID
from forked import assert_finishes_in_forked_child
from porthos import _native
from porthos.exceptions import BatchArgumentError
from porthos.issuance import batch
from porthos.issuance.batch import BatchIssuer
from porthos.issuance.batch_hooks import SignedPiece
from porthos.status import IssueStatus

README = Path(__file__).resolve().parents[1] / "README.md"
NOW = int(dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp())
SPEC = '{"extensions": [{"type": "basic_constraints", "ca": false}]}'


def readme_example() -> str:
    """The first python block under the README's "Embedding the engine" heading."""
    text = README.read_text("utf-8")
    section = text[text.index("### Embedding the engine") :]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m is not None
    return m.group(1)


@pytest.fixture(scope="module")
def own_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The embedding CA's own key and self-signed certificate, made with pyca."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Embedding CA")])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2036, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def software_key(key: ec.EllipticCurvePrivateKey) -> _native.SoftwareKey:
    der = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    return _native.SoftwareKey.from_pkcs8(der)


def spki(csr_der: bytes) -> bytes:
    public = x509.load_der_x509_csr(csr_der).public_key()
    return public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def test_readme_embedding_example_issues_verifiable_certificates(
    own_ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], csr_factory: CsrFactory
) -> None:
    key, cert = own_ca
    csrs = [csr_factory.make([("O", "Example"), ("CN", f"device {n}")]) for n in range(5)]
    names: dict[str, Any] = {
        "ca_key_pkcs8": key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption()),
        "ca_cert_der": cert.public_bytes(Encoding.DER),
        "csrs": csrs,
        "now": NOW,
    }
    exec(compile(readme_example(), "README.md", "exec"), names)  # noqa: S102 - our README
    result = names["result"]
    assert result.status.tolist() == [IssueStatus.ISSUED] * 5
    assert result.reasons == [""] * 5
    for n, (der, csr) in enumerate(zip(result.certificates, csrs, strict=True)):
        issued = x509.load_der_x509_certificate(der)
        issued.verify_directly_issued_by(cert)  # signed by the CA's own key
        assert issued.serial_number == 1 << 56 | (n + 1)  # from its own serial source
        assert issued.subject == x509.load_der_x509_csr(csr).subject
        assert issued.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        ) == spki(csr)
        assert int(issued.not_valid_before_utc.timestamp()) == NOW
        assert int(issued.not_valid_after_utc.timestamp()) == NOW + 90 * 86400


def test_screen_hook_refuses_one_item_and_the_others_are_issued(
    own_ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    csr_factory: CsrFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Large enough to stream, but a screen sees the whole batch at once: one call with
    # every request, its indices those of the input.
    monkeypatch.setattr(batch, "PIPELINE_PIECE", 2)
    key, cert = own_ca
    csrs = [csr_factory.make([("CN", f"device {n}")]) for n in range(6)]
    seen: list[int] = []

    def not_registered(parsed: _native.CsrBatch) -> dict[int, tuple[int, str]]:
        seen.append(len(parsed))
        return {3: (IssueStatus.REFUSED, "device 3 is not registered")}

    issuer = BatchIssuer(
        _native.Template.for_issuer(
            SPEC,
            cert.public_bytes(Encoding.DER),
            "ecdsa-sha256",
        ),
        software_key(key),
        screens=[not_registered],
    )
    result = issuer.issue(csrs, not_before=NOW, not_after=NOW + 86400, threads=2)
    assert seen == [6]
    want = [IssueStatus.ISSUED] * 6
    want[3] = IssueStatus.REFUSED
    assert [IssueStatus(s) for s in result.status.tolist()] == want
    assert result.reasons[3] == "device 3 is not registered"
    assert result.certificates[3] is None
    assert [i for i, _, _ in result.rejected()] == [3]
    for i, der in result.issued():
        issued = x509.load_der_x509_certificate(der)
        issued.verify_directly_issued_by(cert)
        assert issued.subject.rfc4514_string() == f"CN=device {i}"


def test_first_refusal_stands_and_bad_refusals_raise(
    own_ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], csr_factory: CsrFactory
) -> None:
    key, cert = own_ca
    good = csr_factory.make([("CN", "a")])
    broken = good[:-1] + bytes([good[-1] ^ 1])  # its proof of possession fails
    issuer = BatchIssuer.from_spec(SPEC, cert.public_bytes(Encoding.DER), software_key(key))

    def refuse_all(parsed: _native.CsrBatch) -> dict[int, tuple[int, str]]:
        return {j: (IssueStatus.REFUSED, "screen") for j in range(len(parsed))}

    def second(parsed: _native.CsrBatch) -> dict[int, tuple[int, str]]:
        return {0: (IssueStatus.SUBJECT_INVALID, "second screen")}

    res = issuer.issue([broken, good], not_before=NOW, not_after=NOW + 60,
                       screens=[refuse_all, second])  # fmt: skip
    assert res.status.tolist() == [IssueStatus.BAD_SIGNATURE, IssueStatus.REFUSED]
    assert res.reasons[1] == "screen"
    with pytest.raises(BatchArgumentError) as out_of_range:
        issuer.issue([good], not_before=NOW, not_after=NOW + 60,
                     screens=[lambda parsed: {5: (IssueStatus.REFUSED, "x")}])  # fmt: skip
    assert out_of_range.value.code == "batch-argument"
    with pytest.raises(BatchArgumentError):
        issuer.issue([good], not_before=NOW, not_after=NOW + 60,
                     screens=[lambda parsed: {0: (IssueStatus.ISSUED, "")}])  # fmt: skip


def test_parsed_batch_is_not_parsed_again(
    own_ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    csr_factory: CsrFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, cert = own_ca
    csrs = [csr_factory.make([("CN", f"d{n}")]) for n in range(3)]
    parsed = _native.parse_csrs(csrs)
    issuer = BatchIssuer.from_spec(SPEC, cert.public_bytes(Encoding.DER), software_key(key))

    def no_parse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed again")

    monkeypatch.setattr(batch._native, "parse_csrs", no_parse)
    res = issuer.issue(csrs, not_before=NOW, not_after=NOW + 60, parsed=parsed)
    assert res.issued_count == 3
    with pytest.raises(BatchArgumentError) as wrong:
        issuer.issue(csrs[:2], not_before=NOW, not_after=NOW + 60, parsed=parsed)
    assert wrong.value.code == "batch-argument"


class RecordingCommit:
    """A commit hook with no store: what it was told, in order."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.pieces: list[SignedPiece] = []
        self.allocated: list[str] = []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.events.append("begin")
        yield
        self.events.append("commit")

    def serials_allocated(self, serials: list[str]) -> None:
        self.events.append("serials")
        self.allocated = list(serials)

    def store_piece(self, piece: SignedPiece) -> None:
        self.events.append("piece")
        self.pieces.append(piece)

    def finish(self) -> None:
        self.events.append("finish")


@pytest.mark.parametrize("threads", [2, 1, "1-streamed"])
def test_streamed_and_sequential_commits_see_the_same_batch(
    own_ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    csr_factory: CsrFactory,
    monkeypatch: pytest.MonkeyPatch,
    threads: int | str,
) -> None:
    # threads=2 streams (pieces of 3); threads=1 signs once, or streams too once the
    # batch has two one-thread pieces (PIPELINE_PIECE_1T: pieces of 3, a verifier thread
    # ahead of the signer). Either way: one transaction, pieces in request order, every
    # serial announced before the last piece is stored, naming refusals and in-batch
    # duplicates left out, certificates only after commit.
    monkeypatch.setattr(batch, "PIPELINE_PIECE", 3)
    streamed = threads != 1
    if threads == "1-streamed":
        monkeypatch.setattr(batch, "PIPELINE_PIECE_1T", 3)
        monkeypatch.setattr(batch, "PIPELINE_LAST_1T", 2)
        threads = 1
    assert isinstance(threads, int)
    key, cert = own_ca
    csrs = [csr_factory.make([("CN", f"d{n}")]) for n in range(12)]
    csrs[7] = csrs[2]  # a duplicate, two pieces later

    def naming(parsed: _native.CsrBatch, ok: np.ndarray) -> tuple[list[int], list[str], list[Any]]:
        subjects = parsed.subjects()
        out: tuple[list[int], list[str], list[Any]] = ([], [], [])
        for j in ok.tolist():
            cn = subjects[j][-1][1]
            refused = cn == "d10"
            out[0].append(IssueStatus.SUBJECT_INVALID if refused else IssueStatus.ISSUED)
            out[1].append("d10 is not allowed" if refused else "")
            out[2].append(None if refused else [("O", "Embedder"), ("CN", cn)])
        return out

    issuer = BatchIssuer.from_spec(
        SPEC, cert.public_bytes(Encoding.DER), software_key(key), naming=naming
    )
    commit = RecordingCommit()
    res = issuer.issue(csrs, not_before=NOW, not_after=NOW + 60, threads=threads, commit=commit)
    want = [IssueStatus.ISSUED] * 12
    want[7], want[10] = IssueStatus.DUPLICATE_IN_BATCH, IssueStatus.SUBJECT_INVALID
    assert [IssueStatus(s) for s in res.status.tolist()] == want
    assert commit.events[0] == "begin" and commit.events[-2:] == ["finish", "commit"]
    assert commit.events.count("begin") == 1 and commit.events.count("serials") == 1
    pieces = commit.events.count("piece")
    assert pieces > 1 if streamed else pieces == 1
    assert commit.events.index("serials") < len(commit.events) - 3  # before the last piece
    stored_at = [i for p in commit.pieces for i in p.at]
    assert stored_at == [i for i in range(12) if i not in (7, 10)]
    serials = [s for p in commit.pieces for s in p.serials]
    assert serials == commit.allocated and len(set(serials)) == 10
    for p in commit.pieces:
        for i, serial, der in zip(p.at, p.serials, p.certificates, strict=True):
            assert der == res.certificates[i]
            issued = x509.load_der_x509_certificate(der)
            issued.verify_directly_issued_by(cert)
            assert format(issued.serial_number, "032x") == serial
            assert issued.subject.rfc4514_string() == f"CN=d{i},O=Embedder"
            assert abs(p.issued_at - time.time()) < 600


def test_outliving_the_issuer_is_refused(
    own_ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], csr_factory: CsrFactory
) -> None:
    key, cert = own_ca
    limit = int(cert.not_valid_after_utc.timestamp())
    issuer = BatchIssuer.from_spec(
        SPEC, cert.public_bytes(Encoding.DER), software_key(key),
        issuer_not_after=limit, issuer_label="the embedding CA",
    )  # fmt: skip
    res = issuer.issue([csr_factory.make([("CN", "late")])], not_before=NOW, not_after=limit + 1)
    assert res.status.tolist() == [IssueStatus.REFUSED]
    assert "the embedding CA's notAfter 2036-01-01T00:00:00Z" in res.reasons[0]


@pytest.mark.parametrize("threads", [1, 2])
def test_naming_may_give_the_sans(
    own_ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    csr_factory: CsrFactory,
    monkeypatch: pytest.MonkeyPatch,
    threads: int,
) -> None:
    # A naming rule's optional fourth list fills the template's SAN hole, item by item
    # (None: no SAN for that item), streamed (pieces of 3) or not; refused items keep
    # the SANs of the others in place.
    monkeypatch.setattr(batch, "PIPELINE_PIECE", 3)
    key, cert = own_ca
    spec = SPEC.replace('[{"type"', '[{"type": "subject_alt_name"}, {"type"')
    csrs = [csr_factory.make([("CN", f"h{n}.example")]) for n in range(8)]

    def naming(parsed: _native.CsrBatch, ok: np.ndarray) -> tuple[Any, Any, Any, Any]:
        subjects = parsed.subjects()
        cns = [subjects[j][-1][1] for j in ok.tolist()]
        refused = ["h3.example", "h6.example"]
        return (
            [IssueStatus.SUBJECT_INVALID if cn in refused else IssueStatus.ISSUED for cn in cns],
            ["refused" if cn in refused else "" for cn in cns],
            [None if cn in refused else [("CN", cn)] for cn in cns],
            [None if cn == "h5.example" else [("dns", cn), ("ip", "10.0.0.1")] for cn in cns],
        )

    issuer = BatchIssuer.from_spec(
        spec, cert.public_bytes(Encoding.DER), software_key(key), naming=naming
    )
    res = issuer.issue(csrs, not_before=NOW, not_after=NOW + 60, threads=threads)
    for i, der in enumerate(res.certificates):
        if i in (3, 6):
            assert der is None
            continue
        assert der is not None
        exts = x509.load_der_x509_certificate(der).extensions
        if i == 5:
            assert x509.SubjectAlternativeName not in [type(e.value) for e in exts]
            continue
        san = exts.get_extension_for_class(x509.SubjectAlternativeName)
        assert not san.critical
        assert san.value.get_values_for_type(x509.DNSName) == [f"h{i}.example"]


def _streamed_one_thread(issuer: BatchIssuer, csrs: list[bytes]) -> None:
    res = issuer.issue(csrs, not_before=NOW, not_after=NOW + 60, threads=1)
    assert res.issued_count == len(csrs)


def test_streamed_one_thread_batch_in_a_forked_child(
    own_ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    csr_factory: CsrFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The one-thread streamed batch parses, fills and signs each piece with threads=1,
    # on the calling threads and without rayon (threads.rs `place`): a child forked
    # after the parent used rayon's global pool (made here, whatever ran before) must
    # run its own batch, not wait on global workers that were never copied into it.
    monkeypatch.setattr(batch, "PIPELINE_PIECE_1T", 3)
    monkeypatch.setattr(batch, "PIPELINE_LAST_1T", 2)
    key, cert = own_ca
    csrs = [csr_factory.make([("CN", f"f{n}")]) for n in range(12)]
    assert (_native.parse_csrs(csrs, threads=None).status == 0).all()  # the global pool
    issuer = BatchIssuer.from_spec(SPEC, cert.public_bytes(Encoding.DER), software_key(key))
    _streamed_one_thread(issuer, csrs)
    assert_finishes_in_forked_child(_streamed_one_thread, issuer, csrs)
