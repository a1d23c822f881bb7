"""What mopldap works with, as data: the configuration, the role map, request files, the DN
layout, entries and changes, strict YAML, generalizedTime, passwords, and the errors the user
sees.

Pure and dependency-free within mopldap: `model` imports no other package of mopldap (only the
standard library, pydantic, PyYAML and ldap3's pure DN and filter helpers).
"""
