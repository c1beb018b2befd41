"""The ``porthos`` command (click + rich).

Exit codes: 0 success; 3 some requests were rejected (``issue``); 2 usage or input
errors (click's own usage errors, and every porthos error: missing workspace, unknown
profile, unreadable file), always as one message line, never a traceback.
"""

from __future__ import annotations

import functools
import json
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from porthos import __version__
from porthos.cli_hsm_options import hsm_init_options, hsm_setup_from_options
from porthos.cli_options import WORKDIR, when_utc
from porthos.exceptions import PorthosError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

    from porthos.ca import IssueResult, Workspace

F = TypeVar("F", bound=Callable[..., Any])

EXIT_REJECTED = 3
EXIT_INPUT = 2


def _console(stderr: bool = False) -> Console:
    # Not a terminal (pipes, CliRunner): wide enough that subjects are not folded.
    width = None if sys.stdout.isatty() else 160
    return Console(stderr=stderr, width=width, highlight=False)


def _fail(message: str) -> None:
    # Escaped: rich would read "[hsm-pin]" (the error code) or "porthos[plot]" as markup.
    _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}")
    sys.exit(EXIT_INPUT)


def _errors_exit_2(func: F) -> F:
    """porthos errors and file errors -> one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except PorthosError as exc:
            _audit_failure(kwargs, exc)
            _fail(f"{exc} [{exc.code}]")
        except OSError as exc:
            _audit_failure(kwargs, exc)
            _fail(str(exc))
        except ImportError as exc:
            _fail(f"porthos is not fully built: {exc}")
        except Exception as exc:
            _audit_failure(kwargs, exc)
            raise
        return None

    return wrapper  # type: ignore[return-value]


def _audit_failure(kwargs: dict[str, Any], exc: BaseException) -> None:
    # 000 §5.4.1 "failures": a command that fails in a workspace leaves a record there
    # (cli_audit.record_command_failure; the actor is $PORTHOS_ACTOR or the OS user).
    from porthos.cli_audit import record_command_failure

    names = []
    ctx = click.get_current_context(silent=True)
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name or "")
        ctx = ctx.parent
    command = " ".join(["porthos", *reversed(names)])
    record_command_failure(kwargs.get("workdir"), command, exc)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="porthos")
def main() -> None:
    """porthos: a certificate-authority signing engine."""


# --------------------------------------------------------------------------------------
# init / show
# --------------------------------------------------------------------------------------


def _ca_table(ws: Workspace) -> Table:
    table = Table(title=f"CAs ({ws.env})")
    table.add_column("name")
    table.add_column("subject")
    table.add_column("serial")
    table.add_column("not after")
    table.add_column("file")
    for ca in ws.cas:
        rel = ws.repository_path(ca.name).relative_to(ws.path)
        table.add_row(
            ca.name,
            ", ".join(f"{a}={v}" for a, v in reversed(ca.subject)),
            ca.serial_hex,
            when_utc(ca.not_after),
            str(rel),
        )
    return table


@main.command()
@WORKDIR
@click.option("--env", type=click.Choice(["prod", "nonprod"]), default="prod", show_default=True)
@hsm_init_options
@click.option(
    "--transferable-keys",
    is_flag=True,
    help="With --hsm: generate the CA keys sensitive but wrappable under a key the "
    "tokens' Security Officer marks trusted, so that `terminate --export-to` can "
    "transfer them to a successor HSM in encrypted form (000 §6.2.6). Default: "
    "never extractable. Cannot be undone for keys already generated.",
)
@click.pass_context
@_errors_exit_2
def init(
    ctx: click.Context,
    workdir: Path,
    env: str,
    hsm_kind: str | None,
    transferable_keys: bool,
    **hsm_opts: Any,
) -> None:
    """Create the CA hierarchy (000 §7.1.1-2) in a new workspace."""
    from porthos.ca import Workspace

    if transferable_keys and not hsm_kind:
        raise click.UsageError("--transferable-keys needs --hsm (000 §6.2.6)", ctx)
    console = _console()
    setup = hsm_setup_from_options(**hsm_opts) if hsm_kind else None
    with Workspace.init(workdir, env, hsm_setup=setup, transferable_keys=transferable_keys) as ws:
        if ws.hsm is not None:
            console.print(
                f"[green]CA keys generated in the HSM[/] ({ws.hsm.module}): root in token "
                f"'{ws.hsm.root_token}' (dual control), issuing CAs in '{ws.hsm.issuing_token}'."
            )
            if ws.hsm.transferable_keys:
                console.print(
                    "CA keys are transferable: wrappable only under a Security Officer's "
                    "trusted key (000 §6.2.6; terminate --export-to)."
                )
        else:
            console.print(
                "[yellow]CA keys are software keys[/] (PKCS#8, mode 0600, in "
                f"{ws.path / 'keys'}); use --hsm softhsm to generate them in an HSM."
            )
        console.print(_ca_table(ws))


@main.command()
@WORKDIR
@_errors_exit_2
def show(workdir: Path) -> None:
    """Show the CAs and the certificates issued per CA and profile."""
    from porthos.ca import Workspace

    console = _console()
    with Workspace.open(workdir) as ws:
        console.print(_ca_table(ws))
        counts = Table(title="Certificates issued")
        counts.add_column("CA")
        counts.add_column("profile")
        counts.add_column("certificates", justify="right")
        total = 0
        for ca_name, profile, n in ws.store.counts_by_ca_profile():
            counts.add_row(ca_name, profile, str(n))
            total += n
        counts.add_row("[bold]total[/]", "", f"[bold]{total}[/]")
        console.print(counts)


# --------------------------------------------------------------------------------------
# issue
# --------------------------------------------------------------------------------------


@main.command()
@WORKDIR
@click.option("--profile", "-p", required=True, help="Certificate profile, e.g. ha-device.")
@click.option(
    "--csr",
    "csr_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM bundle or one DER CSR.",
)
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM bundle of the issued certificates.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON report listing every rejected request.",
)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Worker threads.")
@click.option(
    "--pin-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HSM workspaces: file with the issuing-CA token PIN (else a prompt).",
)
@click.option(
    "--transaction-id",
    default=None,
    help="RA (000 §3.2.3.2): the transaction-ID of the one CSR in --csr.",
)
@click.option(
    "--transactions",
    "transactions_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="RA (000 §3.2.3.2): JSON list of transaction-IDs, one per CSR of --csr, in order.",
)
@click.pass_context
@_errors_exit_2
def issue(
    ctx: click.Context,
    workdir: Path,
    profile: str,
    csr_file: Path,
    out_file: Path,
    report_file: Path | None,
    threads: int | None,
    pin_file: Path | None,
    transaction_id: str | None,
    transactions_file: Path | None,
) -> None:
    """Issue certificates for a file of CSRs. Exit 0: all issued, 3: some rejected."""
    from porthos.ca import normalise_csr_input

    data = csr_file.read_bytes()
    if data[:1] != b"\x30" and b"-----BEGIN " not in data:
        raise click.UsageError(f"{csr_file} is neither a PEM bundle nor a DER CSR", ctx)
    if not normalise_csr_input(data):
        raise click.UsageError(f"{csr_file} holds no CERTIFICATE REQUEST block", ctx)
    from porthos.ca import Workspace

    with Workspace.open(workdir) as ws:
        if ws.hsm is not None:
            from porthos.hsm import read_pin

            ws.activate(read_pin(pin_file, "PIN of the issuing-CA token"))
        ca = ws.ca_for_profile(profile)
        started = time.perf_counter()
        if transaction_id is not None or transactions_file is not None:
            from porthos.cli_ra import issue_with_transaction_ids

            result = issue_with_transaction_ids(
                ws, data, profile, transaction_id, transactions_file, threads
            )
        else:
            # The engine path: no RA identity check (000 §3.2.3) ran here, and the
            # trail says so; `porthos ra ...` is the path that makes the checks.
            result = ca.issue_batch(
                data,
                profile,
                threads=threads,
                audit_details={"identity_check": "none by porthos (porthos issue)"},
            )
        seconds = time.perf_counter() - started
    if transaction_id is None and transactions_file is None:
        from porthos.ra import RA_COMMAND_FOR_PROFILE

        command = RA_COMMAND_FOR_PROFILE.get(profile)
        if command is not None:
            _console().print(
                f"[dim]note: issued without the RA's identity check; for profile {profile} "
                f"the CP/CPS check is `{command}` (000 §3.2.3)[/]"
            )
    report_batch(ctx, result, out_file, report_file, seconds)


def report_batch(
    ctx: click.Context,
    result: IssueResult,
    out_file: Path,
    report_file: Path | None,
    seconds: float,
    how: str | None = None,
) -> None:
    """Write the PEM bundle and the report, print the per-item refusals, exit 3 if any
    (`porthos issue` and the RA's issuing commands). ``how``: the RA's identity check."""
    out_file.write_text(result.pem(), encoding="ascii")
    rejected = [
        {"index": i, "status": status.name, "reason": reason}
        for i, status, reason in result.rejected()
    ]
    if report_file is not None:
        report = {
            "profile": result.profile,
            "ca": result.ca,
            "requests": len(result),
            "issued": result.issued_count,
            "rejected": rejected,
        }
        if how is not None:
            report["identity_check"] = how
        report_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    console = _console()
    console.print(
        f"{result.issued_count} of {len(result)} certificates issued by {result.ca} "
        f"(profile {result.profile}{', ' + how if how else ''}) in {seconds:.3f} s -> {out_file}"
    )
    if rejected:
        table = Table(title="Refused requests")
        table.add_column("index", justify="right")
        table.add_column("status")
        table.add_column("reason")
        for row in rejected[:50]:
            table.add_row(str(row["index"]), str(row["status"]), str(row["reason"]))
        console.print(table)
        if len(rejected) > 50:
            console.print(f"... and {len(rejected) - 50} more (see --report)")
        ctx.exit(EXIT_REJECTED)


# --------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------


class _CsrMaker:
    """CSRs from pyca/cryptography: a small pool of keys per key kind (key generation
    dominates otherwise), every CSR distinct through its subject."""

    def __init__(self, pool: int = 8) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        self._ec = [ec.generate_private_key(ec.SECP256R1()) for _ in range(pool)]
        self._ec384 = ec.generate_private_key(ec.SECP384R1())
        # RSA-2048 generation costs ~50 ms a key: two are enough for the AWS profiles.
        self._rsa = [rsa.generate_private_key(65537, 2048) for _ in range(2)]
        self._n = 0

    def make(self, attributes: list[tuple[str, str]], kind: str = "ec-p256") -> bytes:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        oids = {
            "CN": NameOID.COMMON_NAME,
            "O": NameOID.ORGANIZATION_NAME,
            "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
            "serialNumber": NameOID.SERIAL_NUMBER,
            "C": NameOID.COUNTRY_NAME,
        }
        self._n += 1
        key: CertificateIssuerPrivateKeyTypes
        if kind == "rsa-2048":
            key = self._rsa[self._n % len(self._rsa)]
        elif kind == "ec-p384":
            key = self._ec384
        else:
            key = self._ec[self._n % len(self._ec)]
        name = x509.Name([x509.NameAttribute(oids[a], v) for a, v in attributes])
        csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
        return csr.public_bytes(serialization.Encoding.DER)


def _demo_subject(profile: str, i: int) -> tuple[list[tuple[str, str]], str]:
    if profile == "ha-device":
        return [("CN", str(uuid.uuid4()))], "ec-p256"
    if profile == "sa-device":
        attrs = [("O", "ignored by policy"), ("CN", str(uuid.uuid4()))]
        if i % 2:
            attrs.insert(1, ("OU", f"realm-{i % 5}"))
            attrs.append(("serialNumber", f"SN{i:08d}"))
        return attrs, "ec-p256"
    if profile == "tls-client":
        return [("CN", f"host{i}.porthos.example:agent")], "ec-p256"
    if profile == "tls-server":
        return [("CN", f"host{i}.svc.porthos.example")], "ec-p256"
    if profile == "user":
        return [("CN", f"user{i:06d}")], "ec-p256"
    return [("CN", secrets.token_hex(32))], "rsa-2048"


def _flip_signature(der: bytes) -> bytes:
    # The last octet is part of the signature value; flipping one bit keeps the DER
    # well-formed and breaks proof of possession (000 §3.2.1).
    return der[:-1] + bytes([der[-1] ^ 0x01])


@main.command()
@WORKDIR
@click.option("--env", type=click.Choice(["prod", "nonprod"]), default="prod", show_default=True)
@click.option(
    "--count",
    type=click.IntRange(min=28),
    default=3000,
    show_default=True,
    help="Requests across the 7 profiles (at least 4 each: the demo revokes 3 and keeps 1).",
)
@click.option("--threads", type=click.IntRange(min=1), default=None)
@click.option(
    "--hsm",
    "hsm_kind",
    type=click.Choice(["softhsm", "none"]),
    default="none",
    show_default=True,
    help="softhsm: CA keys in SoftHSM2 tokens inside the workspace (demo PINs in "
    "<workdir>/hsm/demo-pins/, mode 0600).",
)
@_errors_exit_2
def demo(workdir: Path, env: str, count: int, threads: int | None, hsm_kind: str) -> None:
    """Init (if needed), issue COUNT certificates across all profiles, show rejections."""
    from cryptography import x509

    from porthos.ca import STORE_FILE, Workspace
    from porthos.cli_hsm_options import demo_hsm_setup

    console = _console()
    if (workdir / STORE_FILE).exists():
        ws = Workspace.open(workdir)
        console.print(f"using the existing workspace {workdir} ({ws.env})")
    elif hsm_kind == "softhsm":
        setup = demo_hsm_setup(workdir)
        ws = Workspace.init(workdir, env, hsm_setup=setup)
        console.print(
            "[green]CA keys generated in SoftHSM2[/] (tokens in "
            f"{workdir / 'hsm' / 'tokens'}; root under two demo officers' PIN halves)."
        )
        console.print(_ca_table(ws))
    else:
        ws = Workspace.init(workdir, env)
        console.print("[yellow]CA keys are software keys[/] (use --hsm softhsm for the HSM).")
        console.print(_ca_table(ws))
    from porthos.cli_hsm_options import demo_pin

    if ws.hsm is not None:
        ws.activate(demo_pin(workdir, "issuing"))
    with ws:
        profiles = list(ws.profile_set.profiles)
        with console.status("generating CSRs with pyca/cryptography ..."):
            maker = _CsrMaker()
            batches: dict[str, list[bytes]] = {}
            for k, name in enumerate(profiles):
                share = count // len(profiles) + (1 if k < count % len(profiles) else 0)
                batches[name] = [maker.make(*_demo_subject(name, i)) for i in range(share)]
            # Deliberately bad requests, one per rejection kind.
            batches["ha-device"].append(maker.make([("CN", str(uuid.uuid4()))], "ec-p384"))
            batches["ha-device"].append(maker.make([("CN", "not-a-uuid")]))
            batches["tls-server"].append(
                _flip_signature(maker.make([("CN", "forged.svc.porthos.example")]))
            )
            batches["user"].append(b"\x30\x03\x02\x01")  # truncated DER
            batches["aws-verification-ha"].append(maker.make([("CN", "ABC123")], "ec-p256"))

        root = x509.load_der_x509_certificate(ws.cas[0].certificate)
        table = Table(title=f"demo: {count} requests + 5 bad ones ({ws.env})")
        for col in ("profile", "CA", "issued", "rejected", "seconds", "certs/s", "chain"):
            table.add_column(col, justify="left" if col in ("profile", "CA", "chain") else "right")
        rejections: list[tuple[str, int, str, str]] = []
        results: dict[str, IssueResult] = {}
        total_issued = 0
        total_seconds = 0.0
        for name in profiles:
            ca = ws.ca_for_profile(name)
            started = time.perf_counter()
            result = ca.issue_batch(batches[name], name, threads=threads)
            seconds = time.perf_counter() - started
            results[name] = result
            total_issued += result.issued_count
            total_seconds += seconds
            rejections += [(name, i, s.name, r) for i, s, r in result.rejected()]
            chain = "-"
            first = next(result.issued(), None)
            if first is not None:
                cert = x509.load_der_x509_certificate(first[1])
                issuer = x509.load_der_x509_certificate(ca.certificate)
                cert.verify_directly_issued_by(issuer)
                issuer.verify_directly_issued_by(root)
                chain = "verified"
            table.add_row(
                name,
                ca.name,
                str(result.issued_count),
                str(result.rejected_count),
                f"{seconds:.3f}",
                f"{result.issued_count / seconds:,.0f}" if seconds > 0 else "-",
                chain,
            )
        table.add_row(
            "[bold]total[/]",
            "",
            f"[bold]{total_issued}[/]",
            str(len(rejections)),
            f"{total_seconds:.3f}",
            f"{total_issued / total_seconds:,.0f}" if total_seconds > 0 else "-",
            "",
        )
        console.print(table)
        bad = Table(title="Rejected requests (deliberate)")
        for col in ("profile", "index", "status", "reason"):
            bad.add_column(col)
        for name, i, status, reason in rejections:
            bad.add_row(name, str(i), status, reason)
        console.print(bad)
        console.print(
            "chain: one certificate per profile verified against its issuing CA and the "
            "root with pyca/cryptography (Certificate.verify_directly_issued_by)."
        )
        if ws.hsm is not None:
            console.print(
                "(HSM: a CA's first batch includes starting its signing workers, one process "
                "per PKCS#11 session; see docs/hsm.md.)"
            )
        # The rest of the CP/CPS on the same workspace: RA, revocation, CRLs, audit.
        from porthos import demo_lifecycle

        halves = None
        if ws.hsm is not None:
            halves = [
                (f"demo-officer-{k}", demo_pin(workdir, f"root-officer-{k}")) for k in (1, 2)
            ]
        demo_lifecycle.run(ws, console, maker.make, results, halves)


# --------------------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------------------


@main.group()
def bench() -> None:
    """Benchmarks (porthos.bench)."""


@bench.command("issue")
@click.option("--n", "n", type=click.IntRange(min=1), default=10000, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None)
@_errors_exit_2
def bench_issue(n: int, repeats: int, threads: int | None, json_out: str | None) -> None:
    """Batch issuance throughput against its peers."""
    from porthos.bench import issue as bench_issue_module

    result = bench_issue_module.run(n=n, repeats=repeats, threads=threads, json_out=json_out)
    table = Table(title=f"bench issue (n={n}, repeats={repeats})")
    table.add_column("key")
    table.add_column("value")
    for key, value in _flatten(result):
        table.add_row(key, value)
    _console().print(table)


from porthos.bench.ifma import command as _bench_ifma  # noqa: E402  (issue 7)

bench.add_command(_bench_ifma)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        rows: list[tuple[str, str]] = []
        for k, v in value.items():
            rows += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return rows
    if isinstance(value, float):
        return [(prefix, f"{value:,.3f}")]
    return [(prefix, str(value))]


# CRL commands (issue 4): porthos crl ..., porthos bench crl.
from porthos.cli_crl import bench_crl, crl  # noqa: E402

main.add_command(crl)
bench.add_command(bench_crl)

# porthos audit verify|export|show (issue 6, 000 §5.4) live in cli_audit.py.
__import__("porthos.cli_audit").cli_audit.register(main)

from porthos.cli_hsm import register as _register_hsm  # noqa: E402

_register_hsm(main, bench)

# verify-csrs and bench verify (issue 3) live in cli_verify.py.
__import__("porthos.cli_verify").cli_verify.register(main)

# rollover and terminate (issue 6, 000 §5.6, §5.8) live in cli_changeover.py.
__import__("porthos.cli_changeover").cli_changeover.register(main)
# The registration authority (issue 6): porthos ra ...
main.add_command(__import__("porthos.cli_ra").cli_ra.ra)
# revoke and crl due (issue 6, lifecycle) live in cli_lifecycle.py.
__import__("porthos.cli_lifecycle").cli_lifecycle.register(main)

if __name__ == "__main__":  # pragma: no cover
    main()
