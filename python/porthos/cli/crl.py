"""The ``porthos crl`` group, its file tools ``crl build|inspect|diff``, and ``porthos
bench crl``. The workspace's CRL commands (``crl publish``, ``crl due``: the 000 §4.9.7
schedule) live with revocation in lifecycle.py; this group loads them when they run
(WORKSPACE_COMMANDS, cli/lazy.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from porthos.cli.common import ProgressBar, errors_exit_2, flatten, get_console, printable
from porthos.cli.lazy import LazyCommand, LazyGroup
from porthos.cli.options import when_utc
from porthos.crl_reasons import REASON_NAMES
from porthos.exceptions import BatchArgumentError, KeyMaterialError
from porthos.issuance.inputs import read_input

#: The workspace's CRL commands live with revocation in cli/lifecycle.py; loaded when
#: they run, so that the file tools (`crl build` is timed as a whole process against
#: pyca, issue 20 §1) do not import the workspace layer and rich's tables.
WORKSPACE_COMMANDS = {
    "due": LazyCommand(
        "porthos.cli.lifecycle:due",
        "What is due (§4.9.7): each CA's CRL every crl.period of its CP/CPS entry, a CA's "
        "CRL after a revocation, and scheduled revocations whose grace period ended "
        "(§4.9.4).",
    ),
    "publish": LazyCommand(
        "porthos.cli.lifecycle:publish",
        "Issue the CRLs that are due (000 §4.9.7; see `porthos crl due`), after carrying "
        "out the scheduled revocations whose time has come (§4.9.4), or every CA's "
        "(--all) or one CA's (--ca).",
    ),
}


@click.group("crl", cls=LazyGroup, lazy=WORKSPACE_COMMANDS)
def crl() -> None:
    """Certificate revocation lists (RFC 5280 §5)."""


def _load_signer(issuer_key: Path, issuer_cert: bytes) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from porthos import _native

    data = read_input(issuer_key, "--issuer-key")
    if b"-----BEGIN" in data:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyMaterialError(f"{issuer_key}: {exc}") from None
        data = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    cert = x509.load_der_x509_certificate(issuer_cert)
    alg = (
        "ecdsa-sha384"
        if getattr(cert.public_key(), "curve", None) is not None
        and (
            cert.public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
        )
        else None
    )
    return _native.SoftwareKey.from_pkcs8(data, alg)


def _hsm_signer(
    issuer_cert: bytes, module: Path | None, token: str, key_label: str, pin_file: Path | None
) -> Any:
    """A Pkcs11Signer for the CA key in the token: the CRL's one digest goes to the
    HSM and one signature comes back (the key never leaves it, 000 §6.2.6). The
    token's public key must be the issuer certificate's."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from porthos import hsm
    from porthos.issuance import signers

    pub = x509.load_der_x509_certificate(issuer_cert).public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        alg = "ecdsa-sha384" if pub.curve.name == "secp384r1" else "ecdsa-sha256"
    elif isinstance(pub, rsa.RSAPublicKey):
        alg = "rsa-pkcs1-sha256"
    else:
        raise KeyMaterialError("issuer certificate: only EC and RSA keys can sign CRLs here")
    mod = hsm.find_module(module)
    spki = hsm.public_key_der(mod, token, key_label)
    want = pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if spki != want:
        raise KeyMaterialError(
            f"key '{key_label}' in token '{token}' is not the issuer certificate's key"
        )
    pin = hsm.read_pin(pin_file, f"user PIN of token {token}")
    return signers.Pkcs11Signer(mod, token, key_label, pin, alg, sessions=1, public_key=spki)


def _read_cert(path: Path) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    data = read_input(path, "certificate")
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return data


