"""The directory layout: where partners, accounts, roles, systems and policies live.

Pure functions over DN strings. DNs are built with escaped RDN values, and compared
in a normalized form (attribute types and values lowercased: every naming attribute
used here - dc, ou, uid, cn - matches case-insensitively).
"""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from dataclasses import dataclass

from ldap3.core.exceptions import LDAPInvalidDnError
from ldap3.utils.dn import escape_rdn, parse_dn

USERNAME_PATTERN = re.compile(r"[a-z][a-z0-9._-]{1,31}")
PARTNER_CODE_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
PLACEHOLDER_RDN = "cn=nobody"


_SIMPLE_DN = re.compile(r"[A-Za-z][A-Za-z0-9-]*=[^,=+\\\"<>;#]+(?:\s*,\s*[A-Za-z][A-Za-z0-9-]*=[^,=+\\\"<>;#]+)*")
# a simple DN without white space anywhere: its normalized form is itself, lowercased
_PLAIN_DN = re.compile(r"[A-Za-z][A-Za-z0-9-]*=[^,=+\\\"<>;#\s]+(?:,[A-Za-z][A-Za-z0-9-]*=[^,=+\\\"<>;#\s]+)*")
# what comes before ",ou=partners,<base>" and ",ou=hq,<base>" in a normalized plain account DN
_PARTNER_HEAD = re.compile(r"[a-z][a-z0-9-]*=[^,=+\\\"<>;#\s]+,ou=[^,=+\\\"<>;#\s]+")
_HQ_HEAD = re.compile(r"[a-z][a-z0-9-]*=[^,=+\\\"<>;#\s]+")


def split_dn(dn: str) -> list[tuple[str, str]]:
    """Return the (attribute, value) pairs of `dn` (values as written, escapes kept).

    DNs without escapes, quotes or multi-valued RDNs (all of mopldap's own) are split
    directly; others go through ldap3's full parser. Raise ValueError if `dn` is not a DN.
    """
    if _SIMPLE_DN.fullmatch(dn):
        return [(attr.strip(), value.strip()) for attr, value in (part.split("=", 1) for part in dn.split(","))]
    try:
        return [(attr, value) for attr, value, _ in parse_dn(dn, escape=False, strip=True)]
    except LDAPInvalidDnError:
        raise ValueError(f"not a DN: {dn!r}") from None


def normalize_dn(dn: str) -> str:
    """Return a comparable form of `dn`; raise ValueError if it is not a DN."""
    if _PLAIN_DN.fullmatch(dn):  # most DNs, millions of member values in a full reconcile: 4x faster
        return dn.lower()
    return ",".join(f"{attr.lower()}={value.lower()}" for attr, value in split_dn(dn))


_IRREGULAR = re.compile(r"[\\\"+<>;#\s]")  # where normalize_dn may differ from lowercasing
_IRREGULAR_ASCII = "\\\"+<>;# \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what _IRREGULAR finds in ASCII text


def _regular(text: str) -> bool:
    """True if _IRREGULAR finds nothing in `text` (ASCII: one substring scan a character, 4x faster)."""
    if text.isascii():
        return not any(char in text for char in _IRREGULAR_ASCII)
    return not _IRREGULAR.search(text)


def normalize_dns(values: list[str]) -> list[str]:
    """normalize_dn of each value (for one that is no DN: its lowercase). One scan finds whether
    any has an escape, a quote, a plus, white space...; the others' normalized form is their
    lowercase (a full reconcile normalizes 3 million member values)."""
    lowered = [value.lower() for value in values]
    if _regular(",".join(values)):
        return lowered
    return [_normalized_or_lower(value) if _IRREGULAR.search(value) else low for value, low in zip(values, lowered)]


def _normalized_or_lower(value: str) -> str:
    try:
        return normalize_dn(value)
    except ValueError:
        return value.lower()


@lru_cache(maxsize=64)
def _normalized_container(dn: str) -> str:
    return normalize_dn(dn)


def rdn_value(dn: str) -> str:
    """Return the (unescaped) value of the first RDN of `dn`."""
    return _unescape(split_dn(dn)[0][1])


def _unescape(value: str) -> str:
    return re.sub(r"\\([0-9a-fA-F]{2}|.)", lambda m: chr(int(m.group(1), 16)) if len(m.group(1)) == 2 else m.group(1), value)


