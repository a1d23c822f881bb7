"""What the console and the API show, read with the signed-in person's own connection: the
directory's access rules decide what comes back, whatever this code asks for. Filters are pushed
to the server; a partner's accounts are read page by page under that partner's OU only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ldap3.utils.conv import escape_filter_chars

from ..ldap.directory import ONELEVEL, Directory
from ..model.config import Config
from ..model.entry import Entry
from ..model.layout import Layout
from ..model.rolemap import RoleMap
from ..model.schema import ACCOUNT_ATTRS, ACCOUNT_FILTER, LOCKED_FILTER, RESET_FILTER
from ..model.times import parse_time
from ..plan.accounts import AccountState, account_from_entry, entitled_systems, status_of
from ..plan.inactivity import activity_attributes, last_activity

STATUSES = ("active", "first-password", "disabled")
SORTS = ("username", "name", "status", "last_login", "days_left")
PARTNER_ATTRS = ("ou", "mopPartnerName", "mopPartnerStatus")


@dataclass(frozen=True)
class AccountRow:
    state: AccountState
    name: str
    title: str
    mail: str
    mobile: str
    status: str  # active | first-password | disabled
    systems: tuple[str, ...]
    last_login: dt.datetime | None
    days_left: int | None  # until the inactivity lock; None: exempt or already disabled

    @property
    def username(self) -> str:
        return self.state.username

    def as_json(self) -> dict[str, object]:
        s = self.state
        return {"username": s.username, "name": self.name, "title": self.title or None, "email": self.mail or None,
                "mobile": self.mobile or None, "user_type": s.user_type, "status": self.status,
                "roles": sorted(s.roles), "systems": list(self.systems),
                "last_login": self.last_login.isoformat() if self.last_login else None,
                "days_until_lock": self.days_left, "disabled_reason": s.reason,
                "disabled_at": parse_time(s.disabled_at).isoformat() if s.disabled_at and parse_time(s.disabled_at)
                else None}


def _first(state: AccountState, attr: str) -> str:
    return (state.profile_map.get(attr) or ("",))[0]


def row_of(entry: Entry, config: Config, rolemap: RoleMap, now: dt.datetime) -> AccountRow:
    layout = Layout(config.ldap.base_dn)
    state = account_from_entry(entry, layout)
    status = status_of(state)
    systems = entitled_systems(state, rolemap, config.access.first_password_gate)
    last, _ = last_activity([entry], activity_attributes(config.inactivity.attributes))
    login, _ = last_activity([entry], config.inactivity.attributes)
    exempt = bool(state.roles & set(config.inactivity.exempt_roles)) or entry.first("mopInactivityExempt") == "TRUE"
    days_left = None
    if state.enabled and not exempt and last is not None:
        days_left = config.inactivity.max_idle_days - (now - last).days
    return AccountRow(state, _first(state, "cn"), _first(state, "title"), _first(state, "mail"),
                      _first(state, "mobile"), status, tuple(sorted(systems)), login, days_left)


def read_attrs(config: Config) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*ACCOUNT_ATTRS, *activity_attributes(config.inactivity.attributes)]))


def account_filter(search: str = "", status: str = "", role: str = "", layout: Layout | None = None) -> str:
    """The filter of the accounts a listing asks for: all of it evaluated by the server."""
    parts = [ACCOUNT_FILTER]
    if search:
        text = escape_filter_chars(search)
        parts.append(f"(|(uid=*{text}*)(cn=*{text}*)(mail=*{text}*)(title=*{text}*))")
    if status == "disabled":
        parts.append(LOCKED_FILTER)
    elif status == "first-password":
        parts.append(f"(!{LOCKED_FILTER}){RESET_FILTER}")
    elif status == "active":
        parts.append(f"(!{LOCKED_FILTER})(!{RESET_FILTER})")
    if role and layout is not None:
        parts.append(f"(memberOf={escape_filter_chars(layout.role(role))})")
    return "(&" + "".join(parts) + ")"


def partner_accounts(own: Directory, config: Config, rolemap: RoleMap, partner: str, now: dt.datetime,
                     search: str = "", status: str = "", role: str = "", sort: str = "username") -> list[AccountRow]:
    """The accounts of one partner as `own` may see them, filtered by the server, sorted here."""
    layout = Layout(config.ldap.base_dn)
    query = account_filter(search, status if status in STATUSES else "", role if role in rolemap.roles else "",
                           layout)
    rows = [row_of(entry, config, rolemap, now)
            for entry in own.search(layout.partner(partner), query, read_attrs(config), scope=ONELEVEL)]
    return sort_rows(rows, sort)


def sort_rows(rows: list[AccountRow], sort: str) -> list[AccountRow]:
    far = 10 ** 9
    keys = {
        "username": lambda r: r.username,
        "name": lambda r: (r.name, r.username),
        "status": lambda r: (STATUSES.index(r.status), r.username),
        "last_login": lambda r: (-(r.last_login.timestamp()) if r.last_login else far, r.username),
        "days_left": lambda r: (far if r.days_left is None else r.days_left, r.username),
    }
    return sorted(rows, key=keys.get(sort, keys["username"]))


def one_account(own: Directory, config: Config, rolemap: RoleMap, dn: str, now: dt.datetime) -> AccountRow | None:
    entry = own.read(dn, read_attrs(config))
    return row_of(entry, config, rolemap, now) if entry is not None and entry.first("uid") else None


@dataclass(frozen=True)
class PartnerRow:
    code: str
    name: str
    status: str
    accounts: int
    active: int
    locked: int  # disabled by an administrator or by the inactivity lock, or locked out by the policy
    first_password: int


def partner(own: Directory, config: Config, code: str) -> PartnerRow | None:
    """The partner `code` with its counts, if `own` may see it."""
    layout = Layout(config.ldap.base_dn)
    entry = own.read(layout.partner(code), PARTNER_ATTRS)
    return None if entry is None else _partner_row(own, layout, entry)


def partner_exists(own: Directory, config: Config, code: str) -> bool:
    """Whether `own` may see partner `code` (one base read; no counts, unlike `partner`)."""
    return own.read(Layout(config.ldap.base_dn).partner(code), ("1.1",)) is not None


PARTNERS_PER_PAGE = 50


def partners(own: Directory, config: Config, search: str = "", page: int = 1) -> tuple[list[PartnerRow], int]:
    """One page of the partners `own` may see (HQ: all), each with its counts, and how many there
    are: one search for the partners' names, then one per partner shown, reading only two status
    attributes of its accounts (never every account of the directory)."""
    layout = Layout(config.ldap.base_dn)
    query = "(objectClass=organizationalUnit)"
    if search:
        text = escape_filter_chars(search)
        query = f"(&{query}(|(ou=*{text}*)(mopPartnerName=*{text}*)))"
    found = sorted(own.search(layout.partners, query, PARTNER_ATTRS, scope=ONELEVEL), key=lambda e: e.first("ou") or "")
    start = (max(page, 1) - 1) * PARTNERS_PER_PAGE
    return [_partner_row(own, layout, entry) for entry in found[start:start + PARTNERS_PER_PAGE]], len(found)


def _partner_row(own: Directory, layout: Layout, entry: Entry) -> PartnerRow:
    counts = {"active": 0, "locked": 0, "first-password": 0}
    for account in own.search(entry.dn, ACCOUNT_FILTER, ("pwdAccountLockedTime", "pwdReset"), scope=ONELEVEL):
        if account.first("pwdAccountLockedTime"):
            counts["locked"] += 1
        elif account.first("pwdReset") == "TRUE":
            counts["first-password"] += 1
        else:
            counts["active"] += 1
    return PartnerRow(entry.first("ou") or "", entry.first("mopPartnerName") or "",
                      entry.first("mopPartnerStatus") or "active", sum(counts.values()), counts["active"],
                      counts["locked"], counts["first-password"])