@crl.command()
@click.option(
    "--revoked",
    "revoked",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV serial_hex,revocation_time,reason[,invalidity_date], .parquet or .npz "
    "columns (docs/crl-input.md).",
)
@click.option(
    "--issuer-cert", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--issuer-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PKCS#8 (DER or PEM) software key; or the HSM options below.",
)
@click.option(
    "--module",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HSM: PKCS#11 module (default: $PORTHOS_PKCS11_MODULE, else SoftHSM2).",
)
@click.option("--token", default=None, help="HSM: token label.")
@click.option("--key-label", default=None, help="HSM: label of the CA key in the token.")
@click.option(
    "--pin-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HSM: file with the user PIN (else a prompt; never an argument).",
)
@click.option("--number", required=True, type=click.IntRange(min=0), help="CRL number (§5.2.3).")
@click.option(
    "--next-update", "next_days", required=True, type=click.IntRange(min=1), help="Days."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file; with --shards, {shard} in it is replaced.",
)
@click.option("--shards", type=click.IntRange(min=1), default=None)
@click.option("--url-template", default=None, help="IDP URL with {shard} (with --shards).")
@click.option("--threads", type=click.IntRange(min=1), default=None)
@errors_exit_2
def build(
    revoked: Path,
    issuer_cert: Path,
    issuer_key: Path | None,
    number: int,
    next_days: int,
    out: Path,
    shards: int | None,
    url_template: str | None,
    threads: int | None,
    module: Path | None = None,
    token: str | None = None,
    key_label: str | None = None,
    pin_file: Path | None = None,
) -> None:
    """Build a CRL outside a workspace. Bad rows are reported with their line number
    and nothing is written."""
    hsm_mode = token is not None or key_label is not None
    if (issuer_key is None) == (not hsm_mode):
        raise KeyMaterialError("give either --issuer-key or --token with --key-label (HSM)")
    if hsm_mode and (token is None or key_label is None):
        raise KeyMaterialError("HSM mode needs both --token and --key-label")
    if (shards is None) != (url_template is None):
        raise BatchArgumentError("--shards and --url-template go together")
    if hsm_mode and pin_file is None and _is_standard_input(revoked):
        # The PIN prompt reads standard input too when there is no terminal, and its
        # buffered read can take the rows with it: a CRL of 0 entries and exit 0.
        raise BatchArgumentError(
            f"--revoked {revoked} is standard input, which the PIN prompt reads too: "
            "give the PIN with --pin-file"
        )
    _check_writable(out)
    from porthos.issuance.revocation_prefetch import prefetch_csv

    # CSV rows are read and parsed (Rust, GIL released) while this thread imports NumPy
    # and pyca and checks the key: ~0.15 s of a 0.6 s 1M-row process (issue 20 §1).
    reading = prefetch_csv(revoked)
    try:
        cert, signer = _issuer_signer(issuer_cert, issuer_key, module, token, key_label, pin_file)
    finally:
        if reading is not None:
            reading.wait()  # a refusal above is reported after the reader stopped
    from porthos.issuance import crl as crlmod
    from porthos.issuance.key_checks import check_crl_signature

    columns = (
        crlmod.load_revocations(revoked)
        if reading is None
        else crlmod.RevocationColumns(*reading.result())
    )
    now = int(time.time())
    with ProgressBar(f"{len(columns):,} entries") as bar:
        if shards is None:
            crl_obj = crlmod.build_crl(
                cert,
                signer,
                columns,
                crl_number=number,
                this_update=now,
                next_update=now + next_days * 86400,
                threads=threads,
                progress=bar,
            )
            crl_obj.write(
                out,
                check=lambda: check_crl_signature(
                    crl_obj.der, cert, str(out), signer.signature_algorithm
                ),
            )
            click.echo(
                f"wrote {printable(str(out))} ({len(crl_obj):,} octets, {len(columns):,} entries)"
            )
            return
        assert url_template is not None
        crls = crlmod.build_shards(
            cert,
            signer,
            columns,
            crl_numbers=[number] * shards,
            url_template=url_template,
            this_update=now,
            next_update=now + next_days * 86400,
            threads=threads,
            progress=bar,
        )
    for c in crls:
        check_crl_signature(c.der, cert, str(out), signer.signature_algorithm)
    for i, c in enumerate(crls):
        target = (
            Path(str(out).replace("{shard}", str(i)))
            if "{shard}" in str(out)
            else out.with_name(f"{out.stem}-shard-{i}{out.suffix}")
        )
        c.write(target)
        click.echo(f"wrote {printable(str(target))} ({len(c):,} octets)")


def _issuer_signer(
    issuer_cert: Path,
    issuer_key: Path | None,
    module: Path | None,
    token: str | None,
    key_label: str | None,
    pin_file: Path | None,
) -> tuple[bytes, Any]:
    """The issuer certificate (DER) and its signer, both checked: a CA certificate that
    may sign CRLs, and a key that is that certificate's. Never a CRL that does not
    verify with exit 0 (issue 20 §2); each CRL's one signature is checked too, before
    it is written."""
    from porthos.issuance.key_checks import check_crl_issuer, check_key_pair

    cert = _read_cert(issuer_cert)
    check_crl_issuer(cert, f"--issuer-cert {issuer_cert}")
    signer = (
        _load_signer(issuer_key, cert)
        if issuer_key is not None
        else _hsm_signer(cert, module, token or "", key_label or "", pin_file)
    )
    check_key_pair(
        signer, cert, f"--issuer-key {issuer_key}" if issuer_key else f"--key-label {key_label}"
    )
    return cert, signer


def _is_standard_input(path: Path) -> bool:
    """Whether ``path`` (``-``, /dev/stdin, /proc/self/fd/0, a FIFO...) is the file this
    process's standard input is."""
    import os

    try:
        return os.path.samestat(os.stat(path), os.fstat(0))
    except (OSError, ValueError):
        return False


