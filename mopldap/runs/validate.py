"""`mopldap validate`: check the configuration, role map and request files offline."""

from __future__ import annotations

from pathlib import Path

from ..files.inbox import Inbox
from ..model.config import load_settings
from ..model.errors import ConfigError
from ..model.requests import ParsedRequest, parse_request
from ..model.rolemap import RoleMap, grantable_role_problems, user_type_problem
from ..model.yamlfile import parse_yaml


def rolemap_problems(request: ParsedRequest, rolemap: RoleMap) -> list[str]:
    """Return what is wrong with the request's roles and user types, as far as the role map tells."""
    problems = []
    for index, op in enumerate(request.operations):
        where = f"operations[{index}] ({op.op})"
        subject = op.admin if op.op == "create_partner" else op
        roles = list(getattr(op, "roles", []) or [])
        user_type = getattr(subject, "user_type", None)
        why = user_type_problem(user_type, rolemap) if user_type is not None else None
        if why:
            prefix = "admin." if op.op == "create_partner" else ""
            problems.append(f"{where}: {prefix}user_type: {why}")
        problems += [f"{where}: {loc}: {message}" for loc, message in grantable_role_problems(roles, rolemap)]
        if op.op == "create_user" and why is None:  # the online check does this once the request is done
            problems += [f"{where}: roles[{i}]: role '{role}' is not allowed for user type '{user_type}'"
                         for i, role in enumerate(roles)
                         if role in rolemap.roles and user_type not in rolemap.roles[role].user_types]
    return problems


def check_request_file(path: Path, rolemap: RoleMap) -> list[str]:
    """Return one 'file: problem' line per problem of a request file (empty if it is fine offline)."""
    text, why = Inbox.read(path)
    if text is None:
        return [f"{path}: {why}"]
    try:
        doc = parse_yaml(text, str(path))
    except ConfigError as exc:
        return [str(exc)]
    request, problems = parse_request(doc)
    if request is not None:
        problems = rolemap_problems(request, rolemap)
    return [f"{path}: {p}" for p in problems]


def run_validate(config_path: Path, requests: list[Path]) -> int:
    """Print 'ok' lines, or one line per problem and exit 1."""
    config, rolemap = load_settings(config_path)
    print(f"ok: {config.source}")
    print(f"ok: {config.paths.role_map} ({len(rolemap.roles)} roles, {len(rolemap.systems)} systems)")
    problems = []
    for path in requests:
        found = check_request_file(path, rolemap)
        problems += found
        if not found:
            print(f"ok: {path}")
    if problems:
        raise ConfigError(problems[0], problems)
    return 0
