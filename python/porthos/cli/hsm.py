"""``porthos hsm ...`` and ``porthos bench hsm``: PKCS#11 tokens, keys, throughput.

PINs come from files (``--*-pin-file``) or no-echo prompts, never from argv (a
command line is visible to every user of the machine in /proc).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from porthos import hsm
from porthos.cli.common import errors_exit_2, get_console
from porthos.cli.hsm_options import MODULE_OPTION as _MODULE

_SOFTHSM_DIR = click.option(
    "--softhsm-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="SoftHSM2 only: keep softhsm2.conf and the token store in this directory "
    "(default: $SOFTHSM2_CONF as set).",
)


def _prepare(module: Path | None, softhsm_dir: Path | None) -> str:
    if softhsm_dir is not None:
        hsm.use_softhsm_conf(hsm.softhsm_conf(softhsm_dir))
    path = str(hsm.find_module(module))
    hsm.load_module(path)
    return path


@click.group("hsm")
def hsm_group() -> None:
    """PKCS#11 tokens and keys (porthos.hsm)."""


@hsm_group.command("init-token")
@_MODULE
@_SOFTHSM_DIR
@click.option("--label", required=True, help="Token label.")
@click.option("--so-pin-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--pin-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@errors_exit_2
def init_token(
    module: Path | None,
    softhsm_dir: Path | None,
    label: str,
    so_pin_file: Path | None,
    pin_file: Path | None,
) -> None:
    """Initialise a token: SO PIN and user PIN from files or prompts."""
    path = _prepare(module, softhsm_dir)
    so = hsm.read_pin(so_pin_file, "Security Officer PIN", confirm=True)
    user = hsm.read_pin(pin_file, "user PIN", confirm=True)
    hsm.init_token(path, label, so, user)
    get_console().print(f"token '{label}' initialised in {path}")


@hsm_group.command("keygen")
@_MODULE
@_SOFTHSM_DIR
@click.option("--token", required=True, help="Token label.")
@click.option("--label", required=True, help="Key label (CKA_LABEL).")
@click.option("--type", "key_type", type=click.Choice(list(hsm.KEY_TYPES)), required=True)
@click.option("--pin-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@errors_exit_2
def keygen(
    module: Path | None,
    softhsm_dir: Path | None,
    token: str,
    label: str,
    key_type: str,
    pin_file: Path | None,
) -> None:
    """Generate a key pair inside the token (private, sensitive, not extractable)."""
    path = _prepare(module, softhsm_dir)
    pin = hsm.read_pin(pin_file, f"user PIN of token '{token}'")
    spki = hsm.generate_key(path, token, pin, label, key_type)
    get_console().print(
        f"{key_type} key '{label}' generated in token '{token}' "
        f"(public key: {len(spki)} octets SPKI; private key never leaves the token)"
    )


# --------------------------------------------------------------------------------------
# bench hsm
# --------------------------------------------------------------------------------------


@click.command("hsm")
@_MODULE
@_SOFTHSM_DIR
@click.option("--sessions", default="1,2", show_default=True, help="Session counts, e.g. 1,2,4,8.")
@click.option("--alg", type=click.Choice(["p256", "rsa2048"]), default="p256", show_default=True)
@click.option("--seconds", type=click.FloatRange(min=0.2), default=3.0, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--token", default=None, help="Existing token (default: a fresh bench token).")
@click.option("--key", "key_label", default=None, help="Existing key label in --token.")
@click.option("--pin-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG plot (default: next to --json); needs the plot extra: pip install 'porthos[plot]'.",
)
@click.option(
    "--workers",
    type=click.Choice(["auto", "processes", "threads"]),
    default="auto",
    show_default=True,
    help="porthos pool: worker processes, the Rust thread pool, or auto "
    "(processes for more than one session).",
)
@click.option(
    "--key-placement",
    type=click.Choice(["session-copy", "token-object"]),
    default="session-copy",
    show_default=True,
    help="Sign with a session copy of the key per session, or with the token object.",
)
@errors_exit_2
def bench_hsm(
    module: Path | None,
    softhsm_dir: Path | None,
    sessions: str,
    alg: str,
    seconds: float,
    repeats: int,
    token: str | None,
    key_label: str | None,
    pin_file: Path | None,
    json_out: Path | None,
    plot: Path | None,
    workers: str,
    key_placement: str,
) -> None:
    """Raw C_Sign rate (threads, processes) vs porthos issuance through the HSM."""
    from porthos.bench import can_plot
    from porthos.bench import hsm as bh

    counts = [int(x) for x in sessions.split(",") if x.strip()]
    if not counts or min(counts) < 1:
        raise click.BadParameter("expected positive integers, e.g. 1,2,4", param_hint="--sessions")
    # A plot next to the JSON by default, when the `plot` extra (matplotlib) is installed.
    if json_out is not None and plot is None and can_plot():
        plot = json_out.with_suffix(".png")
    result = bh.run(
        module=module,
        softhsm_dir=softhsm_dir,
        sessions=counts,
        alg=alg,
        seconds=seconds,
        repeats=repeats,
        token=token,
        key_label=key_label,
        pin_file=pin_file,
        json_out=json_out,
        plot=plot,
        workers=workers,
        key_placement=key_placement,
    )
    table = Table(title=f"bench hsm ({alg}, {result['module']}, median of {repeats})")
    for col in (
        "sessions",
        "raw threads/s",
        "raw procs/s",
        "porthos/s",
        "porthos / best raw",
        "p50 µs",
        "p99 µs",
    ):
        table.add_column(col, justify="right")
    for row in result["rows"]:
        table.add_row(
            str(row["sessions"]),
            f"{row['raw_threads_ops']:,.0f}",
            f"{row['raw_processes_ops']:,.0f}",
            f"{row['porthos_ops']:,.0f}",
            f"{row['ratio_porthos_to_best_raw']:.3f}",
            f"{row['porthos_latency_us']['p50']:,.0f}",
            f"{row['porthos_latency_us']['p99']:,.0f}",
        )
    console = get_console()
    console.print(table)
    if json_out is not None:
        console.print(f"JSON: {json_out}  plot: {plot or 'none (no matplotlib)'}")
