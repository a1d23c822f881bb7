"""mopldap: provisioning bridge between MOP partner user management and OpenLDAP.

cli → runs → plan | ldap | files → model: see each package's docstring, and the README's
Development section; pyproject.toml's import-linter contracts keep the layers.
"""

__version__ = "0.1.0"
