"""Password values replaced by a marker in parsed request data, so an archive copy, a result or
a log never shows one. Files that cannot be parsed are never archived in clear: nothing tells
where a password would be in them (files/quarantine.py)."""

from __future__ import annotations

from typing import Any

REDACTED = "<redacted>"
_SECRET_WORDS = ("pass", "pw", "word", "secret", "token", "credential")


def could_be_secret(key: Any) -> bool:
    """A key whose value could be a password: initial_password, new_password, and any other that
    looks like one (a misspelt key still holds the password its writer typed)."""
    return isinstance(key, str) and any(word in key.lower() for word in _SECRET_WORDS)


def redact(data: Any) -> Any:
    """Return a copy of request data with the value of every key that could hold a password
    replaced by '<redacted>', at any depth."""
    if isinstance(data, dict):
        return {k: (REDACTED if could_be_secret(k) and v is not None else redact(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(item) for item in data]
    return data
