"""rpki-client (Debian ``rpki-client``, OpenBSD's validator) and FORT (Debian
``fort-validator``, NIC Mexico's) validate a publication point made by the engine,
offline from its TAL: a trust anchor, its CRL, a manifest and two ROAs give exactly
the VRPs they state, with no invalid object and no warning; a tampered ROA makes each
reject the whole publication point (RFC 9286 §6.4). Issue 18 §5, the start of it.

Every object is the engine's: the TA (rpki_certs), the CRL (the CRL writer of issue
4, empty), the manifest and ROAs (rpki_objects), the TAL (rpki_tal).
The repository is laid out as rpki-client 8 keeps its cache (``<host>/<path>`` for
rsync URIs, ``ta/<tal name>/`` for the TA certificate) and run with ``-n`` (no
network); rpki-client drops root to its own user, so the folder is world-readable.
FORT 1.5 reads ``--local-repository`` as ``<host>/<path>`` of every rsync URI, the TA
certificate included, with rsync and HTTP off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from porthos import _native
from porthos._native import SoftwareKey, Template
from porthos.issuance.rpki_certs import RPKI_POLICY_OID, trust_anchor_certificate
from porthos.issuance.rpki_objects import (
    ObjectRequest,
    ObjectSigner,
    manifest_content,
    parse_roa_prefix,
    roa_content,
    roa_resources,
)
from porthos.issuance.rpki_resources import parse_resources
from porthos.issuance.rpki_tal import tal_text

HOST = "rpki.example.net"
BASE = f"rsync://{HOST}/repo/ta/"
ROAS = {
    "r1.roa": (64496, ["192.0.2.0/24-26"]),
    "r2.roa": (64497, ["2001:db8::/32-48", "192.0.2.128/25"]),
}
EXPECTED = {
    (64496, "192.0.2.0/24", 26),
    (64497, "192.0.2.128/25", 25),
    (64497, "2001:db8::/32", 48),
}
EE_SPEC = {
    "extensions": [
        {"type": "subject_key_identifier"},
        {"type": "authority_key_identifier"},
        {"type": "key_usage", "usages": ["digital_signature"]},
        {"type": "crl_distribution_points", "uris": [BASE + "ta.crl"]},
        {"type": "authority_info_access", "ca_issuers": [f"rsync://{HOST}/ta.cer"]},
        {"type": "certificate_policies", "critical": True, "policies": [{"oid": RPKI_POLICY_OID}]},
        {"type": "subject_info_access"},
        {"type": "ip_addr_blocks"},
        {"type": "as_identifiers"},
    ]
}


def _publication_point(root: Path) -> None:
    now = int(time.time()) - 3600
    key = SoftwareKey.generate("rsa-2048")
    ta = trust_anchor_certificate(
        key,
        common_name="porthos rpki-client test TA",
        resources=parse_resources("AS64496-64511, 192.0.2.0/24, 2001:db8::/32"),
        serial=b"\x01",
        not_before=now,
        not_after=now + 365 * 86400,
        ca_repository=BASE,
        rpki_manifest=BASE + "ta.mft",
    )
    cache = root / "cache"
    pub = cache / HOST / "repo" / "ta"
    pub.mkdir(parents=True)
    (cache / "ta" / "ta").mkdir(parents=True)
    (cache / "ta" / "ta" / "ta.cer").write_bytes(ta)
    cert = x509.load_der_x509_certificate(ta)
    # The engine's own CRL writer: no entries, AKI and CRLNumber (RFC 6487 §5).
    crl = _native.crl_drafts(
        ta,
        np.zeros((0, 20), np.uint8),
        np.zeros(0, np.int64),
        np.zeros(0, np.uint8),
        crl_numbers=[b"\x01"],
        this_update=now,
        next_update=now + 2 * 86400,
        signature_algorithm="rsa-pkcs1-sha256",
    ).sign(key)[0]
    (pub / "ta.crl").write_bytes(crl)
    signer = ObjectSigner(Template.for_issuer(json.dumps(EE_SPEC), ta, "rsa-pkcs1-sha256"), key)

    def request(content: bytes, serial: int, name: str, **res: bytes | None) -> ObjectRequest:
        return ObjectRequest(
            content=content,
            serial=serial.to_bytes(1, "big"),
            subject=[("CN", name)],
            not_before=now,
            not_after=now + 2 * 86400,
            sia=_native.rpki_sia([("signed_object", BASE + name)]),
            **res,  # type: ignore[arg-type]
        )

    reqs = [
        request(
            roa_content(asn, ps),
            10 + i,
            name,
            ip_addr_blocks=roa_resources([parse_roa_prefix(p) for p in ps]).ip_addr_blocks_der(),
        )
        for i, (name, (asn, ps)) in enumerate(ROAS.items())
    ]
    objects = signer.sign("roa", reqs, signing_time=now).objects
    files = [("ta.crl", crl)]
    for name, obj in zip(ROAS, objects, strict=True):
        (pub / name).write_bytes(obj)
        files.append((name, obj))
    empty = parse_resources("")
    mft = signer.sign(
        "manifest",
        [
            request(
                manifest_content(1, now, now + 2 * 86400, files),
                5,
                "ta.mft",
                ip_addr_blocks=empty.ip_addr_blocks_der(inherit_ipv4=True, inherit_ipv6=True),
                as_identifiers=empty.as_identifiers_der(inherit=True),
            )
        ],
        signing_time=now,
    ).objects[0]
    (pub / "ta.mft").write_bytes(mft)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (root / "ta.tal").write_text(tal_text([f"rsync://{HOST}/ta.cer"], spki))
    (root / "out").mkdir()


@pytest.fixture
def point() -> Iterator[Path]:
    for tool in ("rpki-client", "fort"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (Makefile DEB_PACKAGES installs it)")
    root = Path(tempfile.mkdtemp(prefix="porthos-rpki-", dir="/tmp"))
    try:
        _publication_point(root)
        for d, _, names in os.walk(root):
            os.chmod(d, 0o777)
            for n in names:
                os.chmod(os.path.join(d, n), 0o666)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _validate(root: Path) -> tuple[set[tuple[int, str, int]], str]:
    run = subprocess.run(
        ["rpki-client", "-n", "-j", "-d", str(root / "cache"), "-t", str(root / "ta.tal"),
         str(root / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    doc = json.loads((root / "out" / "json").read_text())
    return {(r["asn"], r["prefix"], r["maxLength"]) for r in doc["roas"]}, run.stderr


def test_rpki_client_validates_the_publication_point(point: Path) -> None:
    vrps, stderr = _validate(point)
    assert vrps == EXPECTED
    assert stderr.strip() == "", stderr  # no warning of any kind


def test_rpki_client_rejects_a_tampered_roa(point: Path) -> None:
    path = point / "cache" / HOST / "repo" / "ta" / "r2.roa"
    der = bytearray(path.read_bytes())
    der[-1] ^= 0x01  # the last octet of the EE signature
    path.write_bytes(bytes(der))
    vrps, stderr = _validate(point)
    # The manifest's hash of r2.roa no longer matches: RFC 9286 §6.4, the whole
    # publication point is rejected, r1.roa's VRP with it.
    assert vrps == set()
    assert "r2.roa" in stderr, stderr


def _fort(root: Path) -> tuple[set[tuple[int, str, int]], list[str]]:
    """FORT over the same files: (VRPs, validation log lines other than the notice
    that the TA certificate is read from local files, which rsync off implies)."""
    local = root / "fort"
    shutil.copytree(root / "cache" / HOST, local / HOST)
    shutil.copy(root / "cache" / "ta" / "ta" / "ta.cer", local / HOST / "ta.cer")
    csv = root / "vrps.csv"
    run = subprocess.run(
        ["fort", "--mode=standalone", "--tal", str(root / "ta.tal"),
         "--local-repository", str(local), "--rsync.enabled=false", "--http.enabled=false",
         "--validation-log.enabled=true", "--validation-log.level=warning",
         "--output.roa", str(csv)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    log = [
        line
        for line in (run.stdout + run.stderr).splitlines()
        if "[Validation]" in line
        and "Looking for the TA certificate at the local files" not in line
    ]
    vrps = set()
    if csv.exists():
        for row in csv.read_text().splitlines()[1:]:
            asn, prefix, max_len = row.split(",")
            vrps.add((int(asn.removeprefix("AS")), prefix, int(max_len)))
    return vrps, log


def test_fort_validates_the_publication_point(point: Path) -> None:
    vrps, log = _fort(point)
    assert vrps == EXPECTED
    assert log == []


def test_fort_rejects_a_tampered_roa(point: Path) -> None:
    path = point / "cache" / HOST / "repo" / "ta" / "r2.roa"
    der = bytearray(path.read_bytes())
    der[-1] ^= 0x01
    path.write_bytes(bytes(der))
    vrps, log = _fort(point)
    assert vrps == set()
    assert any("r2.roa" in line and "manifest hash" in line for line in log), log
