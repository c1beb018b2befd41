"""`porthos bench ocsp`: OCSP pre-signing (issue 17) against its peers, in one run.

For each responder key (P-256, RSA-2048), on ONE thread, chunk by chunk in turn (a
chunk of porthos, the same count of bare signatures, a slice of pyca: a shared
machine's load then falls on all three alike):

* porthos: fill + sign + assemble ``n`` complete OCSPResponses
  (``OcspTemplate.sign(threads=1)``, in chunks so memory stays flat; the DER is
  produced and dropped, as pre-signing writes each chunk out);
* bare aws-lc-rs signing of the same count (``_native.bench_sign_key``: 400-octet
  messages, the key's own algorithm): the floor; goal fill+sign <= 1.2x of it;
* pyca/cryptography ``OCSPResponseBuilder`` making the same responses (same CA,
  responder, CertID hash, statuses, times), on a sample (``--pyca-sample``): its rate
  is extrapolated, and said so; goal porthos >= 20x pyca.

Also porthos on every core (the rate pre-signing gets), and the peak RSS of the
process. Medians over ``--repeats``; ratios come from the same run, since the machine
is shared. ``--responder`` runs the responder bench instead, when bench/ocsp_serve.py
is present: its ``run(json_out=...)`` returns the JSON-able result.
"""

from __future__ import annotations

import datetime as dt
import json
import resource
import statistics
import sys
import time
from typing import Any

import click
import numpy as np

from porthos import _native
from porthos.issuance import ocsp

T0 = 1_767_225_600  # 2026-01-01
CHUNK = 65_536


def _pki(kind: str) -> tuple[Any, Any, Any, _native.SoftwareKey, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def cert(cn: str, key: Any, signer: Any, ca: bool) -> Any:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench CA")])
        b = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2035, 1, 1, tzinfo=dt.UTC))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), True)
        return b.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = cert("Bench CA", ca_key, ca_key, True)
    if kind == "ec-p256":
        key: Any = ec.generate_private_key(ec.SECP256R1())
        alg = "ecdsa-sha256"
    else:
        key = rsa.generate_private_key(65537, 2048)
        alg = "rsa-pkcs1-sha256"
    responder = cert("Bench OCSP", key, ca_key, False)
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return ca, responder, key, _native.SoftwareKey.from_pkcs8(pkcs8), alg


def _columns(n: int) -> ocsp.ResponseColumns:
    serials = _native.generate_serials(n, 16)
    status = np.zeros(n, np.uint8)
    status[::10] = ocsp.REVOKED  # one in ten revoked, with keyCompromise
    reasons = np.full(n, ocsp.REASON_NONE, np.uint8)
    reasons[::10] = 1
    return ocsp.ResponseColumns(serials, status, np.full(n, T0 - 86400, np.int64), reasons)


def _slice(cols: ocsp.ResponseColumns, a: int, b: int) -> tuple[Any, ...]:
    return (cols.serials[a:b], cols.status[a:b], cols.revocation_times[a:b], cols.reasons[a:b])


def _porthos(tpl: Any, key: Any, cols: ocsp.ResponseColumns, threads: int | None) -> float:
    start = time.perf_counter()
    for a in range(0, len(cols), CHUNK):
        batch = tpl.sign(key, *_slice(cols, a, min(a + CHUNK, len(cols))), this_update=T0,
                         next_update=T0 + 86400, produced_at=T0, threads=threads)  # fmt: skip
        del batch
    return time.perf_counter() - start


def _interleaved(
    tpl: Any, key: Any, pyca: tuple[Any, Any, Any], cols: ocsp.ResponseColumns, sample: int
) -> tuple[float, float, float, int]:
    """porthos (one thread), bare aws-lc and pyca, chunk by chunk in turn, so that a
    shared machine's load falls on the three alike: (porthos s, bare s, pyca s, pyca
    responses made)."""
    n = len(cols)
    chunks = range(0, n, CHUNK)
    per_chunk = -(-sample // len(chunks))
    tp = tb = ty = 0.0
    made = 0
    for a in chunks:
        b = min(a + CHUNK, n)
        start = time.perf_counter()
        batch = tpl.sign(key, *_slice(cols, a, b), this_update=T0, next_update=T0 + 86400,
                         produced_at=T0, threads=1)  # fmt: skip
        tp += time.perf_counter() - start
        del batch
        tb += _native.bench_sign_key(key, b - a, 1)
        k = min(per_chunk, b - a, sample - made)
        if k > 0:
            ty += _pyca(*pyca, cols.take(np.arange(a, a + k)))
            made += k
    return tp, tb, ty, made


def _pyca(ca: Any, responder: Any, key: Any, cols: ocsp.ResponseColumns) -> float:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from cryptography.x509 import ocsp as pyocsp

    def sha1(data: bytes) -> bytes:
        h = hashes.Hash(hashes.SHA1())
        h.update(data)
        return h.finalize()

    name_hash = sha1(ca.subject.public_bytes())
    key_hash = sha1(ca.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))
    tu, nu = dt.datetime.fromtimestamp(T0, dt.UTC), dt.datetime.fromtimestamp(T0 + 86400, dt.UTC)
    rev = dt.datetime.fromtimestamp(T0 - 86400, dt.UTC)
    serials = [int.from_bytes(r.tobytes(), "big") for r in cols.serials]
    start = time.perf_counter()
    for i, serial in enumerate(serials):
        revoked = cols.status[i] == ocsp.REVOKED
        b = pyocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=name_hash, issuer_key_hash=key_hash, serial_number=serial,
            algorithm=hashes.SHA1(),
            cert_status=pyocsp.OCSPCertStatus.REVOKED if revoked else pyocsp.OCSPCertStatus.GOOD,
            this_update=tu, next_update=nu, revocation_time=rev if revoked else None,
            revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
        )  # fmt: skip
        b = b.responder_id(pyocsp.OCSPResponderEncoding.HASH, responder).certificates([responder])
        b.sign(key, hashes.SHA256()).public_bytes(Encoding.DER)
    return time.perf_counter() - start


