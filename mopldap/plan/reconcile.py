"""Pure reconciliation: the changes that bring account status and system groups in line, and
the drift that mopldap reports but must not fix on its own.

- An account without mopAccount or without a status gets them (from its lock).
- A lock removed by hand (no pwdAccountLockedTime while mopAccountStatus is disabled)
  means an administrator enabled the account: status active, mopEnabledAt now.
- A lock added by hand means an administrator disabled it: status disabled, reason admin.
- Each system group equals the enabled accounts whose roles (through includes) grant it.

The directory answers the questions (which accounts are in a system group they should
not be in, and the reverse) through filters built here, so that no step needs every
account in memory: see `system_filters`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from ldap3.utils.conv import escape_filter_chars

from ..model.change import Change, Modification
from ..model.layout import Layout, normalize_dn
from ..model.rolemap import RoleMap
from ..model.schema import ACCOUNT_FILTER as ACCOUNT
from ..model.schema import ACTIVE, DISABLED, NO_ENTRY_FILTER, RESET_FILTER
from ..model.schema import LOCKED_FILTER as LOCKED
from ..model.times import format_time
from .accounts import AccountState, account_modifications, entitled_systems
from .membership import MAX_VALUES, membership_changes, slapd_order, value_limit


@dataclass(frozen=True)
class Drift:
    """Something wrong that only a person should fix."""

    kind: str
    dn: str
    detail: str


@dataclass
class ReconcilePlan:
    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    enabled_by_hand: list[str] = field(default_factory=list)
    disabled_by_hand: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    accounts: int = 0
    full: bool = False
    verified: bool = False
    """Full runs: every member's memberOf and entry were checked (else member values only)."""
    memberships_read: int = 0
    """Full runs: the member values of every role and system group, read."""
    repaired: int = 0
    """memberOf values rewritten because they disagreed with a group's members."""
    ghosts: int = 0
    """Member values naming no entry, removed."""
    memberships_written: int = 0
    """Full runs: member values added to or removed from system groups as each group was read
    (not in `changes`: written before the accounts' changes were planned)."""
    groups_written: set[str] = field(default_factory=set)

    def group_counts(self) -> tuple[int, int]:
        """(member values added or removed, system groups written), planned in `changes` or written."""
        groups = [c for c in self.changes if c.operation == "reconcile-groups"]
        members = self.memberships_written + sum(len(m.values) for c in groups for m in c.mods)
        return members, len(self.groups_written | {c.dn.lower() for c in groups})


@dataclass
class SystemDiff:
    """What the directory said about one system group: members to add, members to remove."""

    add: set[str] = field(default_factory=set)
    remove: set[str] = field(default_factory=set)


_PROCESS_KEY = os.urandom(16)


def _keyed_hash(norm: str) -> int:
    return int.from_bytes(hashlib.blake2b(norm.encode(), digest_size=8, key=_PROCESS_KEY).digest(), "big", signed=True)


member_key: Callable[[str], int] = hash if os.environ.get("PYTHONHASHSEED", "random") == "random" else _keyed_hash
"""What a full reconcile holds for a member (its normalized DN), in place of the string: 8 bytes
of a hash keyed at random in each process (Python's own str hash; BLAKE2b under a key of this
process where PYTHONHASHSEED fixes Python's; a signed 64-bit int either way, as array('q') holds
them). Arrays and sets of these, not strings, hold the millions of memberships of a full
reconcile at 1,000,000 accounts. Two DNs with one key (about one chance in
ten million per run at 1,000,000 accounts, and not one anyone can aim at: the key is secret and
new each run) would make this run take one for the other; the next run, under another key, puts
it right."""


