"""Which role and system groups someone else edited since mopldap last saw them, by entryCSN.

mopldap's own group writes carry the pre-read and post-read controls (RFC 4527), so it
knows which entryCSN it produced and whether someone wrote in between. The CSNs are kept
in the run state (files/state.py) from one run to the next.
"""

from __future__ import annotations

from ..model.layout import normalize_dn
from .directory import ONELEVEL

CHANGED = ""  # recorded CSN that matches no real one: the group is processed at the next run


class GroupWatch:
    """Tracks the entryCSN of every role and system group through a run.

    `changed` holds the groups someone else edited since mopldap last saw them; the
    reconcile step handles them and marks them seen.
    """

    def __init__(self, recorded: dict[str, str], containers: tuple[str, ...]) -> None:
        self.recorded = recorded
        self.containers = containers
        self.current: dict[str, str] = {}
        self.changed: set[str] = set()
        self.meanwhile: set[str] = set()  # edited by someone else during this run, after mopldap looked
        self.loaded = False

    def ensure(self, directory) -> None:
        """Read every group's entryCSN once per run (one search per container, no members)."""
        if self.loaded:
            return
        for container in self.containers:
            for entry in directory.search(container, "(objectClass=groupOfNames)", ("entryCSN",), scope=ONELEVEL):
                self.observe(entry.dn, entry.first("entryCSN") or "")
        self.loaded = True

    def observe(self, dn: str, csn: str) -> None:
        norm = normalize_dn(dn)
        self.current[norm] = csn
        if self.recorded.get(norm) != csn:
            self.changed.add(norm)

    def wrote(self, dn: str, before: str | None, after: str | None) -> None:
        """Record one of mopldap's writes: `before`/`after` from the pre-/post-read controls."""
        norm = normalize_dn(dn)
        if before is not None and self.loaded and before != self.current.get(norm):
            self.changed.add(norm)  # someone else wrote since we looked
            self.meanwhile.add(norm)
        if after is not None:
            self.current[norm] = after

    def handled(self, dns) -> None:
        """The groups of `dns` were looked at: not those someone edited meanwhile (a full run writes
        each group once read: an edit between that read and that write stays for the next run)."""
        self.changed -= {normalize_dn(dn) for dn in dns} - self.meanwhile

    def to_record(self) -> dict[str, str]:
        return {dn: (CHANGED if dn in self.changed else csn) for dn, csn in sorted(self.current.items())}

