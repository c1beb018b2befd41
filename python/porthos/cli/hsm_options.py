"""Options of ``porthos init`` / ``porthos demo`` for HSM mode, and the PIN helpers of
the commands that sign. A helper below the command modules: imports none of them."""

from __future__ import annotations

from pathlib import Path

import click

from porthos import hsm

MODULE_OPTION = click.option(
    "--module",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PKCS#11 module (default: $PORTHOS_PKCS11_MODULE, else SoftHSM2).",
)
_MODULE = MODULE_OPTION


def hsm_init_options(func: click.decorators.FC) -> click.decorators.FC:
    """Options of ``porthos init`` / ``porthos demo`` for HSM mode."""
    for option in reversed(
        [
            click.option(
                "--hsm",
                "hsm_kind",
                type=click.Choice(["softhsm"]),
                default=None,
                help="Generate the CA keys in SoftHSM2 tokens inside the workspace.",
            ),
            _MODULE,
            click.option("--so-pin-file", type=click.Path(dir_okay=False, path_type=Path)),
            click.option(
                "--pin-file",
                type=click.Path(dir_okay=False, path_type=Path),
                help="PIN of the issuing-CA token.",
            ),
            click.option(
                "--root-officer",
                "root_officers",
                multiple=True,
                metavar="NAME=PINFILE",
                help="Twice: an HSM Security Officer and the file with their half of the "
                "root PIN (000 §6.2.2). Without it, two prompts ask for both.",
            ),
        ]
    ):
        func = option(func)
    return func


def root_halves(root_officers: tuple[str, ...]) -> list[tuple[str, hsm.Secret]]:
    if root_officers:
        halves = []
        for item in root_officers:
            name, sep, file = item.partition("=")
            if not sep or not name or not file:
                raise click.BadParameter(
                    f"{item!r}: expected NAME=PINFILE", param_hint="--root-officer"
                )
            halves.append((name, hsm.read_pin(file, f"root PIN half of {name}")))
        return halves
    halves = []
    for n in (1, 2):
        name = click.prompt(f"identity of HSM Security Officer {n}")
        halves.append((name, hsm.read_pin(None, f"root PIN half of {name}", confirm=True)))
    return halves


def hsm_setup_from_options(
    module: Path | None,
    so_pin_file: Path | None,
    pin_file: Path | None,
    root_officers: tuple[str, ...],
) -> hsm.HsmSetup:
    return hsm.HsmSetup(
        module=str(module) if module is not None else str(hsm.find_module()),
        so_pin=hsm.read_pin(so_pin_file, "Security Officer PIN of the new tokens", confirm=True),
        user_pin=hsm.read_pin(pin_file, "PIN of the issuing-CA token", confirm=True),
        root_pin_halves=root_halves(root_officers),
    )


# The demo runs unattended: it writes random PINs to files (mode 0600) inside the
# workspace and reads them back like any --pin-file. A real deployment never does this.
_DEMO_PINS = ("so", "issuing", "root-officer-1", "root-officer-2")


def demo_pin(workdir: Path, name: str) -> hsm.Secret:
    return hsm.read_pin(workdir / "hsm" / "demo-pins" / f"{name}.pin", name)


def demo_hsm_setup(workdir: Path) -> hsm.HsmSetup:
    import os
    import secrets

    d = workdir / "hsm" / "demo-pins"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in _DEMO_PINS:
        fd = os.open(d / f"{name}.pin", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(8).encode() + b"\n")
        finally:
            os.close(fd)
    return hsm.HsmSetup(
        module=str(hsm.find_module()),
        so_pin=demo_pin(workdir, "so"),
        user_pin=demo_pin(workdir, "issuing"),
        root_pin_halves=[
            ("demo-officer-1", demo_pin(workdir, "root-officer-1")),
            ("demo-officer-2", demo_pin(workdir, "root-officer-2")),
        ],
    )