@dataclass
class GroupRead:
    """One group as read: the keys of its members, and their values only where a decision needs
    them; and, `verified`, what the entries whose memberOf names it (what the memberof overlay
    believes) say about it. The two disagree only after slapd stopped in mid-write. Not verified:
    the member values alone, each taken to name an entry."""

    dn: str
    count: int = 0  # member values read
    members: array = field(default_factory=lambda: array("q"))  # member_key of each member where accounts live
    hq: set[int] = field(default_factory=set)  # keys of the members under ou=hq
    outside: dict[str, str] = field(default_factory=dict)  # normalized -> value: not where accounts live
    picked: dict[str, str] = field(default_factory=dict)  # normalized -> value: the members not wanted (take)
    verified: bool = False
    suspects: dict[str, str] = field(default_factory=dict)
    """Verified: the members where accounts live that do not hold the group: an entry whose
    memberOf was lost, or no entry at all. Only reading them tells which (then `found`)."""
    found: set[str] = field(default_factory=set)  # suspects that are entries
    stale: list[str] = field(default_factory=list)  # verified: entries holding the group, not members (nor wanted)

    def take(self, norm: str, value: str, place: str | None, wanted: set[int] | None) -> None:
        """Take one member value (its normalized form, and Layout.place of that). Given `wanted`
        (the keys the group should hold), a member not in it is `picked`, one in it is taken out
        of it: what is left of `wanted` in the end is what the group lacks."""
        key = member_key(norm)
        self.count += 1
        if place is None:
            self.outside[norm] = value
        else:
            self.members.append(key)
            if place == "hq":
                self.hq.add(key)
        if wanted is not None:
            if key in wanted:
                wanted.discard(key)
            else:
                self.picked[norm] = value

    def ghosts(self) -> list[str]:
        """Member values under the account bases that name no entry."""
        return [dn for norm, dn in self.suspects.items() if norm not in self.found]

    def granting(self, hq_only: bool, locked: set[int]) -> array:
        """The keys of the members that are entries under the account bases (`hq_only`: under
        ou=hq), locked ones aside."""
        absent = locked | {member_key(norm) for norm in self.suspects if norm not in self.found}
        keys = self.hq if hq_only else self.members
        return array("q", (key for key in keys if key not in absent))


@dataclass
class GroupPlan:
    """What a full reconcile does to one group."""

    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    repaired: int = 0  # memberOf values rewritten


# -- one account ---------------------------------------------------------------------------


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


def drift_of(state: AccountState, rolemap: RoleMap) -> list[Drift]:
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


# -- filters the directory answers -------------------------------------------------------------


def _any_member_of(dns: Iterable[str]) -> str:
    terms = "".join(f"(memberOf={escape_filter_chars(dn)})" for dn in sorted(dns))
    return f"(|{terms})" if terms else NO_ENTRY_FILTER


def system_filters(system: str, rolemap: RoleMap, layout: Layout, gate: bool = True) -> list[tuple[str, str, str]]:
    """Return (base, filter of accounts to add, filter of members to remove) for one system group.

    To add: enabled accounts holding a role that grants the system, not yet in the group (and,
    with the first password `gate`, on a password of their own). To remove: members that are
    locked, hold no role granting it, or (gate) are still on a password set for them. HQ roles
    count only under ou=hq.
    """
    reset = RESET_FILTER if gate else NO_ENTRY_FILTER
    group = escape_filter_chars(layout.system(system))
    granting = {r for r in rolemap.roles if system in rolemap.systems_of(r)}
    out = []
    for base, roles in ((layout.partners, granting - rolemap.hq_roles), (layout.hq, granting)):
        holds = _any_member_of(layout.role(r) for r in roles)
        add = f"(&{ACCOUNT}{holds}(!(memberOf={group}))(!{LOCKED})(!{reset}))"
        remove = f"(&(memberOf={group})(|{LOCKED}{reset}(!{holds})))"
        out.append((base, add, remove))
    return out


def status_filter() -> str:
    """Accounts whose status disagrees with their lock, or that lack mopAccount or a status."""
    return (f"(&{ACCOUNT}(|(!(objectClass=mopAccount))(!(mopAccountStatus=*))"
            f"(&(mopAccountStatus=disabled)(!{LOCKED}))(&{LOCKED}(!(mopAccountStatus=disabled)))))")


def drift_filters(rolemap: RoleMap, layout: Layout, role_groups: Iterable[str]) -> list[tuple[str, str, str]]:
    """Return (kind, base, filter) of the drift searches of a full reconcile."""
    known_types = "".join(f"(mopUserType={escape_filter_chars(t)})" for t in sorted(rolemap.user_types))
    queries = [("no-role", f"(&{ACCOUNT}(!{_any_member_of(layout.role(r) for r in role_groups)}))"),
               ("no-user-type", f"(&{ACCOUNT}(!(mopUserType=*)))"),
               ("unknown-user-type", f"(&{ACCOUNT}(mopUserType=*)(!(|{known_types})))")]
    for role_id, role in sorted(rolemap.roles.items()):
        allowed = "".join(f"(mopUserType={escape_filter_chars(t)})" for t in role.user_types)
        queries.append(("role-not-allowed",
                        f"(&(memberOf={escape_filter_chars(layout.role(role_id))})(mopUserType=*)(!(|{allowed})))"))
    out = [(kind, base, query) for kind, query in queries for base in layout.account_bases]
    if rolemap.hq_roles:
        out.append(("hq-role-outside-hq", layout.partners, _any_member_of(layout.role(r) for r in rolemap.hq_roles)))
    return out


