"""Pure decisions: given what was read (entries, the role map, a request) and `now`, return the
changes to make. Request planning, reconciliation, the inactivity lock, reports, the init tree.

No I/O and no clock: `now` is an argument, so `--as-of` comes free and unit tests assert on
plans. `plan` imports only `mopldap.model`, never `ldap`, `files` or `runs`.
"""
