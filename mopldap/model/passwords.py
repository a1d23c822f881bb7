"""Passwords: generation, policy checks and hashing. Nothing here logs a password."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import string

from .errors import ConfigError

_ALPHABET = string.ascii_letters + string.digits + "!#%+-=?@_"
_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#%+-=?@_")


def generate(length: int = 20) -> str:
    """Return a random password from the OS's cryptographic source, with every character class."""
    if length < 16:
        raise ValueError("generated passwords are at least 16 characters")
    while True:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if all(any(c in cls for c in password) for cls in _CLASSES):
            return password


def policy_problem(password: str, min_length: int) -> str | None:
    """Return why `password` breaks the server's policy (pwdMinLength), or None."""
    if len(password) < min_length:
        return f"is shorter than the server's minimum of {min_length} characters"
    if password != password.strip():
        return "starts or ends with whitespace"
    return None


def hash_password(password: str, scheme: str) -> str | None:
    """Return the userPassword value for `scheme`, or None when the server hashes it ('server')."""
    if scheme == "server":
        return None
    if scheme == "{ARGON2}":
        try:
            from argon2 import PasswordHasher
        except ImportError:
            raise ConfigError(
                "passwords.scheme: {ARGON2} needs argon2-cffi: pip install 'mopldap[argon2]' "
                "(and slapd's argon2 module loaded)"
            ) from None
        return "{ARGON2}" + PasswordHasher().hash(password)
    digest = {"{SSHA512}": hashlib.sha512, "{SSHA256}": hashlib.sha256, "{SSHA}": hashlib.sha1}[scheme]
    salt = os.urandom(8)
    return scheme + base64.b64encode(digest(password.encode("utf-8") + salt).digest() + salt).decode("ascii")