def _check_writable(out: Path) -> None:
    """Refuse an output whose folder does not exist or is not writable before any work
    (a 1M-entry CRL is seconds of work lost to a typo in --out)."""
    import os

    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise BatchArgumentError(f"--out {out}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise BatchArgumentError(f"--out {out}: folder {folder} is not writable")
    if out.is_dir():
        raise BatchArgumentError(f"--out {out} is a folder")


def _read_crl(path: Path) -> bytes:
    data = read_input(path, "CRL")
    # A DER CRL starts with SEQUENCE; only other files are searched for PEM (a search
    # of a 46 MB DER CRL cost 10 ms for nothing).
    if data[:1] != b"\x30" and b"-----BEGIN X509 CRL-----" in data:
        import base64

        body = data.split(b"-----BEGIN X509 CRL-----")[1].split(b"-----END X509 CRL-----")[0]
        return base64.b64decode(b"".join(body.split()))
    return data


@crl.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--issuer-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Check the signature against this certificate.",
)
@errors_exit_2
def inspect(file: Path, issuer_cert: Path | None) -> None:
    """Summarise a CRL."""
    import numpy as np

    from porthos.issuance import crl as crlmod
    from porthos.issuance.names import name_der_text

    cert = _read_cert(issuer_cert) if issuer_cert else None
    der = _read_crl(file)
    p = crlmod.parse_crl(der, cert)
    from rich.table import Table

    table = Table(title=str(file), show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_row("issuer", name_der_text(p.issuer_der))
    table.add_row("thisUpdate", when_utc(p.this_update))
    table.add_row("nextUpdate", when_utc(p.next_update))
    table.add_row("CRL number", str(p.crl_number))
    if p.delta_base is not None:
        table.add_row("delta of base", str(p.delta_base))
    if p.idp_urls is not None or p.only_user_certs or p.only_ca_certs:
        flags = [
            f for f, on in (("onlyUser", p.only_user_certs), ("onlyCA", p.only_ca_certs)) if on
        ]
        table.add_row("IDP", ", ".join((p.idp_urls or []) + flags))
    table.add_row(
        "signature", p.signature_algorithm + (" (verified)" if p.signature_checked else "")
    )
    table.add_row("entries", f"{len(p):,}")
    reasons = p.columns.reasons
    for code in np.unique(reasons).tolist():
        name = REASON_NAMES.get(code, "no reasonCode" if code == crlmod.REASON_NONE else str(code))
        table.add_row(f"  {name}", f"{int(np.count_nonzero(reasons == code)):,}")
    get_console().print(table)


@crl.command()
@click.argument("a", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("b", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@errors_exit_2
def diff(a: Path, b: Path) -> None:
    """List serials added in B and removed from A."""
    import numpy as np

    from porthos.issuance import crl as crlmod

    pa, pb = crlmod.parse_crl(_read_crl(a)), crlmod.parse_crl(_read_crl(b))
    in_a = pb.lookup(pa.columns.serials) >= 0
    in_b = pa.lookup(pb.columns.serials) >= 0
    removed = pa.columns.serials[~in_a]
    added = pb.columns.serials[~in_b]
    console = get_console()
    for row in added:
        console.print(f"+ {int.from_bytes(row.tobytes(), 'big'):x}")
    for row in removed:
        console.print(f"- {int.from_bytes(row.tobytes(), 'big'):x}")
    console.print(
        f"{len(added)} added, {len(removed)} removed, {int(np.count_nonzero(in_b))} in both"
    )


@click.command("crl")
@click.option("--n", "n", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--variants",
    default="porthos,porthos-mt,pyca,openssl",
    show_default=True,
    help="Comma-separated: porthos (1 thread), porthos-mt, porthos-parse, pyca, openssl.",
)
@click.option(
    "--input",
    "inputs",
    default=None,
    help="Comma-separated csv, parquet, npz: time whole `porthos crl build` processes "
    "on that revocation file against a pyca process on the CSV (--variants is unused).",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None)
@errors_exit_2
def bench_crl(
    n: int, repeats: int, variants: str, inputs: str | None, json_out: str | None
) -> None:
    """CRL build: porthos vs pyca/cryptography vs `openssl ca -gencrl` (P-256, every
    entry with a reasonCode); each run in its own process for an honest peak RSS.
    With --input: the whole `crl build` process from a revocation file."""
    if inputs is not None:
        from porthos.bench import crl_input

        chosen = [i.strip() for i in inputs.split(",") if i.strip()]
        unknown = [i for i in chosen if i not in crl_input.INPUTS]
        if unknown or not chosen:
            raise BatchArgumentError(
                f"--input {inputs}: expected some of {', '.join(crl_input.INPUTS)}"
            )
        result = crl_input.run(n=n, repeats=repeats, inputs=chosen)
        if json_out:
            Path(json_out).write_text(json.dumps(result, indent=1))
        title = f"bench crl --input {inputs} (n={n:,}, repeats={repeats}, whole processes)"
    else:
        from porthos.bench import crl as module

        result = module.run(n=n, repeats=repeats, variants=variants.split(","), json_out=json_out)
        title = f"bench crl (n={n:,}, repeats={repeats})"
    from rich.table import Table

    table = Table(title=title)
    table.add_column("key")
    table.add_column("value")
    for key, value in flatten(result["summary"]):
        table.add_row(key, value)
    get_console().print(table)
    if json_out:
        get_console().print(f"wrote {json_out}")
    else:
        get_console().print(json.dumps(result["summary"], indent=1))
