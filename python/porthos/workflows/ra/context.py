"""What every RA procedure needs of its RA: the workspace and its store, who acts, and
the two ways to refuse a whole call. The facade (authority.py) is one; the procedure
modules take it as this type, so none of them imports the facade."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from porthos.exceptions import RegistrationError
from porthos.store import audit

if TYPE_CHECKING:
    from porthos.cpcps.profiles import Profile
    from porthos.store.sqlite import Store
    from porthos.workspace.workspace import Workspace

__all__ = ["RaContext", "now_or"]


def now_or(now: int | None) -> int:
    """``now`` as an int, or the system clock."""
    return int(time.time()) if now is None else int(now)


class RaContext:
    """The RA of a workspace, as its procedures see it."""

    def __init__(self, workspace: Workspace, *, actor: str | None = None) -> None:
        self.workspace = workspace
        self.store: Store = workspace.store
        self.actor = actor or audit.default_actor()

    def refuse(self, event: str, message: str, **details: Any) -> RegistrationError:
        """Audit a refusal of the whole call (000 §5.4.1: failed applications) and
        return the error to raise; nothing else was changed."""
        audit.record_failure(self.store, event, message, actor=self.actor, **details)
        return RegistrationError(message)

    def profile(self, name: str | None, procedure: str) -> Profile:
        """The profile ``name`` if the CP/CPS checks its subscribers' identity with
        ``procedure`` (RFC 3647 §3.2.3); None: the first such profile of the CP/CPS."""
        ps = self.workspace.profile_set
        allowed = ps.profiles_checked_by(procedure)
        if name is None:
            if not allowed:
                raise self.refuse(
                    audit.Event.APPLICATION_REJECTED,
                    f"the CP/CPS {ps.identity} has no profile checked by {procedure}",
                )
            name = allowed[0]
        prof = ps.profiles.get(name)
        if prof is None or name not in allowed:
            sections = sorted({ps.profiles[p].identity_check.section for p in allowed})
            where = f" (§{', §'.join(sections)})" if sections else ""
            raise self.refuse(
                audit.Event.APPLICATION_REJECTED,
                f"profile {name!r} is not issued after the {procedure}{where} check; "
                f"that check serves {', '.join(allowed) or 'no profile'} (§3.2.3)",
                profile=name,
            )
        if prof.approval is not None:
            raise self.refuse(
                audit.Event.APPLICATION_REJECTED,
                f"profile {name} is issued only after approval by "
                f"{prof.approval.describe()}: `porthos ra request`, `porthos ra approve`, "
                "`porthos ra issue-approved`",
                profile=name,
            )
        return prof
