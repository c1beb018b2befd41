"""``porthos ocsp serve`` (issue 17); its benchmark is ``porthos bench ocsp --responder``
(bench/ocsp_serve.py).

serve runs the responder of rust/porthos-ocspd (hyper on tokio) over the pre-signed
responses that ``porthos ocsp presign`` writes under ``W/ocsp/<CA>/``, with the GIL
released. It signs on demand (nonce echo, unknown serial, a CertID hash without
pre-signed files) through ``OnDemandSigner(workdir).sign``, called from Rust's
blocking pool. SIGINT and SIGTERM stop it gracefully: no new connections, open
requests finish. docs/ocsp-responder.md has the rules and the figures.

Exit codes: 0 after a graceful shutdown; 2 usage or input errors (no ``W/ocsp``,
an unreadable CA folder, a port in use).
"""

from __future__ import annotations

import pkgutil
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from porthos.cli.common import errors_exit_2, fail, get_console
from porthos.cli.options import PIN_OPTIONS

__all__ = ["serve"]

#: The on-demand signer of ``porthos ocsp presign`` (workflows/ocsp_presign.py).
DEFAULT_SIGNER = "porthos.workflows.ocsp_presign:OnDemandSigner"


class OneThreadSigner:
    """A signer made, used and closed on one thread of its own. Rust calls ``sign`` from
    tokio's blocking pool, any of its threads, while the workspace behind
    ``OnDemandSigner`` holds a SQLite connection that only its opening thread may use;
    the caller waits on a future (GIL released) while that thread signs."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocsp-sign")
        try:
            self._signer = self._pool.submit(make).result()
        except BaseException:
            self._pool.shutdown()
            raise

    def sign(self, ca_name: str, serial: bytes, hash: str, nonce: bytes | None) -> bytes:
        der: bytes = self._pool.submit(self._signer.sign, ca_name, serial, hash, nonce).result()
        return der

    def close(self) -> None:
        close = getattr(self._signer, "close", None)
        if close is not None:
            self._pool.submit(close).result()
        self._pool.shutdown()


def load_signer(spec: str, workdir: Path, pin_file: Path | None = None) -> OneThreadSigner | None:
    """``MODULE:FACTORY`` → ``FACTORY(workdir)`` (``FACTORY(workdir, pin=PIN)`` with
    --pin-file: an HSM workspace's responder key is in the issuing-CA token), on a
    thread of its own; None when the default module is not installed (responses that
    need signing then get ``tryLater``)."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise click.BadParameter(f"{spec!r} is not MODULE:FACTORY", param_hint="--signer")
    try:
        factory = pkgutil.resolve_name(spec)
    except (ImportError, AttributeError):
        if spec != DEFAULT_SIGNER:
            raise click.BadParameter(f"cannot import {spec}", param_hint="--signer") from None
        return None
    if pin_file is None:
        return OneThreadSigner(lambda: factory(workdir))
    from porthos.hsm import read_pin

    pin = read_pin(pin_file, "PIN of the issuing-CA token")
    return OneThreadSigner(lambda: factory(workdir, pin=pin))


@click.command("serve")
@click.option(
    "--workdir",
    "-w",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The workspace; responses are read from WORKDIR/ocsp/<CA>/.",
)
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    help="IP:PORT to listen on; port 0 picks a free one (the address is printed).",
)
@click.option(
    "--max-body",
    type=click.IntRange(min=256, max=1 << 20),
    default=16384,
    show_default=True,
    help="Largest POST body in octets; larger ones get 413 before they are read.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=0, max=256),
    default=0,
    show_default=True,
    help="Async worker threads (0: one per core).",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=20000,
    show_default=True,
    help="Open connections at most; past it new ones wait in the kernel backlog.",
)
@click.option(
    "--signer",
    "signer_spec",
    default=DEFAULT_SIGNER,
    show_default=True,
    help="MODULE:FACTORY of the on-demand signer: FACTORY(workdir).sign(ca_name, serial,"
    " hash, nonce) -> DER.",
)
@click.option("--no-on-demand", is_flag=True, help="Never sign on demand (answer tryLater).")
@PIN_OPTIONS[0]
@errors_exit_2
def serve(
    workdir: Path,
    listen: str,
    max_body: int,
    threads: int,
    max_connections: int,
    signer_spec: str,
    no_on_demand: bool,
    pin_file: Path | None,
) -> None:
    """Serve the pre-signed OCSP responses (RFC 6960 POST, RFC 5019 GET) until SIGTERM."""
    from porthos._native import ocsp_serve

    if not (workdir / "ocsp").is_dir():
        fail(f"{workdir / 'ocsp'}: no pre-signed responses (run `porthos ocsp presign` first)")
    signer = None if no_on_demand else load_signer(signer_spec, workdir, pin_file)
    if signer is None and not no_on_demand:
        get_console(stderr=True).print(
            f"warning: {signer_spec} is not available: requests that need signing get tryLater"
        )

    def ready(address: str) -> None:
        # One line a supervisor (or a test) can read: where the responder listens.
        print(f"listening on http://{address}", flush=True)

    # The Rust side owns SIGINT/SIGTERM while it serves (graceful shutdown); Python's
    # own handlers would turn the same signal into a KeyboardInterrupt afterwards.
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        ocsp_serve(
            str(workdir),
            listen,
            signer=None if signer is None else signer.sign,
            ready=ready,
            max_body=max_body,
            threads=threads,
            max_connections=max_connections,
        )
    finally:
        if signer is not None:
            signer.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    print("stopped", flush=True)
