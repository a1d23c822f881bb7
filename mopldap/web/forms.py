"""Console forms to request operations: the form's fields become one operation of the request
format, checked by the request format's own models so that each problem is shown next to its field."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ..model.requests import OPERATIONS, CreatePartner, Request
from ..model.yamlfile import pydantic_errors

PERSON_FIELDS = ("username", "name", "title", "email", "mobile", "user_type")
# "operations[0] (create_user): email: ..." (the pipeline) or "operations[0].admin.email: ..." (the format)
_FIELD_IN_PROBLEM = re.compile(r"operations\[0\](?: \([a-z_]+\): |\.(?:admin\.)?)([a-z_]+)(?:\[\d+\])?: (.+)")


def _text(form: Mapping[str, Any], key: str) -> str | None:
    value = form.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def operation_from_form(op: str, form: Mapping[str, Any], roles: Sequence[str] = ()) -> dict[str, Any]:
    """The operation `op` as the request format has it, from a submitted form (empty fields left out,
    except in update_user, where an emptied field removes the attribute)."""
    data: dict[str, Any] = {"op": op}
    if op == "create_user":
        data |= {k: _text(form, k) for k in PERSON_FIELDS if _text(form, k) is not None}
        data["roles"] = list(roles)
        if isinstance(form.get("initial_password"), str) and form["initial_password"]:
            data["initial_password"] = form["initial_password"]
    elif op == "update_user":
        data["username"] = _text(form, "username")
        data |= {k: _text(form, k) for k in ("name", "title", "email", "mobile", "user_type")}
        if data["user_type"] is None:
            del data["user_type"]  # every account has one: an empty choice changes nothing
    elif op in ("set_roles", "add_roles", "remove_roles"):
        data |= {"username": _text(form, "username"), "roles": list(roles)}
    elif op == "disable_user":
        data |= {"username": _text(form, "username"), "reason": _text(form, "reason") or "admin"}
    elif op == "reset_password":
        data["username"] = _text(form, "username")
        if isinstance(form.get("new_password"), str) and form["new_password"]:
            data["new_password"] = form["new_password"]
    elif op in ("enable_user", "delete_user"):
        data["username"] = _text(form, "username")
    elif op == "create_partner":
        admin = {k: _text(form, k) for k in PERSON_FIELDS if _text(form, k) is not None}
        if isinstance(form.get("initial_password"), str) and form["initial_password"]:
            admin["initial_password"] = form["initial_password"]
        data |= {"name": _text(form, "partner_name"), "admin": admin}
    return {k: v for k, v in data.items() if v is not None or op == "update_user"}


def field_problems(request: dict[str, Any]) -> dict[str, str]:
    """Check a request of one operation offline: field name -> message ('' for the whole form).
    The same models as the inbox's; the pipeline checks everything again when it is submitted."""
    problems: dict[str, str] = {}
    try:
        Request.model_validate(request)
    except ValidationError as exc:
        for loc, message in pydantic_errors(exc, (), hide_secrets=True):
            if not loc or loc[0] != "operations":  # the operation's own fields are checked below
                problems.setdefault("partner_code" if loc and loc[0] == "partner" else "", message)
    op = request["operations"][0]
    model = OPERATIONS.get(op.get("op"))
    if model is not None:
        try:
            model.model_validate(op)
        except ValidationError as exc:
            for loc, message in pydantic_errors(exc, (), hide_secrets=True):
                if model is CreatePartner and loc and loc[0] == "name":
                    field = "partner_name"
                else:  # ("email",), ("admin", "email"), ("roles", 0)
                    field = str(loc[-1]) if loc and isinstance(loc[-1], str) else str(loc[0]) if loc else ""
                problems.setdefault(field, message)
    return problems


def problems_by_field(problems: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """The pipeline's problems (of a request of one operation) placed next to the field they name
    where one can tell, and the rest for the top of the form."""
    placed: dict[str, str] = {}
    rest: list[str] = []
    for problem in problems:
        match = _FIELD_IN_PROBLEM.search(problem)
        if match and match.group(1) not in placed:
            placed[match.group(1)] = match.group(2)
        else:
            rest.append(problem)
    return placed, rest
