"""mopldap's own files: the inbox (claims and locks), the outbox (results and generated
passwords), the archive, the audit file and the run state.

Imports only `mopldap.model`.
"""
