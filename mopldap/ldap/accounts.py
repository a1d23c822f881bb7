"""Reading accounts: paged searches under ou=partners and ou=hq, filters pushed to the server."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from ldap3.utils.conv import escape_filter_chars

from ..model.entry import Entry
from ..model.layout import Layout, normalize_dn, rdn_value, split_dn
from ..model.schema import ACCOUNT_ATTRS, ACCOUNT_FILTER, LOCKED_FILTER
from .directory import Directory


def iter_accounts(directory: Directory, layout: Layout, filter: str = ACCOUNT_FILTER,
                  attrs=ACCOUNT_ATTRS, bases: tuple[str, ...] | None = None) -> Iterator[Entry]:
    """Yield the entries under ou=partners and ou=hq (or `bases`) matching `filter`, page by page."""
    for base in bases or layout.account_bases:
        yield from directory.search(base, filter, attrs)


def count_enabled(directory: Directory, layout: Layout, cap: int | None = None) -> int:
    """Count enabled accounts (DNs only), stopping at `cap`: the brake needs no more."""
    query = f"(&{ACCOUNT_FILTER}(!{LOCKED_FILTER}))"
    count = 0
    for _ in iter_accounts(directory, layout, query, ("1.1",)):
        count += 1
        if cap is not None and count >= cap:
            break
    return count


CHUNK = 200  # terms per (|(uid=...)...) or (|(member=...)...) filter


def by_uid(directory: Directory, base: str, uids: Iterable[str], attrs: Sequence[str]) -> Iterator[Entry]:
    """Yield the entries under `base` whose uid is one of `uids`: one search per CHUNK uids (uid is
    indexed), never one per account."""
    names = sorted(set(uids))
    for start in range(0, len(names), CHUNK):
        terms = "".join(f"(uid={escape_filter_chars(u)})" for u in names[start:start + CHUNK])
        yield from directory.search(base, f"(|{terms})", attrs)


def existing(directory: Directory, layout: Layout, dns: dict[str, str]) -> set[str]:
    """Given normalized DN -> DN, return the normalized DNs of those that are entries: one
    search per CHUNK uid= DNs (uid is indexed), a base read for any other."""
    found: set[str] = set()
    named: set[str] = set()
    for norm, dn in dns.items():
        try:
            attr, value = split_dn(dn)[0]
        except ValueError:
            continue
        if attr.lower() == "uid":
            named.add(rdn_value(dn).lower())
        elif directory.read(dn, ("1.1",)) is not None:
            found.add(norm)
    for entry in by_uid(directory, layout.base_dn, named, ("1.1",)):
        norm = normalize_dn(entry.dn)
        if norm in dns:
            found.add(norm)
    return found


def memberships(directory: Directory, layout: Layout, dns: list[str]) -> dict[str, list[str]]:
    """Given DNs, return the groups naming each (normalized DN -> group DNs), leaving out DNs no
    group names. One search per CHUNK DNs (member is indexed); only when a chunk matches
    something, one search per DN of that chunk, to tell which."""
    found: dict[str, list[str]] = {}
    for start in range(0, len(dns), CHUNK):
        chunk = dns[start:start + CHUNK]
        terms = "".join(f"(member={escape_filter_chars(dn)})" for dn in chunk)
        if not list(directory.search(layout.base_dn, f"(&(objectClass=groupOfNames)(|{terms}))", ("1.1",))):
            continue
        for dn in chunk:
            query = f"(&(objectClass=groupOfNames)(member={escape_filter_chars(dn)}))"
            groups = [entry.dn for entry in directory.search(layout.base_dn, query, ("1.1",))]
            if groups:
                found[normalize_dn(dn)] = groups
    return found
