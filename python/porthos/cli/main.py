"""The ``porthos`` command (click + rich): the ``main`` group and the registration of the
command modules, one per command group. Nothing else lives here; a command module
imports only cli/common.py, cli/options.py, cli/hsm_options.py and lower layers.

Exit codes: 0 success; 3 some requests were rejected (``issue``); 2 usage or input
errors (click's own usage errors, and every porthos error: missing workspace, unknown
profile, unreadable file), always as one message line, never a traceback.
"""

from __future__ import annotations

import click

from porthos import __version__
from porthos.bench import ifma as bench_ifma
from porthos.cli import (
    audit,
    bench,
    changeover,
    crl,
    cross,
    demo,
    hsm,
    issue,
    lifecycle,
    ra,
    verify,
    workspace,
)

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="porthos")
def main() -> None:
    """porthos: a certificate-authority signing engine."""


for _command in (
    workspace.init,  # issue 1
    workspace.show,
    issue.issue,
    demo.demo,
    verify.verify_csrs_command,  # issue 3
    crl.crl,  # issue 4
    hsm.hsm_group,  # issue 5
    audit.audit_group,  # issue 6, 000 §5.4
    ra.ra,  # issue 6, 000 §3.2.3, §4.7
    lifecycle.revoke,  # issue 6, 000 §4.9
    changeover.rollover,  # issue 6, 000 §5.6
    changeover.terminate,  # issue 6, 000 §5.8
    cross.cross_certify,  # issue 16, cross-certificates both ways
    cross.cross_import,
    bench.bench,
):
    main.add_command(_command)
# The workspace's CRL commands (000 §4.9.7 schedule) live with revocation.
crl.crl.add_command(lifecycle.due)
crl.crl.add_command(lifecycle.publish)
for _command in (
    crl.bench_crl,
    hsm.bench_hsm,
    verify.bench_verify,
    bench_ifma.command,  # issue 7
):
    bench.bench.add_command(_command)

if __name__ == "__main__":  # pragma: no cover
    main()