def stray_members(group: GroupRead, layout: Layout) -> list[str]:
    """The member values of `group` that are not where accounts live (Layout.place), the
    placeholder aside."""
    placeholder = normalize_dn(layout.placeholder)
    return [dn for norm, dn in group.outside.items() if norm != placeholder]


def unwanted_members(group: GroupRead, layout: Layout) -> tuple[list[str], list[Drift]]:
    """Member values of a system group that name no account: outside ou=partners and ou=hq, or
    no entry at all; and the latter as drift."""
    ghosts = group.ghosts()
    return stray_members(group, layout) + ghosts, _ghost_drift(group.dn, ghosts)


def _ghost_drift(group: str, ghosts: list[str]) -> list[Drift]:
    return [Drift("ghost-member", group, f"member {dn} names no entry: removed") for dn in ghosts]


def role_group_drift(role_id: str, group: GroupRead, rolemap: RoleMap, layout: Layout) -> list[Drift]:
    """Members of a role group outside ou=partners and ou=hq; a role group the role map does not know."""
    dn = layout.role(role_id)
    drift = [] if role_id in rolemap.roles else [Drift("unknown-role-group", dn, "not declared in the role map")]
    drift += [Drift("member-outside", dn, f"member {m} is not an account under ou=partners or ou=hq")
              for m in stray_members(group, layout)]
    return drift


# -- the plan --------------------------------------------------------------------------------


