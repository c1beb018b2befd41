"""The incremental publication point (``_native.PointState``, issue 18 §6): the same
manifest content and the same CRL as the one-shot path, one pooled key per re-issue,
bad input refused with nothing changed, and rpki-client and FORT accept the point it
signs, before and after a one-ROA change (the validator harness of
test_rpki_client.py)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from error_codes import raises_code
from porthos import _native
from porthos._native import PointState, RsaKeyPool, SoftwareKey, Template
from porthos.exceptions import BatchArgumentError, EncodeError
from porthos.issuance.crl import INVALIDITY_NONE, REASON_NONE
from porthos.issuance.rpki_certs import trust_anchor_certificate
from porthos.issuance.rpki_objects import (
    ObjectRequest,
    ObjectSigner,
    manifest_content,
    parse_manifest,
    parse_roa_prefix,
    roa_content,
    roa_resources,
)
from porthos.issuance.rpki_resources import parse_resources
from porthos.issuance.rpki_tal import tal_text
from test_rpki_client import BASE, EE_SPEC, EXPECTED, HOST, ROAS, _fort, _validate

HOUR = 3600


class Point:
    """A TA publication point whose manifest and CRL come from PointState.reissue."""

    def __init__(self, root: Path, now: int) -> None:
        self.root, self.now = root, now
        self.key = SoftwareKey.generate("rsa-2048")
        self.ta = trust_anchor_certificate(
            self.key,
            common_name="porthos point test TA",
            resources=parse_resources("AS64496-64511, 192.0.2.0/24, 2001:db8::/32"),
            serial=b"\x01",
            not_before=now,
            not_after=now + 365 * 86400,
            ca_repository=BASE,
            rpki_manifest=BASE + "ta.mft",
        )
        self.template = Template.for_issuer(json.dumps(EE_SPEC), self.ta, "rsa-pkcs1-sha256")
        self.signer = ObjectSigner(self.template, self.key)
        self.pool = RsaKeyPool()
        self.pool.fill(6)
        self.state = PointState()
        self.number = 0
        self.serial = 100
        self.ee_serials: dict[str, bytes] = {}
        self.pub = root / "cache" / HOST / "repo" / "ta"
        self.pub.mkdir(parents=True)
        (root / "cache" / "ta" / "ta").mkdir(parents=True)
        (root / "cache" / "ta" / "ta" / "ta.cer").write_bytes(self.ta)
        spki = (
            x509.load_der_x509_certificate(self.ta)
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        (root / "ta.tal").write_text(tal_text([f"rsync://{HOST}/ta.cer"], spki))
        (root / "out").mkdir()

    def _next_serial(self) -> bytes:
        self.serial += 1
        return self.serial.to_bytes(2, "big")

    def publish_roas(self, roas: dict[str, tuple[int, list[str]]]) -> None:
        reqs = []
        for name, (asn, ps) in roas.items():
            serial = self._next_serial()
            self.ee_serials[name] = serial
            reqs.append(
                ObjectRequest(
                    content=roa_content(asn, ps),
                    serial=serial,
                    subject=[("CN", name)],
                    not_before=self.now,
                    not_after=self.now + 2 * 86400,
                    sia=_native.rpki_sia([("signed_object", BASE + name)]),
                    ip_addr_blocks=roa_resources(
                        [parse_roa_prefix(p) for p in ps]
                    ).ip_addr_blocks_der(),
                )
            )
        out = self.signer.sign("roa", reqs, signing_time=self.now, key_pool=self.pool)
        objects = list(out.objects)
        for name, obj in zip(roas, objects, strict=True):
            (self.pub / name).write_bytes(obj)
        self.state.set_files(list(roas), objects)

    def reissue(self) -> tuple[bytes, bytes]:
        self.number += 1
        empty = parse_resources("")
        mft, crl = self.state.reissue(
            self.template,
            self.key,
            self.ta,
            self.pool,
            crl_name="ta.crl",
            manifest_number=self.number.to_bytes(1, "big"),
            crl_number=self.number.to_bytes(1, "big"),
            this_update=self.now,
            next_update=self.now + 2 * 86400,
            ee_serial=self._next_serial(),
            ee_subject=[("CN", "ta.mft")],
            sia=_native.rpki_sia([("signed_object", BASE + "ta.mft")]),
            ip_addr_blocks=empty.ip_addr_blocks_der(inherit_ipv4=True, inherit_ipv6=True),
            as_identifiers=empty.as_identifiers_der(inherit=True),
            signing_time=self.now,
        )
        (self.pub / "ta.crl").write_bytes(crl)
        (self.pub / "ta.mft").write_bytes(mft)
        for d, _, names in os.walk(self.root):
            os.chmod(d, 0o777)  # rpki-client drops root to its own user
            for n in names:
                os.chmod(os.path.join(d, n), 0o666)
        return mft, crl


@pytest.fixture
def point() -> Iterator[Point]:
    root = Path(tempfile.mkdtemp(prefix="porthos-point-", dir="/tmp"))
    try:
        yield Point(root, int(time.time()) - HOUR)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _one_shot_crl(p: Point, revoked: list[bytes], number: int) -> bytes:
    serials = np.zeros((len(revoked), 20), np.uint8)
    for i, s in enumerate(revoked):
        serials[i, 20 - len(s) :] = np.frombuffer(s, np.uint8)
    return _native.crl_drafts(
        p.ta,
        serials,
        np.full(len(revoked), p.now, np.int64),
        np.full(len(revoked), REASON_NONE, np.uint8),
        crl_numbers=[number.to_bytes(1, "big")],
        this_update=p.now,
        next_update=p.now + 2 * 86400,
        signature_algorithm="rsa-pkcs1-sha256",
        invalidity_dates=np.full(len(revoked), INVALIDITY_NONE, np.int64),
    ).sign(p.key)[0]


def test_same_content_and_crl_as_the_one_shot_path(point: Point) -> None:
    p = point
    p.publish_roas(ROAS)
    before = len(p.pool)
    mft, crl = p.reissue()
    assert len(p.pool) == before - 1  # one one-time key per manifest, from the pool
    # RSA PKCS#1 v1.5 is deterministic: the same CRL, octet for octet.
    assert crl == _one_shot_crl(p, [], 1)
    files = sorted([(n, (p.pub / n).read_bytes()) for n in ROAS] + [("ta.crl", crl)])
    info = _native.verify_signed_data(mft)
    assert info.status == 0, info.detail
    assert info.content == manifest_content(1, p.now, p.now + 2 * 86400, files)
    assert info.content == p.state.manifest_content(b"\x01", p.now, p.now + 2 * 86400)
    # One ROA replaced, its EE certificate revoked (RFC 6487 §5): still the same.
    p.state.revoke(p.ee_serials["r2.roa"], p.now)
    p.publish_roas({"r2.roa": (64498, ["192.0.2.128/25"])})
    mft2, crl2 = p.reissue()
    assert crl2 == _one_shot_crl(p, [b"\x00\x66"], 2)  # serial 102: the first r2.roa's
    files = sorted([(n, (p.pub / n).read_bytes()) for n in ROAS] + [("ta.crl", crl2)])
    content = _native.verify_signed_data(mft2).content
    assert content == manifest_content(2, p.now, p.now + 2 * 86400, files)
    assert parse_manifest(content).number == 2  # type: ignore[arg-type]


def test_bad_input_changes_nothing(point: Point) -> None:
    p = point
    p.publish_roas(ROAS)
    with raises_code(EncodeError, "encode"):
        p.state.set_files(["ok.roa", "../bad.roa"], [b"a", b"b"])
    assert len(p.state) == 2 and p.state.file_hash("ok.roa") is None
    with raises_code(BatchArgumentError, "batch-argument"):
        p.state.set_files(["a.roa"], [b"a", b"b"])
    with raises_code(EncodeError, "encode"):
        p.state.revoke(b"\x00", p.now)
    keys = len(p.pool)
    with raises_code(EncodeError, "encode"):  # a manifest cannot list a .roa as the CRL
        p.state.reissue(
            p.template, p.key, p.ta, p.pool, crl_name="r1.roa",
            manifest_number=b"\x01", crl_number=b"\x01", this_update=p.now,
            next_update=p.now + 60, ee_serial=b"\x09", ee_subject=[("CN", "m")],
            sia=b"", ip_addr_blocks=b"", as_identifiers=b"", signing_time=p.now,
        )  # fmt: skip
    assert len(p.pool) == keys  # a refused call takes no key
    assert p.state.remove_file("r1.roa") and not p.state.remove_file("r1.roa")


def test_rpki_client_and_fort_accept_the_incremental_point(point: Point) -> None:
    for tool in ("rpki-client", "fort"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (Makefile DEB_PACKAGES installs it)")
    p = point
    p.publish_roas(ROAS)
    p.reissue()
    vrps, stderr = _validate(p.root)
    assert vrps == EXPECTED and stderr.strip() == "", stderr
    assert _fort(p.root) == (EXPECTED, [])
    # One ROA changed: new r2.roa, the old one's EE certificate on the CRL.
    p.state.revoke(p.ee_serials["r2.roa"], p.now)
    p.publish_roas({"r2.roa": (64498, ["192.0.2.128/25"])})
    p.reissue()
    shutil.rmtree(p.root / "fort", ignore_errors=True)
    want = {(64496, "192.0.2.0/24", 26), (64498, "192.0.2.128/25", 25)}
    vrps, stderr = _validate(p.root)
    assert vrps == want and stderr.strip() == "", stderr
    assert _fort(p.root) == (want, [])
