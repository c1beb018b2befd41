"""``porthos init`` and ``porthos show``: create a workspace (its CA hierarchy, 000
§7.1.1-2) and show what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from porthos.cli.common import ca_table, errors_exit_2, get_console
from porthos.cli.hsm_options import hsm_init_options, hsm_setup_from_options
from porthos.cli.options import WORKDIR

__all__ = ["init", "show"]


@click.command()
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
@errors_exit_2
def init(
    ctx: click.Context,
    workdir: Path,
    env: str,
    hsm_kind: str | None,
    transferable_keys: bool,
    **hsm_opts: Any,
) -> None:
    """Create the CA hierarchy (000 §7.1.1-2) in a new workspace."""
    from porthos.workspace.authority import Workspace

    if transferable_keys and not hsm_kind:
        raise click.UsageError("--transferable-keys needs --hsm (000 §6.2.6)", ctx)
    console = get_console()
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
        console.print(ca_table(ws))


@click.command()
@WORKDIR
@errors_exit_2
def show(workdir: Path) -> None:
    """Show the CAs and the certificates issued per CA and profile."""
    from porthos.workspace.authority import Workspace

    console = get_console()
    with Workspace.open(workdir) as ws:
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