@dataclass(frozen=True)
class Layout:
    """DNs of the mopldap tree under `base_dn`."""

    base_dn: str

    @property
    def partners(self) -> str:
        return f"ou=partners,{self.base_dn}"

    @property
    def hq(self) -> str:
        return f"ou=hq,{self.base_dn}"

    @property
    def account_bases(self) -> tuple[str, str]:
        """Where accounts live: under their partner's OU, or under ou=hq."""
        return self.partners, self.hq

    @property
    def roles(self) -> str:
        return f"ou=roles,{self.base_dn}"

    @property
    def systems(self) -> str:
        return f"ou=systems,{self.base_dn}"

    @property
    def policies(self) -> str:
        return f"ou=policies,{self.base_dn}"

    @property
    def services(self) -> str:
        return f"ou=services,{self.base_dn}"

    @property
    def applications(self) -> str:
        """The group of application accounts (what the access rules let read accounts and systems)."""
        return f"cn=applications,{self.services}"

    @property
    def service_account(self) -> str:
        """Where the README creates mopldap's own account."""
        return f"cn=mopldap,{self.services}"

    @property
    def default_policy(self) -> str:
        return f"cn=default,{self.policies}"

    @property
    def placeholder(self) -> str:
        """The member value that stands in for 'no members' (groupOfNames needs one)."""
        return f"{PLACEHOLDER_RDN},{self.base_dn}"

    def partner(self, code: str) -> str:
        return f"ou={escape_rdn(code)},{self.partners}"

    def account(self, username: str, partner: str | None) -> str:
        """Return the DN of `username` under `partner`'s OU, or under ou=hq when partner is None."""
        parent = self.partner(partner) if partner is not None else self.hq
        return f"uid={escape_rdn(username)},{parent}"

    def role(self, role_id: str) -> str:
        return f"cn={escape_rdn(role_id)},{self.roles}"

    def system(self, system_id: str) -> str:
        return f"cn={escape_rdn(system_id)},{self.systems}"

    def group_id(self, dn: str, container: str) -> str | None:
        """Return the cn of a group directly under `container` (roles or systems), else None."""
        try:
            norm = normalize_dn(dn)
        except ValueError:
            return None
        suffix = "," + self._norm(container)
        if not norm.endswith(suffix):
            return None
        head = norm[: -len(suffix)]
        if "," in head or not head.startswith("cn="):
            return None
        return rdn_value(dn).lower()

    def partner_of(self, account_dn: str) -> str | None:
        """Return the partner code of an account DN under ou=partners, else None."""
        plain, head = self._below(account_dn, self.partners)
        if not plain:
            return self._partner_of_parsed(account_dn)
        if head is None:  # a full reconcile asks this of every member value: the string itself answers
            return None
        _, sep, parent = head.partition(",")
        return parent[3:] if sep and "," not in parent and parent[:3].lower() == "ou=" else None

    def _partner_of_parsed(self, account_dn: str) -> str | None:
        parts = split_dn(account_dn)
        parent = ",".join(f"{a.lower()}={v.lower()}" for a, v in parts[2:])
        if len(parts) < 3 or parent != self._norm(self.partners):
            return None
        return _unescape(parts[1][1]) if parts[1][0].lower() == "ou" else None

    def is_hq_account(self, account_dn: str) -> bool:
        plain, head = self._below(account_dn, self.hq)
        if not plain:
            return self._is_hq_account_parsed(account_dn)
        return bool(head) and "," not in head

    def _is_hq_account_parsed(self, account_dn: str) -> bool:
        parts = split_dn(account_dn)
        parent = ",".join(f"{a.lower()}={v.lower()}" for a, v in parts[1:])
        return len(parts) > 1 and parent == self._norm(self.hq)

    def place(self, norm: str) -> str | None:
        """'partner' or 'hq' if `norm` (normalize_dn's answer, or a lowercased value that is no DN)
        names where accounts live, else None. Plain ones are answered from the string: a full
        reconcile asks this of millions of member values."""
        for suffix, head_pattern, kind in self._places:
            if norm.endswith(suffix):
                head = norm[: -len(suffix)]
                if head_pattern.fullmatch(head):
                    return kind
                return None if _PLAIN_DN.fullmatch(head) else self._place_parsed(norm)
        return None  # a normalized DN below a container ends with the container's normalized DN

    @cached_property
    def _places(self) -> tuple[tuple[str, re.Pattern[str], str], ...]:
        """(",<container>" normalized, what may come before it in a plain account DN, the answer)."""
        return (("," + self._norm(self.partners), _PARTNER_HEAD, "partner"),
                ("," + self._norm(self.hq), _HQ_HEAD, "hq"))

    def _place_parsed(self, dn: str) -> str | None:
        try:
            if self.partner_of(dn) is not None:
                return "partner"
            return "hq" if self.is_hq_account(dn) else None
        except ValueError:
            return None

    @staticmethod
    def _norm(dn: str) -> str:
        return _normalized_container(dn)

    def _below(self, dn: str, container: str) -> tuple[bool, str | None]:
        """Whether `dn` is plain (no escapes, quotes or white space: _PLAIN_DN) and, if so, what comes
        before ",<container>" in it ("" for the container itself; None if it is not below it)."""
        low = dn.lower()
        if len(low) != len(dn) or not _PLAIN_DN.fullmatch(dn):  # (lowercasing changes some lengths)
            return False, None
        suffix = "," + self._norm(container)
        if low.endswith(suffix):
            return True, dn[: -len(suffix)]
        return True, "" if low == suffix[1:] else None
