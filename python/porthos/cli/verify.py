"""``porthos verify-csrs FILE [--json OUT]`` and ``porthos bench verify``.

verify-csrs reads a PEM bundle (any number of ``CERTIFICATE REQUEST`` blocks) or one
DER request, runs the batch engine (:func:`porthos.issuance.verify.verify_csrs`: parse + proof
of possession, all cores, GIL released) and prints a summary per status.

Exit codes: 0 every request is OK; 3 some request is not (the same code as ``issue``
for rejected requests); 2 usage or input errors.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from porthos.cli.common import EXIT_REJECTED, errors_exit_2, fail, flatten, get_console
from porthos.issuance.inputs import read_input
from porthos.status import CsrStatus


def read_requests(data: bytes) -> list[bytes]:
    """The DER requests of a PEM bundle, or ``[data]`` for DER input, through the one
    PEM splitter of the package (issuance/csr_input.py: linear time, RFC 7468 §7 labels).
    A block that cannot be decoded raises ValueError naming the block."""
    from porthos.issuance.csr_input import looks_pem, split_csr_pem

    if not looks_pem(data):
        if data[:1] != b"\x30":
            # Not a DER SEQUENCE either: one clear line, not a MALFORMED table.
            raise ValueError("neither a PEM bundle nor a DER CSR" if data else "empty file")
        return [data]
    out = []
    for i, item in enumerate(split_csr_pem(data)):
        if item.der is None:
            raise ValueError(f"PEM block {i}: {item.error}")
        out.append(item.der)
    return out


@click.command("verify-csrs")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write every item's status (and reason when not OK) as JSON.",
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Worker threads.")
@errors_exit_2
def verify_csrs_command(file: Path, json_out: str | None, threads: int | None) -> None:
    """Parse every CSR in FILE (PEM bundle or one DER) and check its proof of possession."""
    from porthos.issuance.verify import verify_csrs

    try:
        requests = read_requests(read_input(file, "FILE"))
    except ValueError as exc:
        fail(f"{file}: {exc}")
    if not requests:
        fail(f"{file}: no CERTIFICATE REQUEST found")
    t0 = time.perf_counter()
    status, details = verify_csrs(requests, threads=threads)
    seconds = time.perf_counter() - t0
    codes = status.tolist()
    counts = {s.name: codes.count(int(s)) for s in CsrStatus}
    items = [
        {"index": i, "status": CsrStatus(c).name, "code": c, "detail": details.detail(i)}
        for i, c in enumerate(codes)
        if c != CsrStatus.OK
    ]
    table = Table(title=f"{file.name}: {len(codes)} requests in {seconds:.3f} s")
    table.add_column("status")
    table.add_column("count", justify="right")
    for name, count in counts.items():
        table.add_row(name, str(count))
    console = get_console()
    console.print(table)
    for item in items[:20]:
        console.print(f"  [{item['index']}] {item['status']}: {item['detail']}")
    if len(items) > 20:
        console.print(f"  … {len(items) - 20} more (see --json)")
    if json_out:
        report = {
            "file": str(file),
            "n": len(codes),
            "seconds": seconds,
            "counts": counts,
            "status_codes": {s.name: int(s) for s in CsrStatus},
            "not_ok": items,
        }
        Path(json_out).write_text(json.dumps(report, indent=2) + "\n")
    if items:
        raise SystemExit(EXIT_REJECTED)


@click.command("verify")
@click.option("--n", "n", type=click.IntRange(min=1), default=100000, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Threads for the all-cores variants (default: every core).",
)
@click.option("--openssl-seconds", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None)
@errors_exit_2
def bench_verify(
    n: int, repeats: int, threads: int | None, openssl_seconds: int, json_out: str | None
) -> None:
    """Batch verification against openssl speed and pyca/cryptography."""
    from porthos.bench import verify as bench_verify_module

    result: dict[str, Any] = bench_verify_module.run(
        n=n,
        repeats=repeats,
        threads=threads,
        openssl_seconds=openssl_seconds,
        json_out=json_out,
    )
    table = Table(title=f"bench verify (n={n}, repeats={repeats})")
    table.add_column("key")
    table.add_column("value")
    for key, value in flatten({k: result[k] for k in ("ratios", "targets", "load")}):
        table.add_row(key, value)
    get_console().print(table)
