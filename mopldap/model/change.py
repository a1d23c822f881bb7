"""Changes to the directory: what `plan` produces and the `ldap` executor writes."""

from __future__ import annotations

from dataclasses import dataclass, field

SECRET_ATTRIBUTES = frozenset({"userpassword"})
HIDDEN = "(hidden)"


@dataclass(frozen=True)
class Modification:
    """One attribute change of a modify: replace, add or delete `values`."""

    attr: str
    action: str  # "replace" | "add" | "delete"
    values: tuple[str | bytes, ...] = ()


@dataclass(frozen=True)
class Change:
    """One LDAP write.

    action: "add" (mods hold the new entry's attributes, as replace), "modify",
    "delete", or "password" (Password Modify extended operation with `secret`).
    `old` holds the previous values of replaced attributes, for messages and audit.
    """

    action: str
    dn: str
    mods: tuple[Modification, ...] = ()
    old: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reason: str = ""
    request_id: str | None = None
    operation: str | None = None
    secret: str | None = field(default=None, repr=False)
    archive: bool = False
    """A delete whose entry is first written to the archive as LDIF."""
    requester: str | None = None
    parts: tuple[Change, ...] = ()
    """A write merged from several requests' changes: each part is audited on its own."""

    @property
    def is_membership(self) -> bool:
        """A modify of group members only (written alone: see the executor's waves)."""
        return self.action == "modify" and bool(self.mods) and all(m.attr == "member" for m in self.mods)

    def attributes(self) -> dict[str, list[str | bytes]]:
        """For an add: the entry's attributes."""
        return {mod.attr: list(mod.values) for mod in self.mods}

    def describe(self) -> str:
        """One line: 'modify uid=li,...: mopAccountStatus active → disabled; member +uid=...'."""
        details = "; ".join(self._detail(mod) for mod in self.mods)
        if self.action == "password":
            details = "userPassword set (Password Modify, hashed by the server)"
        text = f"{self.action} {self.dn}"
        if details:
            text += f": {details}"
        if self.reason:
            text += f"  ({self.reason})"
        return text

    def _detail(self, mod: Modification) -> str:
        shown = _show(mod.attr, mod.values)
        if self.action == "add":
            return f"{mod.attr} {shown}"
        if mod.action == "replace":
            before = _show(mod.attr, self.old.get(mod.attr, ())) if mod.attr in self.old else "(none)"
            return f"{mod.attr} {before} → {shown if mod.values else '(none)'}"
        sign = "+" if mod.action == "add" else "-"
        return f"{mod.attr} " + ", ".join(f"{sign}{v}" for v in _values(mod.attr, mod.values))

    def audit_attributes(self) -> dict[str, dict[str, list[str]]]:
        """The attributes this change touches, for the audit log; secrets hidden."""
        out: dict[str, dict[str, list[str]]] = {}
        if self.action == "password":
            return {"userPassword": {"new": [HIDDEN]}}
        for mod in self.mods:
            values = _values(mod.attr, mod.values)
            slot = out.setdefault(mod.attr, {})
            if self.action == "add" or mod.action == "replace":
                if mod.attr in self.old:
                    slot["old"] = _values(mod.attr, self.old[mod.attr])
                slot["new"] = values
            else:
                slot.setdefault(mod.action, []).extend(values)
        return out


def _values(attr: str, values) -> list[str]:
    if attr.lower() in SECRET_ATTRIBUTES:
        return [HIDDEN] if values else []
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def _show(attr: str, values) -> str:
    shown = _values(attr, values)
    if not shown:
        return "(none)"
    return shown[0] if len(shown) == 1 else "[" + ", ".join(shown) + "]"
