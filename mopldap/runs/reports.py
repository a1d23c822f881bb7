"""`mopldap report KIND`: read what a report needs (filters pushed to the server), print its rows."""

from __future__ import annotations

from ..ldap.accounts import iter_accounts
from ..model.config import Config
from ..model.errors import ConfigError
from ..model.layout import PARTNER_CODE_PATTERN
from ..model.rolemap import RoleMap
from ..model.schema import ACCOUNT_FILTER, LOCKED_FILTER
from ..model.times import parse_as_of
from ..plan.accounts import account_from_entry
from ..plan.reports import COLUMNS, access_rows, account_rows, inactive_rows, locked_rows, render, stale_rows
from .inactivity import find_idle
from .runtime import open_runtime


def run_report(config: Config, rolemap: RoleMap, kind: str, partner: str | None, fmt: str, as_of: str | None) -> int:
    """`mopldap report KIND`: read what the report needs (filters pushed to the server) and print it."""
    if partner is not None and not PARTNER_CODE_PATTERN.fullmatch(partner):
        raise ConfigError(f"--partner: '{partner}' is not a partner code (e.g. P001)")
    now = parse_as_of(as_of)
    with open_runtime(config, rolemap, now, dry_run=True, folders=False) as rt:
        layout = rt.layout
        bases = (layout.partner(partner),) if partner else None
        if kind == "inactive":
            to_lock, warnings, _ = find_idle(rt, bases)
            rows = inactive_rows([*to_lock, *warnings], now, config.inactivity.max_idle_days)
        else:
            query = LOCKED_FILTER if kind == "locked" else ACCOUNT_FILTER
            states = [account_from_entry(e, layout) for e in iter_accounts(rt.directory, layout, query, bases=bases)]
            rows = {
                "accounts": lambda: account_rows(states),
                "access": lambda: access_rows(states, rolemap, config.access.first_password_gate),
                "locked": lambda: locked_rows(states, now),
                "stale": lambda: stale_rows(states, now, rolemap),
            }[kind]()
    print(render(rows, COLUMNS[kind], fmt), end="")
    return 0
