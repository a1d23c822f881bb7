"""mopldap: provisioning bridge between MOP partner user management and OpenLDAP."""

__version__ = "0.1.0"