def _repairs(group: str, values: list[str], order: tuple[str, str], limit: int) -> list[Change]:
    """Modifies that delete and re-add (or add and delete) member values in one operation: the
    group ends as it was, and the memberof overlay rewrites each member's memberOf."""
    step = max(1, value_limit(values, limit) // 2)
    return [Change("modify", group, tuple(Modification("member", action, tuple(values[i:i + step])) for action in order),
                   reason="memberOf disagreed with the group's members", operation="reconcile-memberof")
            for i in range(0, len(values), step)]


def _memberof_repairs(group: GroupRead) -> list[tuple[list[str], tuple[str, str]]]:
    """Where memberOf disagrees with `group`: the members that are entries but lack it (and are
    not `picked` to go) are deleted and re-added; the entries holding it that are not members
    (nor wanted) are added and deleted."""
    readd = sorted((dn for norm, dn in group.suspects.items() if norm in group.found and norm not in group.picked),
                   key=slapd_order)
    return [(readd, ("delete", "add")), (sorted(group.stale, key=slapd_order), ("add", "delete"))]


def _repaired(group: GroupRead, limit: int) -> tuple[list[Change], int]:
    changes, count = [], 0
    for values, order in _memberof_repairs(group):
        changes += _repairs(group.dn, values, order, limit)
        count += len(values)
    return changes, count


def _drop_placeholder(group: GroupRead, gone: int, adding: bool, layout: Layout) -> list[Change]:
    """The empty-group placeholder next to members that stay (`gone` members go): drop it (unless
    members are being added: the executor drops it then)."""
    if normalize_dn(layout.placeholder) not in group.outside or adding or group.count - 1 - gone <= 0:
        return []
    return [Change("modify", group.dn, (Modification("member", "delete", (layout.placeholder,)),),
                   reason="the group has members", operation="reconcile-groups")]


def granting_members(role_id: str, group: GroupRead, locked: set[int], rolemap: RoleMap) -> array:
    """The keys of the members a role group grants its systems to: entries under the account
    bases (HQ roles: under ou=hq only) that exist and are not in `locked` (locked accounts, and
    with the first password gate those still on a password set for them). Empty for a role the
    role map lacks."""
    if role_id not in rolemap.roles:
        return array("q")
    return group.granting(role_id in rolemap.hq_roles, locked)


def plan_role_group(role_id: str, group: GroupRead, rolemap: RoleMap, layout: Layout,
                    limit: int = MAX_VALUES) -> GroupPlan:
    """A role group in a full reconcile: remove members naming no entry (audited, reported), make
    memberOf agree with the members, report members outside the account bases."""
    plan = GroupPlan()
    ghosts = group.ghosts()
    plan.changes += membership_changes({}, {group.dn: ghosts} if ghosts else {}, reason="the member names no entry",
                                       operation="reconcile-ghosts", limit=limit)
    plan.drift += _ghost_drift(group.dn, ghosts) + role_group_drift(role_id, group, rolemap, layout)
    if group.verified:
        repairs, plan.repaired = _repaired(group, limit)
        plan.changes += repairs
    plan.changes += _drop_placeholder(group, len(ghosts), False, layout)
    return plan


def plan_system_group(group: GroupRead, add: list[str], layout: Layout, limit: int = MAX_VALUES) -> GroupPlan:
    """A system group in a full reconcile: make it hold exactly what its granting role groups
    grant: add `add` (the first of the values of the members it lacks, in slapd_order), remove the
    members read_group picked as not granted; and make memberOf agree with it. Its placeholder:
    plan_placeholder, once what it lacks is all added."""
    placeholder = normalize_dn(layout.placeholder)
    remove = [dn for norm, dn in sorted(group.picked.items()) if norm != placeholder]
    plan = GroupPlan(drift=_ghost_drift(group.dn, group.ghosts()))
    plan.changes = _derived(group.dn, add, remove, limit)
    if group.verified:
        repairs, plan.repaired = _repaired(group, limit)
        plan.changes += repairs
    return plan


def plan_placeholder(group: GroupRead, added: bool, layout: Layout) -> GroupPlan:
    """A system group's placeholder, once its changes are planned: dropped next to members that
    stay, unless members were `added` (the executor drops it then)."""
    placeholder = normalize_dn(layout.placeholder)
    gone = sum(1 for norm in group.picked if norm != placeholder)
    return GroupPlan(changes=_drop_placeholder(group, gone, added, layout))


def plan_additions(group: str, add: list[str], limit: int = MAX_VALUES) -> GroupPlan:
    """More members a system group lacks (read after plan_system_group's: a first run)."""
    return GroupPlan(changes=_derived(group, add, [], limit))


def _derived(group: str, add: list[str], remove: list[str], limit: int) -> list[Change]:
    return membership_changes({group: add} if add else {}, {group: remove} if remove else {},
                              reason="derived from the role groups' members", operation="reconcile-groups", limit=limit)


def plan_reconcile(
    accounts: Iterable[AccountState],
    system_diffs: Mapping[str, SystemDiff],
    rolemap: RoleMap,
    layout: Layout,
    now: dt.datetime,
    drift: Iterable[Drift] = (),
    account_drift: bool = True,
    memberships: bool = True,
    gate: bool = True,
) -> ReconcilePlan:
    """Given the accounts to look at one by one and what the directory said about system groups,
    return the status changes and one membership modify per system group. Without
    `memberships`, the accounts' system groups are left to plan_groups (a full run)."""
    plan = ReconcilePlan(drift=list(drift))
    additions: dict[str, dict[str, str]] = defaultdict(dict)  # group dn -> normalized member -> member
    removals: dict[str, dict[str, str]] = defaultdict(dict)
    for state in accounts:
        plan.accounts += 1
        new, what = reconciled_status(state, now)
        if what is not None:
            mods, old = account_modifications(state, new)
            if mods:
                plan.changes.append(Change("modify", state.dn, tuple(mods), old, reason=what, operation="reconcile"))
            {"adopted": plan.adopted, "enabled-by-hand": plan.enabled_by_hand,
             "disabled-by-hand": plan.disabled_by_hand}[what].append(state.dn)
        if account_drift:
            plan.drift += drift_of(new, rolemap)
        if not memberships:
            continue
        want = entitled_systems(new, rolemap, gate)
        norm = normalize_dn(state.dn)
        for system in want - state.systems:
            if system in rolemap.systems:
                additions[layout.system(system)][norm] = state.dn
        for system in state.systems - want:
            removals[layout.system(system)][norm] = state.dn
    for system, diff in system_diffs.items():
        group = layout.system(system)
        for dn in diff.add:
            norm = normalize_dn(dn)
            if layout.place(norm) is None:  # the filters search subtrees: only accounts count
                continue
            if norm not in removals[group]:
                additions[group][norm] = dn
        for dn in diff.remove:
            norm = normalize_dn(dn)
            if norm not in additions[group]:
                removals[group][norm] = dn
    plan.changes += membership_changes({g: list(m.values()) for g, m in additions.items() if m},
                                       {g: list(m.values()) for g, m in removals.items() if m},
                                       reason="derived from roles", operation="reconcile-groups")
    return plan
