"""Re-delivering an issued batch (issue 20 §2). The batch id is the sequence number of
its ``certificates.issued`` audit record, which lists the serials in store order, so
the trail itself says what the batch was, and no second table has to agree with it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from porthos.exceptions import LifecycleError
from porthos.store import audit, registry

if TYPE_CHECKING:
    from porthos.workspace.workspace import Workspace

__all__ = ["batch_certificates"]


def batch_certificates(ws: Workspace, batch: int) -> tuple[str, str, list[bytes]]:
    """(CA, profile, DER of each certificate) of batch ``batch``, in issuance order;
    LifecycleError when no successful ``certificates.issued`` record has that id."""
    record = next(iter(audit.records(ws.store, since=batch)), None)
    if (
        record is None
        or record.seq != batch
        or record.event != audit.Event.CERTIFICATES_ISSUED
        or record.outcome != "success"
    ):
        raise LifecycleError(
            f"no issued batch {batch}: the id is the sequence number of a successful "
            "certificates.issued audit record (porthos audit show)"
        )
    ca = str(record.details.get("ca", ""))
    serials = record.details.get("serials", [])
    if not isinstance(serials, list):
        raise LifecycleError(f"batch {batch}: its audit record lists no serials")
    ders = []
    for serial in serials:
        row = registry.issued_certificate(ws.store.conn, ca, str(serial))
        if row is None:
            raise LifecycleError(f"batch {batch}: certificate {serial} of CA {ca} is not stored")
        ders.append(row.der)
    return ca, str(record.details.get("profile", "")), ders
