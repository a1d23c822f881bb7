"""Accounts and partners as the planners see them: read from entries, compared, turned into changes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from ..model.change import Change, Modification
from ..model.entry import Entry
from ..model.layout import Layout
from ..model.passwords import hash_password
from ..model.rolemap import RoleMap
from ..model.schema import ACCOUNT_CLASSES, ACTIVE, ADMIN_LOCK, DISABLED, PROFILE_ATTRS
from ..model.times import format_time


@dataclass(frozen=True)
class AccountState:
    """What matters of one account; `enabled` is the truth (slapd refuses a locked account's binds)."""

    dn: str
    username: str
    partner: str | None  # partner code; None for HQ or elsewhere
    where: str  # "partner" | "hq" | "other"
    exists: bool = True
    profile: tuple[tuple[str, tuple[str, ...]], ...] = ()
    user_type: str | None = None
    enabled: bool = True
    status: str | None = ACTIVE  # mopAccountStatus as stored
    reason: str | None = None
    disabled_at: str | None = None
    enabled_at: str | None = None
    has_mop_class: bool = True
    roles: frozenset[str] = frozenset()
    systems: frozenset[str] = frozenset()
    has_children: bool = field(default=False, compare=False)
    password_changed: str | None = field(default=None, compare=False)  # pwdChangedTime
    password_reset: bool = False  # pwdReset: TRUE, still on a password set for the person

    @property
    def profile_map(self) -> dict[str, tuple[str, ...]]:
        return dict(self.profile)

    def with_profile(self, **attrs: tuple[str, ...]) -> AccountState:
        merged = {**self.profile_map, **attrs}
        return replace(self, profile=tuple(sorted(merged.items())))

    def disabled(self, reason: str, now: dt.datetime) -> AccountState:
        if not self.enabled and self.status == DISABLED and self.reason == reason:
            return self
        was_disabled = self.status == DISABLED and not self.enabled
        return replace(self, enabled=False, status=DISABLED, reason=reason,
                       disabled_at=(self.disabled_at or format_time(now)) if was_disabled else format_time(now))

    def enabled_now(self, now: dt.datetime) -> AccountState:
        if self.enabled and self.status == ACTIVE and self.reason is None:
            return self
        return replace(self, enabled=True, status=ACTIVE, reason=None, disabled_at=None, enabled_at=format_time(now))


def status_of(state: AccountState) -> str:
    """What a person sees of an account's status: active, first-password (active, on a password set
    for them, not yet changed), or disabled."""
    if not state.enabled:
        return "disabled"
    return "first-password" if state.password_reset else "active"


def account_from_entry(entry: Entry, layout: Layout) -> AccountState:
    """Build the state of an account from its entry (read with ACCOUNT_ATTRS)."""
    partner = layout.partner_of(entry.dn)
    where = "partner" if partner is not None else ("hq" if layout.is_hq_account(entry.dn) else "other")
    roles, systems = set(), set()
    for group in entry.get("memberOf"):
        role = layout.group_id(group, layout.roles)
        system = layout.group_id(group, layout.systems)
        if role:
            roles.add(role)
        elif system:
            systems.add(system)
    profile = {name: tuple(entry.get(name)) for name in PROFILE_ATTRS}
    classes = {c.lower() for c in entry.get("objectClass")}
    return AccountState(
        dn=entry.dn,
        username=(entry.first("uid") or "").lower(),
        partner=partner,
        where=where,
        profile=tuple(sorted(profile.items())),
        user_type=entry.first("mopUserType"),
        enabled=entry.first("pwdAccountLockedTime") != ADMIN_LOCK,
        status=entry.first("mopAccountStatus"),
        reason=entry.first("mopDisabledReason"),
        disabled_at=entry.first("mopDisabledAt"),
        enabled_at=entry.first("mopEnabledAt"),
        has_mop_class="mopaccount" in classes,
        roles=frozenset(roles),
        systems=frozenset(systems),
        has_children=entry.first("hasSubordinates") == "TRUE",
        password_changed=entry.first("pwdChangedTime"),
        password_reset=entry.first("pwdReset") == "TRUE",
    )


def _replace(attr: str, old: tuple[str, ...], new: tuple[str, ...]) -> tuple[Modification, tuple[str, ...]] | None:
    if tuple(old) == tuple(new):
        return None
    return Modification(attr, "replace", tuple(new)), tuple(old)


def account_modifications(before: AccountState, after: AccountState) -> tuple[list[Modification], dict]:
    """Return the modify of an existing account's entry from `before` to `after` (no memberships)."""
    mods: list[Modification] = []
    old: dict[str, tuple[str, ...]] = {}

    def put(attr: str, was: tuple[str, ...], now: tuple[str, ...]) -> None:
        change = _replace(attr, was, now)
        if change is not None:
            mods.append(change[0])
            old[attr] = change[1]

    if not before.has_mop_class and after.has_mop_class:
        mods.append(Modification("objectClass", "add", ("mopAccount",)))
    for attr in PROFILE_ATTRS:
        put(attr, before.profile_map.get(attr, ()), after.profile_map.get(attr, ()))
    opt = lambda value: (value,) if value else ()  # noqa: E731
    put("mopUserType", opt(before.user_type), opt(after.user_type))
    put("mopAccountStatus", opt(before.status), opt(after.status))
    put("mopDisabledReason", opt(before.reason), opt(after.reason))
    put("mopDisabledAt", opt(before.disabled_at), opt(after.disabled_at))
    put("mopEnabledAt", opt(before.enabled_at), opt(after.enabled_at))
    put("pwdAccountLockedTime", () if before.enabled else (ADMIN_LOCK,), () if after.enabled else (ADMIN_LOCK,))
    return mods, old


def new_account_attributes(state: AccountState) -> tuple[Modification, ...]:
    """Return the attributes of a new account entry for `state` (without password)."""
    attrs: dict[str, tuple[str, ...]] = {"objectClass": ACCOUNT_CLASSES, "uid": (state.username,)}
    attrs |= {k: v for k, v in state.profile if v}
    for attr, value in (("mopUserType", state.user_type), ("mopAccountStatus", state.status),
                        ("mopDisabledReason", state.reason), ("mopDisabledAt", state.disabled_at),
                        ("mopEnabledAt", state.enabled_at)):
        if value:
            attrs[attr] = (value,)
    if not state.enabled:
        attrs["pwdAccountLockedTime"] = (ADMIN_LOCK,)
    return tuple(Modification(name, "replace", values) for name, values in attrs.items())


def password_changes(state: AccountState, password: str, scheme: str,
                     **context) -> tuple[tuple[Modification, ...], list[Change]]:
    """How to set `password` on the account: modifications for its add or modify (pre-hashed
    schemes), and the changes that follow it (scheme 'server': Password Modify, then pwdReset).
    Either way the person must change it at first login (pwdReset: TRUE).

    slapd's ppolicy lifts pwdAccountLockedTime whenever a password is set (even when the same
    modify asks for the lock): a disabled account gets its lock back in a modify of its own."""
    hashed = hash_password(password, scheme)
    reset = Modification("pwdReset", "replace", ("TRUE",))
    relock = [] if state.enabled and state.status != DISABLED else [
        Change("modify", state.dn, (Modification("pwdAccountLockedTime", "replace", (ADMIN_LOCK,)),),
               reason="setting a password lifts slapd's lock: the account stays disabled", **context)]
    if hashed is not None:
        return (Modification("userPassword", "replace", (hashed,)), reset), relock
    return (), [Change("password", state.dn, secret=password, **context), Change("modify", state.dn, (reset,), **context),
                *relock]


def creation_changes(state: AccountState, password: str, scheme: str, **context) -> list[Change]:
    """Return the changes that create the account `state` with `password`."""
    mods, after = password_changes(state, password, scheme, **context)
    return [Change("add", state.dn, new_account_attributes(state) + mods, **context), *after]


def entitled_systems(state: AccountState, rolemap: RoleMap, gate: bool = True) -> frozenset[str]:
    """The systems an account should be in: its roles' (HQ roles count only under ou=hq); none if
    disabled, and none (with the first password `gate`) while it is still on a password set for it."""
    if not state.enabled or state.where not in ("partner", "hq"):  # "other": not where accounts live
        return frozenset()
    if gate and state.password_reset:
        return frozenset()
    roles = [r for r in state.roles if r not in rolemap.hq_roles or state.where == "hq"]
    return rolemap.granted_systems(roles)


def membership_delta(
    before: AccountState, after: AccountState, granted: frozenset[str]
) -> tuple[set[str], set[str], set[str], set[str]]:
    """Return (roles to add, roles to remove, systems to add, systems to remove) for one account."""
    gone = not after.exists
    target_roles = frozenset() if gone else after.roles
    target_systems = frozenset() if gone or not after.enabled else granted
    return (set(target_roles - before.roles), set(before.roles - target_roles),
            set(target_systems - before.systems), set(before.systems - target_systems))
