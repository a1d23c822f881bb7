"""The role map: systems, user types and roles, and the pure role -> systems resolution."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from .checks import STRICT, Limits, validator
from .errors import ConfigError

if TYPE_CHECKING:  # PyYAML is imported only to read a file (files/checked.py)
    from .yamlfile import YamlDocument

ID_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,63}")


NAME = Limits(min_length=1)


@dataclass(frozen=True)
class System:
    __pydantic_config__ = STRICT
    name: Annotated[str, NAME]
    description: str | None = None


@dataclass(frozen=True)
class UserType:
    __pydantic_config__ = STRICT
    name: Annotated[str, NAME]


@dataclass(frozen=True)
class Role:
    __pydantic_config__ = STRICT
    name: Annotated[str, NAME]
    user_types: list[str]
    admin: bool = False
    """May file requests for its own partner."""
    hq: bool = False
    """An HQ role: may act on every partner; never granted through a request."""
    systems: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    description: str | None = None


@dataclass(frozen=True)
class RoleMap:
    __pydantic_config__ = STRICT
    systems: dict[str, System]
    user_types: dict[str, UserType]
    roles: dict[str, Role]

    @cached_property
    def _grants(self) -> dict[str, frozenset[str]]:
        return resolve_grants(self)

    @cached_property
    def digest(self) -> str:
        """What this role map says, as a hex digest (the run state keeps it: a run that finds another
        one there reconciles fully). Made of the map itself, not of its file read again: a file
        changed after it was read is the next run's business, and a comment changes nothing."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    def systems_of(self, role: str) -> frozenset[str]:
        """Return every system `role` grants, directly or through `includes`."""
        return self._grants.get(role, frozenset())

    def granted_systems(self, roles: Iterable[str]) -> frozenset[str]:
        """Return the union of the systems the given roles grant; unknown roles grant nothing."""
        granted: set[str] = set()
        for role in roles:
            granted |= self.systems_of(role)
        return frozenset(granted)

    @property
    def admin_roles(self) -> frozenset[str]:
        return frozenset(r for r, role in self.roles.items() if role.admin)

    @property
    def hq_roles(self) -> frozenset[str]:
        return frozenset(r for r, role in self.roles.items() if role.hq)

    def roles_allowed_for(self, user_type: str) -> frozenset[str]:
        return frozenset(r for r, role in self.roles.items() if user_type in role.user_types)


def grantable_role_problems(roles: list[str], rolemap: RoleMap) -> list[tuple[str, str]]:
    """Return (location, message) for each role a request may not grant: unknown, HQ-only, twice.
    Locations are like 'roles[1]' (or 'roles' for a repeat)."""
    problems = []
    for i, role in enumerate(roles):
        if role not in rolemap.roles:
            problems.append((f"roles[{i}]", f"unknown role '{role}'"))
        elif role in rolemap.hq_roles:
            problems.append((f"roles[{i}]", f"role '{role}' is an HQ role: it is never granted by a request"))
    if len(set(roles)) != len(roles):
        problems.append(("roles", "a role is listed twice"))
    return problems


def user_type_problem(user_type: str, rolemap: RoleMap) -> str | None:
    """Return why `user_type` is not a user type of the role map, or None."""
    if user_type in rolemap.user_types:
        return None
    return f"unknown user type '{user_type}' (one of: {', '.join(rolemap.user_types)})"


def resolve_grants(rolemap: RoleMap) -> dict[str, frozenset[str]]:
    """Given a cycle-free role map, return each role's systems through `includes`."""
    resolved: dict[str, frozenset[str]] = {}

    def visit(role_id: str) -> frozenset[str]:
        if role_id not in resolved:
            role = rolemap.roles[role_id]
            systems = set(role.systems)
            for included in role.includes:
                systems |= visit(included)
            resolved[role_id] = frozenset(systems)
        return resolved[role_id]

    for role_id in rolemap.roles:
        visit(role_id)
    return resolved


def check_references(rolemap: RoleMap) -> list[tuple[tuple, str]]:
    """Return (location, message) for every bad id, unknown reference, duplicate or cycle."""
    problems: list[tuple[tuple, str]] = []
    for section in ("systems", "user_types", "roles"):
        for key in getattr(rolemap, section):
            if not ID_PATTERN.fullmatch(key):
                problems.append(
                    ((section, key), f"id '{key}' must match {ID_PATTERN.pattern} (it becomes an LDAP cn)")
                )
    for role_id, role in rolemap.roles.items():
        if not role.user_types:
            problems.append(((("roles", role_id, "user_types")), "must list at least one user type"))
        for listed, known, kind in (
            ("user_types", rolemap.user_types, "user type"),
            ("systems", rolemap.systems, "system"),
            ("includes", rolemap.roles, "role"),
        ):
            seen: set[str] = set()
            for index, ref in enumerate(getattr(role, listed)):
                loc = ("roles", role_id, listed, index)
                if ref not in known:
                    problems.append((loc, f"unknown {kind} '{ref}'"))
                elif ref in seen:
                    problems.append((loc, f"'{ref}' is listed twice"))
                seen.add(ref)
    problems.extend(_cycles(rolemap))
    return problems


def _cycles(rolemap: RoleMap) -> list[tuple[tuple, str]]:
    problems = []
    state: dict[str, str] = {}  # "visiting" | "done"
    stack: list[str] = []

    def visit(role_id: str) -> None:
        state[role_id] = "visiting"
        stack.append(role_id)
        for index, included in enumerate(rolemap.roles[role_id].includes):
            if included not in rolemap.roles:
                continue
            if state.get(included) == "visiting":
                cycle = stack[stack.index(included):] + [included]
                problems.append(
                    (("roles", role_id, "includes", index), "includes cycle: " + " -> ".join(cycle))
                )
            elif included not in state:
                visit(included)
        stack.pop()
        state[role_id] = "done"

    for role_id in rolemap.roles:
        if role_id not in state:
            visit(role_id)
    return problems


def parse_rolemap(doc: YamlDocument) -> RoleMap:
    """Given a parsed role map document, return the RoleMap. Raise ConfigError listing every problem."""
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.source}: the role map must be a mapping with systems, user_types and roles")
    from pydantic import ValidationError

    try:
        rolemap = validator(RoleMap).validate_python(doc.data)
    except ValidationError as exc:
        from .yamlfile import pydantic_problems

        problems = pydantic_problems(doc, exc)
        raise ConfigError(problems[0], problems) from None
    problems = [f"{doc.where(loc)}: {message}" for loc, message in check_references(rolemap)]
    if problems:
        raise ConfigError(problems[0], problems)
    return rolemap


def load_rolemap(path: Path, seen: dict[Path, bytes] | None = None) -> RoleMap:
    """Read and validate the role map file at `path` (its bytes into `seen`, if given). Raise
    ConfigError if anything is wrong."""
    from .yamlfile import read_yaml

    return parse_rolemap(read_yaml(path, seen))
