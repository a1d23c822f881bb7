"""The commands' work: one module per step (inbox, reconcile, inactivity) and per command
(sync, init, daemon, reports, validate, dev-server). Each reads through `ldap` and `files`,
decides with `plan`, writes through the `ldap` executor.

May import `model`, `plan`, `ldap` and `files`; only `mopldap.cli` imports `runs`.
"""
