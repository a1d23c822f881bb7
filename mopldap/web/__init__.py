"""The console and the API (`mopldap serve`): people sign in with their directory password.

Reads go through the signed-in person's own LDAP bind, so the directory's access rules decide
what they see; writes are requests through the same pipeline as the inbox (runs.submit), with
`requested_by` taken from the session. May import runs, plan, ldap, files and model.
"""
