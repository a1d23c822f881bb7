"""An entry as LDIF that `ldapmodify -a -f` restores: what the archive keeps of a deleted entry.

The entry is read again, whole (every user attribute, binary values base64), just
before anything of its request is written; only its password is left out.
"""

from __future__ import annotations

from base64 import b64encode

from ..model.layout import Layout

LEFT_OUT = {"userpassword", "memberof"}  # memberOf comes back as role group modifies
RESTORED = ("pwdAccountLockedTime", "pwdReset", "pwdPolicySubentry")
"""Operational attributes an administrator can write back: a disabled account comes back
disabled (slapd refuses its binds), one whose password was never changed must still change it."""
NOTED = ("pwdChangedTime", "pwdLastSuccess", "pwdFailureTime", "createTimestamp", "creatorsName",
         "modifyTimestamp", "entryUUID")
"""Kept as comments: the server sets them itself and refuses them in an add."""
READ = ("*", "memberOf", *RESTORED, *NOTED)
"""What to read of an entry before deleting it."""


def _line(attr: str, value: bytes) -> str:
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isascii() and text.isprintable() and text == text.strip() \
            and not text.startswith((":", "<")):
        return f"{attr}: {text}"
    return f"{attr}:: {b64encode(value).decode('ascii')}"


def entry_ldif(dn: str, attrs: dict[str, list[bytes]], layout: Layout, note: str) -> str:
    """Return LDIF that re-creates the entry (read with READ), its lock and its role memberships,
    without its password; what the server sets itself is kept as comments."""
    noted = {a.lower() for a in NOTED}
    out = [f"# archived by mopldap before delete_user ({note})"]
    out += [f"# {_line(attr, v)}" for attr, values in attrs.items() if attr.lower() in noted for v in values]
    out += [_line("dn", dn.encode()), "changetype: add"]
    for attr, values in attrs.items():
        if attr.lower() not in LEFT_OUT and attr.lower() not in noted:
            out += [_line(attr, v) for v in values]
    out.append("")
    member_of = next((values for attr, values in attrs.items() if attr.lower() == "memberof"), [])
    for group in (v.decode("utf-8", "replace") for v in member_of):
        if layout.group_id(group, layout.roles):
            out += [_line("dn", group.encode()), "changetype: modify", "add: member", _line("member", dn.encode()),
                    "-", ""]
    return "\n".join(out) + "\n"
