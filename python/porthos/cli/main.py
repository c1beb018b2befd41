"""The ``porthos`` command (click + rich): the ``main`` group and the registration of the
command modules, one per command group. Nothing else lives here; a command module
imports only cli/common.py, cli/options.py, cli/hsm_options.py, cli/outputs.py,
cli/lazy.py and lower layers.

Exit codes: 0 success; 3 some requests were rejected (``issue``); 2 usage or input
errors (click's own usage errors, and every porthos error: missing workspace, unknown
profile, unreadable file), always as one message line, never a traceback.

Start-up (issue 20 §1): a command module is imported only when its command runs. The
command modules pull in rich, the Rust extension and pyca; importing all of them cost
``porthos --help`` 0.11 s of a budget of 80 ms. ``COMMANDS`` names each command's
module and carries its one-line help, so ``--help`` lists every command without
importing any; tests/test_cli_startup.py checks that the listing equals the one the
loaded commands give, so the table cannot drift from the modules.
"""

from __future__ import annotations

import os

import click

from porthos import __version__
from porthos.cli.lazy import LazyCommand, LazyGroup

__all__ = ["COMMANDS", "LazyGroup", "main"]

# porthos does no linear algebra: NumPy's OpenBLAS gets one thread rather than a pool
# that spins beside the Rust threads (60-150 ms of CPU in a 1M-entry `crl build` on 2
# cores). Set before any command imports NumPy; a user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


_MAIN = "porthos.cli.main"

#: Every ``porthos`` command: name -> where it lives, and what ``--help`` says of it.
COMMANDS: dict[str, LazyCommand] = {
    "adopt": LazyCommand(
        "porthos.cli.adopt:adopt",
        "Take over an existing CA: its certificate and key become the workspace's CA.",
    ),
    "audit": LazyCommand(
        "porthos.cli.audit:audit_group",
        "The hash-chained audit trail (000 §5.4): verify, export, show.",
    ),
    "bench": LazyCommand(f"{_MAIN}:_bench_group", "Benchmarks (porthos.bench)."),
    "crl": LazyCommand("porthos.cli.crl:crl", "Certificate revocation lists (RFC 5280 §5)."),
    "cross-certify": LazyCommand(
        "porthos.cli.cross:cross_certify",
        "Issue a CA certificate to an external CA's request (a cross-certificate).",
    ),
    "cross-import": LazyCommand(
        "porthos.cli.cross:cross_import",
        "Import and publish a cross-certificate another CA issued to one of ours.",
    ),
    "demo": LazyCommand(
        "porthos.cli.demo:demo",
        "Init (if needed), issue COUNT certificates across all profiles, show rejections.",
    ),
    "export": LazyCommand(
        "porthos.cli.export:export", "Write the certificates of an issued batch (re-delivery)."
    ),
    "hsm": LazyCommand("porthos.cli.hsm:hsm_group", "PKCS#11 tokens and keys (porthos.hsm)."),
    "init": LazyCommand(
        "porthos.cli.workspace:init",
        "Create the CA hierarchy (000 §7.1.1-2) in a new workspace.",
    ),
    "issue": LazyCommand("porthos.cli.issue:issue", "Issue certificates for a file of CSRs."),
    "ocsp": LazyCommand(
        f"{_MAIN}:_ocsp_group",
        "OCSP (RFC 6960, RFC 5019): pre-signed responses and the delegated responder.",
    ),
    "ra": LazyCommand(
        "porthos.cli.ra:ra",
        "Registration authority: identity checks (000 §3.2.3), re-key (000 §4.7).",
    ),
    "revoke": LazyCommand(
        "porthos.cli.lifecycle:revoke",
        "Revoke certificates by serial (000 §4.9); their CAs' CRLs become due (§4.9.7).",
    ),
    "release": LazyCommand(
        "porthos.cli.suspension:release",
        "Take a certificate off hold: the next full CRL omits it.",
    ),
    "rollover": LazyCommand(
        "porthos.cli.changeover:rollover",
        "Create the next CA generation and the root link certificates (000 §5.6).",
    ),
    "rpki": LazyCommand(
        "porthos.cli.rpki:rpki",
        "The Resource PKI (RFC 6480): trust anchor, ROAs, child CAs, rsync publication.",
    ),
    "show": LazyCommand(
        "porthos.cli.workspace:show",
        "Show the CAs and the certificates issued per CA and profile.",
    ),
    "suspend": LazyCommand(
        "porthos.cli.suspension:suspend",
        "Put a certificate on hold (certificateHold): the next CRL lists it.",
    ),
    "terminate": LazyCommand(
        "porthos.cli.changeover:terminate",
        "Terminate the PKI (000 §5.8): revoke every unexpired certificate, publish final"
        " CRLs valid past the last expiry, then destroy the CA keys or export them to a"
        " successor token.",
    ),
    "verify-csrs": LazyCommand(
        "porthos.cli.verify:verify_csrs_command",
        "Parse every CSR in FILE (PEM bundle or one DER) and check its proof of possession.",
    ),
}


def _ocsp_group() -> click.Group:
    """``porthos ocsp``: pre-signing and rotation (cli/ocsp.py), and the responder
    (``serve``, cli/ocsp_serve.py)."""
    from porthos.cli import ocsp, ocsp_serve

    if "serve" not in ocsp.ocsp.commands:
        ocsp.ocsp.add_command(ocsp_serve.serve)
    return ocsp.ocsp


def _bench_group() -> click.Group:
    """``porthos bench``: each benchmark lives with its command group."""
    from porthos.bench import ifma, ocsp, rpki
    from porthos.cli import bench, crl, hsm, verify

    for command in (
        crl.bench_crl,
        hsm.bench_hsm,
        verify.bench_verify,
        ifma.command,
        ocsp.command,
        rpki.command,
    ):
        bench.bench.add_command(command)
    return bench.bench


@click.group(
    cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="porthos")
def main() -> None:
    """porthos: a certificate-authority signing engine."""


if __name__ == "__main__":  # pragma: no cover
    main()
