"""Who is signed in: an account found by the service account, proven by a bind as that account."""

from __future__ import annotations

from dataclasses import dataclass

from ..ldap.accounts import by_uid
from ..ldap.directory import BindRefused, Directory
from ..model.config import Config
from ..model.layout import USERNAME_PATTERN, Layout
from ..model.rolemap import RoleMap
from ..model.schema import ACCOUNT_ATTRS
from ..plan.accounts import AccountState, account_from_entry


class WrongCredentials(Exception):
    """Unknown username, wrong password, locked or disabled: the one answer a caller gets."""


@dataclass(frozen=True)
class Person:
    username: str
    dn: str
    name: str
    partner: str | None
    is_hq_admin: bool
    is_partner_admin: bool
    must_change_password: bool

    @property
    def is_admin(self) -> bool:
        return self.is_hq_admin or self.is_partner_admin

    def may_manage(self, partner: str) -> bool:
        """May this person act on `partner`'s accounts (the pipeline decides again on every write)?"""
        return self.is_hq_admin or (self.is_partner_admin and self.partner == partner)


def person_of(state: AccountState, rolemap: RoleMap) -> Person:
    partner_admin_roles = rolemap.admin_roles - rolemap.hq_roles
    return Person(
        username=state.username, dn=state.dn, name=(state.profile_map.get("cn") or (state.username,))[0],
        partner=state.partner,
        is_hq_admin=state.where == "hq" and bool(state.roles & rolemap.hq_roles),
        is_partner_admin=state.where == "partner" and bool(state.roles & partner_admin_roles),
        must_change_password=state.password_reset)


def find_account(config: Config, username: str) -> AccountState | None:
    """The account named `username`, read by mopldap's own account (the person cannot read their
    entry yet: a session on a reset password may only change it)."""
    if not USERNAME_PATTERN.fullmatch(username):
        return None
    layout = Layout(config.ldap.base_dn)
    with Directory(config.ldap) as service:
        entries = list(by_uid(service, layout.base_dn, [username], ACCOUNT_ATTRS))
    if len(entries) != 1:  # unknown, or ambiguous: nobody signs in as either
        return None
    state = account_from_entry(entries[0], layout)
    return state if state.where in ("partner", "hq") else None


def sign_in(config: Config, rolemap: RoleMap, username: str, password: str) -> tuple[Person, Directory]:
    """Bind as the account `username`: its Person and the bound connection (the caller closes it).
    Raise WrongCredentials for anything the person must not learn more about, DirectoryError when
    the directory cannot be reached."""
    if not password:  # an empty password would be an anonymous bind (RFC 4513 5.1.2)
        raise WrongCredentials()
    state = find_account(config, username.strip().lower())
    if state is None or not state.enabled:
        raise WrongCredentials()
    try:
        own = Directory(config.ldap, bind_dn=state.dn, password=password).connect()
    except BindRefused:
        raise WrongCredentials() from None
    return person_of(state, rolemap), own
