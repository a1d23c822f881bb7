"""An entry as read from the directory."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Entry:
    """An entry as read: its DN and its attributes (names lowercased, values as text)."""

    dn: str
    attrs: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> list[str]:
        return self.attrs.get(name.lower(), [])

    def first(self, name: str) -> str | None:
        values = self.get(name)
        return values[0] if values else None
