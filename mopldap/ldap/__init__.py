"""The only code that talks LDAP (through ldap3 and Debian's slapd): connections, paged
searches, the executor that writes a plan and audits each write, and the embedded slapd.

Imports only `mopldap.model`: what it needs of the file system (the audit file, the archive
of deleted entries) is handed to it by `runs`.
"""
