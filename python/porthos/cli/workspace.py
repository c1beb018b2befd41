"""``porthos init`` and ``porthos show``: create a workspace under a CP/CPS (its CA
hierarchy, 000 §7.1.1-2) and show what it holds.

``init --cpcps`` takes a bundled CP/CPS name (recorded as the name) or a TOML file:
that one is copied into the workspace as ``cpcps.toml`` and the copy is recorded, so
the workspace does not depend on the original staying where it was."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape
from rich.table import Table

from porthos.cli.common import ca_table, errors_exit_2, get_console
from porthos.cli.hsm_options import hsm_init_options, hsm_setup_from_options
from porthos.cli.options import WORKDIR

if TYPE_CHECKING:
    from porthos.workspace.workspace import Workspace

__all__ = ["init", "show"]

#: The workspace's copy of a CP/CPS given as a file.
CPCPS_COPY = "cpcps.toml"


def _is_path(cpcps: str) -> bool:
    # The rule of cpcps.loader.profile_set_text: a bundled name has no '/' and no
    # .toml suffix.
    return cpcps.endswith(".toml") or "/" in cpcps


@contextmanager
def _recorded_cpcps(workdir: Path, cpcps: str, env: str) -> Iterator[str]:
    """What the workspace records as its CP/CPS: the bundled name, or the absolute path
    of the workspace's copy of the TOML file. The file is checked (loaded for ``env``)
    before it is copied; the copy is removed again if the body fails."""
    if not _is_path(cpcps):
        yield cpcps
        return
    from porthos.cpcps.loader import load_profile_set
    from porthos.exceptions import WorkspaceError

    source = Path(cpcps)
    load_profile_set(str(source), env)  # a bad file fails here, with its field path
    created_dir = not workdir.exists()
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / CPCPS_COPY
    try:
        with copy.open("xb") as out:
            out.write(source.read_bytes())
    except FileExistsError:
        raise WorkspaceError(f"{copy} exists: not an empty workspace directory") from None
    try:
        yield str(copy.resolve())
    except BaseException:
        copy.unlink(missing_ok=True)
        if created_dir and not any(workdir.iterdir()):
            workdir.rmdir()
        raise


def _cpcps_line(ws: Workspace) -> str:
    ps = ws.profile_set
    return f"CP/CPS: [bold]{ps.name}[/]" + (f": {ps.document}" if ps.document else "")


@click.command()
@WORKDIR
@click.option("--env", type=click.Choice(["prod", "nonprod"]), default="prod", show_default=True)
@click.option(
    "--cpcps",
    default="porthos",
    show_default=True,
    metavar="NAME|PATH",
    help="The CP/CPS the workspace runs: a bundled name, or a TOML file (copied into the "
    f"workspace as {CPCPS_COPY}).",
)
@hsm_init_options
@click.option(
    "--transferable-keys",
    is_flag=True,
    help="With --hsm: generate the CA keys sensitive but wrappable under a key the "
    "tokens' Security Officer marks trusted, so that `terminate --export-to` can "
    "transfer them to a successor HSM in encrypted form (000 §6.2.6). Default: "
    "never extractable. Cannot be undone for keys already generated.",
)
@click.option(
    "--store",
    "store_url",
    metavar="postgresql://USER@HOST/DB",
    help="Keep the store in this PostgreSQL database instead of W/porthos.sqlite (recorded "
    "in W/store.toml, without credentials; docs/postgresql.md). No password in the URL.",
)
@click.option(
    "--store-password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --store: a file whose first line is the database password (else "
    "PGPASSWORD or PGPASSFILE). Its path is recorded, never its contents.",
)
@click.pass_context
@errors_exit_2
def init(
    ctx: click.Context,
    workdir: Path,
    env: str,
    cpcps: str,
    hsm_kind: str | None,
    transferable_keys: bool,
    store_url: str | None,
    store_password_file: Path | None,
    **hsm_opts: Any,
) -> None:
    """Create the CA hierarchy (000 §7.1.1-2) in a new workspace."""
    from porthos.workspace.workspace import Workspace

    if transferable_keys and not hsm_kind:
        raise click.UsageError("--transferable-keys needs --hsm (000 §6.2.6)", ctx)
    console = get_console()
    setup = hsm_setup_from_options(**hsm_opts) if hsm_kind else None
    # The copy of a CP/CPS file is removed again only if init fails; once the
    # workspace exists, it is part of it.
    with _recorded_cpcps(workdir, cpcps, env) as profile_set:
        ws = Workspace.init(
            workdir,
            env,
            profile_set=profile_set,
            hsm_setup=setup,
            transferable_keys=transferable_keys,
            store=store_url,
            store_password_file=store_password_file,
        )
    with ws:
        console.print(_cpcps_line(ws))
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
        console.print(ca_table(ws))


@click.command()
@WORKDIR
@errors_exit_2
def show(workdir: Path) -> None:
    """Show the CAs and the certificates issued per CA and profile."""
    from porthos.workspace.workspace import Workspace

    console = get_console()
    with Workspace.open(workdir) as ws:
        console.print(_cpcps_line(ws))
        # Which database the workspace shares (PostgreSQL: the URL, never a password).
        console.print(f"store: {escape(ws.store.where)}", soft_wrap=True)
        console.print(ca_table(ws))
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
        _show_imported_crosses(ws)


def _show_imported_crosses(ws: Workspace) -> None:
    """The cross-certificates other CAs issued to ours (``porthos cross-import``)."""
    from porthos.cli.common import cell
    from porthos.cli.options import when_utc
    from porthos.store import cross

    rows = [r for ca in ws.cas for r in cross.imported_for(ws.store.conn, ca.name)]
    if not rows:
        return
    table = Table(title="Cross-certificates imported")
    for col in ("CA", "issued by", "serial", "not after"):
        table.add_column(col)
    table.add_column("file", no_wrap=True)
    for r in rows:
        table.add_row(cell(r.ca_name), cell(r.issuer), r.serial_hex, when_utc(r.not_after), r.file)
    get_console().print(table)
