"""One HSM worker process of porthos.hsm.workers.ProcessPool
(``python -m porthos.hsm.worker_main``).

It loads the PKCS#11 module itself (its own module instance, initialised with
CKF_OS_LOCKING_OK by porthos_pkcs11), opens one session, logs in, and signs the
digests the parent sends over stdin; results go back over stdout. The PIN arrives
over the pipe (never argv, never the environment) and is held only by the Rust pool.
The framing is in porthos.hsm.workers.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np


def main() -> int:
    from porthos import _native, exceptions
    from porthos.hsm import workers as hsm_workers

    # The protocol owns the real stdout; anything a library prints goes to stderr.
    proto_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    fin = sys.stdin.buffer
    header = json.loads(hsm_workers.read_frame(fin))
    pin = bytearray(hsm_workers.read_frame(fin))
    try:
        pool = _native.Pkcs11Pool(
            header["module"],
            header["token"],
            header["key"],
            header["signature_algorithm"],
            bytes(pin),
            1,
            header["key_placement"],
        )
    except exceptions.PorthosError as exc:
        # The message names the token/key and the CKR_ code; it never carries the PIN.
        hsm_workers.write_frame(
            proto_out,
            json.dumps({"ok": False, "error": type(exc).__name__, "message": str(exc)}).encode(),
        )
        return 1
    finally:
        pin[:] = b"\0" * len(pin)
    hsm_workers.write_frame(
        proto_out, json.dumps({"ok": True, "copies": pool.session_key_copies}).encode()
    )
    while True:
        request = hsm_workers.read_request(fin)
        if request is None:
            pool.close()
            return 0
        try:
            sigs, status, reasons, latency, reopened = pool.sign_digests(request)
        except exceptions.PorthosError as exc:  # the parent validates; belt and braces
            n = len(request)
            sigs, reasons = [None] * n, [str(exc)] * n
            status, latency, reopened = np.full(n, 2, np.uint8), np.zeros(n, np.uint64), 0
        blobs = [
            s if s is not None else reasons[i].encode("utf-8", "replace")
            for i, s in enumerate(sigs)
        ]
        hsm_workers.write_response(
            proto_out,
            np.asarray(status, dtype=np.uint8),
            blobs,
            np.asarray(latency, dtype=np.uint64),
            int(reopened),
            bool(pool.pin_refused),
        )


if __name__ == "__main__":
    sys.exit(main())
