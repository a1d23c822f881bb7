"""Password values replaced by a marker in parsed request data, and kept out of messages, so an
archive copy, a result or a log never shows one. Files that cannot be parsed are never archived
in clear: nothing tells where a password would be in them (files/quarantine.py).

A damaged file can move a password next to a word that says what it is ("new_password:x Secret"
read as one key): any key or value that mentions a password word is hidden too."""

from __future__ import annotations

from typing import Any

REDACTED = "<redacted>"
HIDDEN_KEY = "<hidden key>"
SECRET_KEYS = ("initial_password", "new_password")
_SECRET_WORDS = ("pass", "pw", "word", "secret", "token", "credential")


def mentions_secret(text: Any) -> bool:
    """A key or value that could be, or hold, a password: it names one (pass, pw, word, secret...)."""
    return isinstance(text, str) and any(word in text.lower() for word in _SECRET_WORDS)


def shown_key(key: Any) -> str:
    """A key as a message may show it: the password keys by name, any other that mentions a
    password word hidden (it may be a password glued to its key)."""
    text = str(key)
    return text if text in SECRET_KEYS or not mentions_secret(text) else HIDDEN_KEY


def redact(data: Any) -> Any:
    """Return a copy of request data with the value of every key that could hold a password
    replaced by '<redacted>' at any depth, and every other key or string value that mentions a
    password word replaced too."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            secret = mentions_secret(key)
            name = key if not secret or key in SECRET_KEYS else f"{HIDDEN_KEY} {len(out)}"
            out[name] = REDACTED if secret and value is not None else redact(value)
        return out
    if isinstance(data, list):
        return [redact(item) for item in data]
    return REDACTED if mentions_secret(data) else data
