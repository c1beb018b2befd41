"""Encode + sign N ROAs, each with its own fresh RSA-2048 EE key (issue 18 §1.9).

    PYTHONPATH=python python benches/rpki_roas.py --n 10000 [--threads T] [--json out.json]

Times, separately: ROA eContent encoding (``roa_content``, one native call per ROA),
RFC 3779 extnValue encoding for the EE certificates, the key generation phase and the
signing phase of ``rpki_sign_objects`` (EE certificate fill + CA signature + CMS +
EE signature), and, as the yardsticks of the same run, aws-lc's bare RSA-2048 signing
rate on the same threads (``bench_sign_key``; two signatures per object). The key
generation phase is aws-lc's own RSA-2048 keygen, nothing else, so it is its own
yardstick. Not timed: the TA certificate and the template.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from porthos import _native
from porthos._native import SoftwareKey, Template
from porthos.issuance.rpki_objects import (
    ObjectRequest,
    ObjectSigner,
    RoaPrefix,
    roa_content,
    roa_resources,
)
from porthos.issuance.rpki_resources import parse_resources

BASE = "rsync://rpki.example.net/repo/ta/"
POLICY = [{"oid": "1.3.6.1.5.5.7.14.2"}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    now = int(time.time())
    key = SoftwareKey.generate("rsa-2048")
    name = _native.encode_name([("CN", "bench TA")])
    ta_spec = {
        "extensions": [
            {"type": "basic_constraints", "ca": True},
            {"type": "subject_key_identifier"},
            {"type": "key_usage", "usages": ["key_cert_sign", "crl_sign"]},
            {"type": "certificate_policies", "critical": True, "policies": POLICY},
            {"type": "subject_info_access", "ca_repository": [BASE],
             "rpki_manifest": [BASE + "ta.mft"]},
            {"type": "ip_addr_blocks"},
            {"type": "as_identifiers"},
        ]
    }  # fmt: skip
    held = parse_resources("AS64496-64511, 10.0.0.0/8")
    ta = Template(
        json.dumps(ta_spec), name, _native.key_identifier(key.public_key_der()), "rsa-pkcs1-sha256"
    ).issue(
        key,
        serials=[b"\x01"],
        not_before=[now],
        not_after=[now + 86400],
        subjects=[[("CN", "bench TA")]],
        spkis=[key.public_key_der()],
        ip_addr_blocks=[held.ip_addr_blocks_der()],
        as_identifiers=[held.as_identifiers_der()],
    )[0]
    ee_spec = {
        "extensions": [
            {"type": "subject_key_identifier"},
            {"type": "authority_key_identifier"},
            {"type": "key_usage", "usages": ["digital_signature"]},
            {"type": "crl_distribution_points", "uris": [BASE + "ta.crl"]},
            {"type": "authority_info_access", "ca_issuers": ["rsync://rpki.example.net/ta.cer"]},
            {"type": "certificate_policies", "critical": True, "policies": POLICY},
            {"type": "subject_info_access"},
            {"type": "ip_addr_blocks"},
        ]
    }
    signer = ObjectSigner(Template.for_issuer(json.dumps(ee_spec), ta, "rsa-pkcs1-sha256"), key)
    n = a.n
    prefixes = [RoaPrefix(4, (10 << 24) | (i << 8), 24, 24 + i % 9) for i in range(n)]

    t0 = time.perf_counter()
    contents = [roa_content(64496 + i % 16, [p]) for i, p in enumerate(prefixes)]
    t_roa = time.perf_counter() - t0
    t0 = time.perf_counter()
    ips = [roa_resources([p]).ip_addr_blocks_der() for p in prefixes]
    sias = [_native.rpki_sia([("signed_object", f"{BASE}{i}.roa")]) for i in range(n)]
    t_ext = time.perf_counter() - t0
    reqs = [
        ObjectRequest(
            content=contents[i],
            serial=(1 << 40 | i).to_bytes(6, "big"),
            subject=[("CN", f"roa-{i}")],
            not_before=now,
            not_after=now + 86400,
            sia=sias[i],
            ip_addr_blocks=ips[i],
        )
        for i in range(n)
    ]
    t0 = time.perf_counter()
    out = signer.sign("roa", reqs, signing_time=now, threads=a.threads)
    t_call = time.perf_counter() - t0
    assert len(out.objects) == n and _native.verify_signed_data(out.objects[n - 1]).ok
    m = min(n, 2000)
    ee_key = SoftwareKey.generate("rsa-2048")
    t_bare = _native.bench_sign_key(ee_key, 2 * m, threads=a.threads)
    bare_sign_per_obj = t_bare / m  # two RSA-2048 signatures per object
    res = {
        "n": n,
        "threads": a.threads or os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "roa_encode_s": t_roa,
        "ext_encode_s": t_ext,
        "keygen_s": out.keygen_seconds,
        "sign_s": out.sign_seconds,
        "native_call_s": t_call,
        "keygen_ms_per_object": 1000 * out.keygen_seconds / n,
        "sign_ms_per_object": 1000 * out.sign_seconds / n,
        "bare_two_rsa_signs_ms_per_object": 1000 * bare_sign_per_obj,
        "sign_phase_over_bare": out.sign_seconds / n / bare_sign_per_obj,
        "objects_per_s_total": n / (t_roa + t_ext + t_call),
        "bytes_per_object": int(out.objects.offsets[-1]) / n,
    }
    print(json.dumps(res, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
