"""Group membership changes, batched: one modify per group, many member values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .changes import Change
from .directory import Modification


def membership_changes(
    additions: Mapping[str, Iterable[str]],
    removals: Mapping[str, Iterable[str]],
    placeholder: str,
    reason: str = "",
    request_id: str | None = None,
    operation: str | None = None,
) -> list[Change]:
    """Given member DNs to add and remove per group DN, return one modify per group.

    Adding also drops the placeholder member (a no-op when it is absent: apply.py
    sends these modifies with the Permissive Modify control). A removal that would
    empty the group is retried by apply.py with the placeholder added.
    """
    changes = []
    for group in sorted(set(additions) | set(removals), key=str.lower):
        add = sorted(set(additions.get(group, ())), key=str.lower)
        remove = sorted(set(removals.get(group, ())), key=str.lower)
        mods = []
        if add:
            mods.append(Modification("member", "add", tuple(add)))
            mods.append(Modification("member", "delete", (placeholder,), quiet=True))
        if remove:
            mods.append(Modification("member", "delete", tuple(remove)))
        if mods:
            changes.append(
                Change("modify", group, tuple(mods), reason=reason, request_id=request_id, operation=operation)
            )
    return changes


def is_membership_change(change: Change) -> bool:
    return change.action == "modify" and bool(change.mods) and all(m.attr == "member" for m in change.mods)


def with_placeholder(change: Change, placeholder: str) -> Change:
    """Return `change` with the placeholder member added, for a removal that empties the group."""
    mods = tuple(m for m in change.mods if not m.quiet) + (Modification("member", "add", (placeholder,), quiet=True),)
    return Change(change.action, change.dn, mods, change.old, change.reason, change.request_id, change.operation)
