"""A workspace's HSM: its PKCS#11 module, SoftHSM2 configuration and tokens (the
file ``hsm/hsm.json``), and the activation of its keys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from porthos.hsm.pins import Secret
from porthos.hsm.tokens import load_module, use_softhsm_conf

# --------------------------------------------------------------------------------------
# A workspace's HSM
# --------------------------------------------------------------------------------------

#: File in a workspace naming its PKCS#11 module, SoftHSM2 configuration and tokens.
HSM_FILE = "hsm/hsm.json"


@dataclass
class HsmSetup:
    """What ``Workspace.init(hsm=...)`` needs: the module and the activation data.

    Two tokens: ``<prefix>-root`` holds the root key under the dual-control PIN (two
    halves, two officers: RFC 3647 §6.2.2), ``<prefix>-issuing`` holds the issuing-CA
    keys under one PIN (RFC 3647 §6.2.2). With ``softhsm`` true, the token store and
    SoftHSM2 configuration live in ``<workspace>/hsm/``."""

    module: str
    so_pin: Secret
    user_pin: Secret
    root_pin_halves: list[tuple[str, Secret]]
    softhsm: bool = True
    token_prefix: str = "porthos"
    #: RFC 3647 §6.2.6: CA keys generated ``transferable`` (see :func:`generate_key`), so
    #: ``terminate --export-to`` can move them to a successor HSM under the Security
    #: Officer's trusted transport key. Default: never extractable (issue 5).
    transferable_keys: bool = False

    @property
    def root_token(self) -> str:
        return f"{self.token_prefix}-root"

    @property
    def issuing_token(self) -> str:
        return f"{self.token_prefix}-issuing"


@dataclass(frozen=True)
class WorkspaceHsm:
    """The contents of ``<workspace>/hsm/hsm.json``."""

    module: str
    softhsm_conf: str | None
    root_token: str
    issuing_token: str
    #: The CA keys (init and every rollover) are generated transferable (RFC 3647 §6.2.6).
    transferable_keys: bool = False

    def save(self, workspace: Path) -> Path:
        p = workspace / HSM_FILE
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.__dict__, indent=2) + "\n", encoding="utf-8")
        return p

    @classmethod
    def load(cls, workspace: Path) -> WorkspaceHsm | None:
        p = workspace / HSM_FILE
        if not p.is_file():
            return None
        d = json.loads(p.read_text(encoding="utf-8"))
        return cls(
            d["module"],
            d.get("softhsm_conf"),
            d["root_token"],
            d["issuing_token"],
            # Absent in workspaces made before --transferable-keys: never extractable.
            bool(d.get("transferable_keys", False)),
        )

    def activate_module(self, workspace: Path) -> None:
        """Point SoftHSM2 at the workspace's configuration and load the module."""
        if self.softhsm_conf:
            use_softhsm_conf(workspace / self.softhsm_conf)
        load_module(self.module)