def run(
    n: int,
    rsa_n: int,
    repeats: int,
    pyca_sample: int,
    kinds: tuple[str, ...] = ("ec-p256", "rsa-2048"),
) -> dict[str, Any]:
    if _native.BUILD_PROFILE != "release":
        raise click.UsageError("benchmarks need a release build of porthos._native")
    out: dict[str, Any] = {"command": " ".join(sys.argv), "chunk": CHUNK, "keys": {}}
    for kind in kinds:
        count = n if kind == "ec-p256" else rsa_n
        ca, responder, pkey, key, alg = _pki(kind)
        from cryptography.hazmat.primitives.serialization import Encoding

        tpl = ocsp.OcspTemplate(
            responder.public_bytes(Encoding.DER), ca.public_bytes(Encoding.DER), alg, "sha1"
        )
        cols = _columns(count)
        one, bare, allc, pyca = [], [], [], []
        made = 0
        for _ in range(repeats):
            tp, tb, ty, made = _interleaved(tpl, key, (ca, responder, pkey), cols, pyca_sample)
            one.append(tp)
            bare.append(tb)
            pyca.append(ty)
            allc.append(_porthos(tpl, key, cols, None))
        t1, tb, ta, tp = (statistics.median(x) for x in (one, bare, allc, pyca))
        rate1, rate_p = count / t1, made / tp
        pairs = [o / b for o, b in zip(one, bare, strict=True)]
        out["keys"][kind] = {
            "n": count,
            "signature_algorithm": alg,
            "porthos_one_thread_s": t1,
            "porthos_one_thread_per_s": rate1,
            "bare_aws_lc_s": tb,
            "bare_aws_lc_per_s": count / tb,
            "fill_sign_over_bare": t1 / tb,
            "fill_sign_over_bare_per_repeat": pairs,
            "porthos_all_cores_per_s": count / ta,
            "pyca_sample": made,
            "pyca_per_s": rate_p,
            "porthos_over_pyca": rate1 / rate_p,
            "runs": {"one": one, "bare": bare, "all": allc, "pyca": pyca},
        }
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"OCSP pre-signing, one thread (peak RSS {result['peak_rss_mib']:.0f} MiB)")
    for col in ("key", "N", "porthos /s", "bare aws-lc /s", "fill+sign / bare", "pyca /s (sample)",
                "porthos / pyca", "porthos all cores /s"):  # fmt: skip
        t.add_column(col, justify="right")
    for kind, r in result["keys"].items():
        t.add_row(
            kind, f"{r['n']:,}", f"{r['porthos_one_thread_per_s']:,.0f}",
            f"{r['bare_aws_lc_per_s']:,.0f}", f"{r['fill_sign_over_bare']:.3f}x",
            f"{r['pyca_per_s']:,.0f} ({r['pyca_sample']:,})", f"{r['porthos_over_pyca']:.1f}x",
            f"{r['porthos_all_cores_per_s']:,.0f}",
        )  # fmt: skip
    Console(stderr=True).print(t)


@click.command("ocsp")
@click.option("--n", "n", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="Responses with the P-256 responder key.")  # fmt: skip
@click.option("--rsa-n", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Responses with the RSA-2048 responder key.")  # fmt: skip
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--pyca-sample", type=click.IntRange(min=1), default=2_000, show_default=True,
              help="pyca makes this many responses (its rate is extrapolated).")  # fmt: skip
@click.option("--key", "kinds", multiple=True, type=click.Choice(["ec-p256", "rsa-2048"]),
              help="Only these responder keys (default: both).")  # fmt: skip
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None)
@click.option("--responder", is_flag=True,
              help="The responder bench (bench/ocsp_serve.py), not pre-signing.")  # fmt: skip
@click.pass_context
def command(ctx: click.Context, n: int, rsa_n: int, repeats: int, pyca_sample: int,
            kinds: tuple[str, ...], json_out: str | None, responder: bool) -> None:  # fmt: skip
    """OCSP pre-signing vs pyca OCSPResponseBuilder and bare aws-lc (JSON on stdout)."""
    if responder:
        from rich.console import Console

        from porthos.bench import ocsp_serve

        result = ocsp_serve.run(json_out=json_out)
        ocsp_serve.print_table(result, Console(stderr=True))
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    result = run(n, rsa_n, repeats, pyca_sample, kinds or ("ec-p256", "rsa-2048"))
    _table(result)
    text = json.dumps(result, indent=2)
    if json_out:
        with open(json_out, "w") as f:
            f.write(text + "\n")
    sys.stdout.write(text + "\n")
