"""Reading accounts: paged searches under ou=partners and ou=hq, filters pushed to the server."""

from __future__ import annotations

from collections.abc import Iterator

from ..model.entry import Entry
from ..model.layout import Layout
from ..model.schema import ACCOUNT_ATTRS, ACCOUNT_FILTER, LOCKED_FILTER
from .directory import Directory


def iter_accounts(directory: Directory, layout: Layout, filter: str = ACCOUNT_FILTER,
                  attrs=ACCOUNT_ATTRS, bases: tuple[str, ...] | None = None) -> Iterator[Entry]:
    """Yield the entries under ou=partners and ou=hq (or `bases`) matching `filter`, page by page."""
    for base in bases or (layout.partners, layout.hq):
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
