"""PKCS#11 tokens, CA keys in the HSM, root dual control (RFC 3647 §6.1.1, §6.2, §6.4).

Who does what:

* python-pkcs11 loads the module for key generation and public-key export (single
  thread) and is the reference raw C_Sign measurement of ``porthos bench hsm``.
* porthos-pkcs11 (Rust, through ``porthos._native``) initialises tokens (python-pkcs11
  0.10.1 has no C_InitToken) and signs: the session pool of ``signers.Pkcs11Signer``.

Known hazard (issue 5): python-pkcs11 0.10.1 calls ``C_Initialize(NULL)``, which lets a
module assume a single thread; SoftHSM2 then runs without its locks and crashes when two
threads sign at once. :func:`load_module` therefore re-initialises the module with
``CKF_OS_LOCKING_OK`` right after python-pkcs11 loaded it and before any session exists,
and every threaded path in porthos goes through it. Worker *processes* (the raw
per-process benchmark) load the module themselves, one instance each.

PINs are :class:`Secret` objects: their ``repr``/``str`` never show the value, they are
read from files or prompts (never from argv), and no log line, audit record or exception
message carries them.

SoftHSM2 reads ``SOFTHSM2_CONF`` when the module is initialised, so one process uses one
SoftHSM2 configuration; :func:`use_softhsm_conf` refuses to switch once loaded.
"""

from __future__ import annotations

from porthos.hsm.pins import Secret, dual_control_pin, read_pin
from porthos.hsm.tokens import (
    KEY_TYPES,
    SOFTHSM_MODULES,
    HsmKeyRef,
    ca_key_id,
    ca_private_template,
    find_module,
    generate_key,
    init_token,
    load_module,
    open_token,
    public_key_der,
    so_session,
    softhsm_conf,
    use_softhsm_conf,
    user_session,
)
from porthos.hsm.workspace_hsm import HSM_FILE, HsmSetup, WorkspaceHsm

# The package's API, gathered from its modules (pins, tokens, workspace_hsm).
__all__ = [
    "HSM_FILE",
    "KEY_TYPES",
    "SOFTHSM_MODULES",
    "HsmKeyRef",
    "HsmSetup",
    "Secret",
    "WorkspaceHsm",
    "ca_key_id",
    "ca_private_template",
    "dual_control_pin",
    "find_module",
    "generate_key",
    "init_token",
    "load_module",
    "open_token",
    "public_key_der",
    "read_pin",
    "so_session",
    "softhsm_conf",
    "use_softhsm_conf",
    "user_session",
]
