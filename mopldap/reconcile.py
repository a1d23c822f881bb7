"""Pure reconciliation: from the accounts and groups as read, the changes that bring status and
system groups in line, and the drift that mopldap reports but must not fix on its own.

- An account without mopAccount or without a status gets them (from its lock).
- A lock removed by hand (no pwdAccountLockedTime while mopAccountStatus is disabled)
  means an administrator enabled the account: status active, mopEnabledAt now.
- A lock added by hand means an administrator disabled it: status disabled, reason admin.
- Each system group equals the enabled accounts whose roles (through includes) grant it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .accounts import ACTIVE, DISABLED
from .accountstate import AccountState, account_modifications
from .changes import Change
from .groups import membership_changes
from .layout import Layout, normalize_dn
from .ldaptime import format_time
from .rolemap import RoleMap


@dataclass(frozen=True)
class Drift:
    """Something wrong that only a person should fix."""

    kind: str
    dn: str
    detail: str

    def line(self) -> str:
        return f"{self.kind}: {self.dn}: {self.detail}"


@dataclass
class ReconcilePlan:
    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    enabled_by_hand: list[str] = field(default_factory=list)
    disabled_by_hand: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    accounts: int = 0

    @property
    def group_changes(self) -> list[Change]:
        return [c for c in self.changes if c.operation == "reconcile-groups"]


def reconciled_status(state: AccountState, now: dt.datetime) -> tuple[AccountState, str | None]:
    """Return the account with a status consistent with its lock, and what happened (or None)."""
    when = format_time(now)
    if not state.has_mop_class or state.status not in (ACTIVE, DISABLED):
        if state.enabled:
            new = replace(state, has_mop_class=True, status=ACTIVE, reason=None, disabled_at=None)
        else:
            new = replace(state, has_mop_class=True, status=DISABLED, reason=state.reason or "admin",
                          disabled_at=state.disabled_at or when)
        return new, "adopted"
    if state.enabled and state.status == DISABLED:
        return state.enabled_now(now), "enabled-by-hand"
    if not state.enabled and state.status == ACTIVE:
        return replace(state, status=DISABLED, reason="admin", disabled_at=when), "disabled-by-hand"
    return state, None


def account_drift(state: AccountState, rolemap: RoleMap) -> list[Drift]:
    """Return what is wrong with an account's roles that reconciliation does not fix."""
    drift = []
    if not state.roles:
        drift.append(Drift("no-role", state.dn, "holds no role: it reaches no system (clean it up or give it a role)"))
    unknown = sorted(r for r in state.roles if r not in rolemap.roles)
    if unknown:
        drift.append(Drift("unknown-role", state.dn, f"holds role group(s) not in the role map: {', '.join(unknown)}"))
    if state.user_type is None:
        drift.append(Drift("no-user-type", state.dn, "has no mopUserType"))
    elif state.user_type not in rolemap.user_types:
        drift.append(Drift("unknown-user-type", state.dn, f"mopUserType '{state.user_type}' is not in the role map"))
    else:
        bad = sorted(r for r in state.roles if r in rolemap.roles and state.user_type not in rolemap.roles[r].user_types)
        if bad:
            drift.append(Drift("role-not-allowed", state.dn,
                               f"user type '{state.user_type}' does not allow role(s) {', '.join(bad)}"))
    hq = sorted(state.roles & rolemap.hq_roles)
    if hq and state.where != "hq":
        drift.append(Drift("hq-role-outside-hq", state.dn, f"holds HQ role(s) {', '.join(hq)} outside ou=hq"))
    return drift


def plan_reconcile(
    accounts: Iterable[AccountState],
    system_members: Mapping[str, Iterable[str]],
    role_members: Mapping[str, Iterable[str]],
    rolemap: RoleMap,
    layout: Layout,
    now: dt.datetime,
) -> ReconcilePlan:
    """Given every account under ou=partners and ou=hq (streamed), the member values of every system
    group and of every role group in the directory, return the reconciliation plan."""
    plan = ReconcilePlan()
    expected: dict[str, dict[str, str]] = defaultdict(dict)  # system -> normalized dn -> dn
    for state in accounts:
        plan.accounts += 1
        new, what = reconciled_status(state, now)
        if what is not None:
            mods, old = account_modifications(state, new)
            if mods:
                plan.changes.append(Change("modify", state.dn, tuple(mods), old, reason=what, operation="reconcile"))
            {"adopted": plan.adopted, "enabled-by-hand": plan.enabled_by_hand,
             "disabled-by-hand": plan.disabled_by_hand}[what].append(state.dn)
        if new.enabled:
            for system in rolemap.granted_systems(r for r in new.roles if r not in rolemap.hq_roles or new.where == "hq"):
                expected[system][normalize_dn(state.dn)] = state.dn
        plan.drift += account_drift(new, rolemap)
    placeholder = normalize_dn(layout.placeholder)
    additions: dict[str, list[str]] = {}
    removals: dict[str, list[str]] = {}
    for system in rolemap.systems:
        actual = {normalize_dn(v): v for v in system_members.get(system, ())}
        actual.pop(placeholder, None)
        want = expected.get(system, {})
        group = layout.system(system)
        add = [want[n] for n in sorted(set(want) - set(actual))]
        remove = [actual[n] for n in sorted(set(actual) - set(want))]
        if add:
            additions[group] = add
        if remove:
            removals[group] = remove
    plan.changes += membership_changes(additions, removals, reason="derived from roles",
                                       operation="reconcile-groups")
    plan.drift += role_group_drift(role_members, rolemap, layout)
    return plan


def role_group_drift(role_members: Mapping[str, Iterable[str]], rolemap: RoleMap, layout: Layout) -> list[Drift]:
    """Role group members outside ou=partners and ou=hq, and role groups the role map does not know."""
    drift = []
    placeholder = normalize_dn(layout.placeholder)
    inside = (normalize_dn(layout.partners), normalize_dn(layout.hq))
    for role, members in sorted(role_members.items()):
        if role not in rolemap.roles:
            drift.append(Drift("unknown-role-group", layout.role(role), "a role group the role map does not declare"))
        for member in members:
            norm = normalize_dn(member)
            if norm != placeholder and not norm.endswith(tuple("," + i for i in inside)):
                drift.append(Drift("member-outside", layout.role(role),
                                   f"member {member} is not an account under ou=partners or ou=hq"))
    return drift
