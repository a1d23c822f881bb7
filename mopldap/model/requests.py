"""Provisioning request files: their shape and values (offline checks, no directory)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, model_validator

from .layout import EMAIL_PATTERN, PARTNER_CODE_PATTERN, USERNAME_PATTERN
from .errors import ConfigError
from .redaction import REDACTED, redact
from .yamlfile import YamlDocument, dump, format_location, parse_yaml, pydantic_errors

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
MOBILE_PATTERN = re.compile(r"\+?[0-9][0-9 -]{4,22}[0-9]")
MAX_OPERATIONS = 5000
MAX_ROLES = 64  # roles named by one operation


def _text(max_length: int, what: str):
    def check(value: Any) -> Any:
        if isinstance(value, str):
            if any(ord(c) < 32 or ord(c) == 127 for c in value):
                raise ValueError(f"{what} contains control characters")
            if value != value.strip():
                raise ValueError(f"{what} starts or ends with spaces")
        return value

    return Annotated[str, BeforeValidator(check), Field(min_length=1, max_length=max_length)]


def _matches(pattern: re.Pattern, what: str, hint: str):
    def check(value: Any) -> Any:
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise ValueError(f"not a valid {what}: {hint}")  # never the value: it could be a mistyped password
        return value

    return BeforeValidator(check)


def _quoted_number(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"write the number in quotes, e.g. mobile: \"{value}\" (YAML reads it as a number)")
    return value


Username = Annotated[str, _matches(USERNAME_PATTERN, "username", "lowercase letter first, then 1-31 of a-z 0-9 . _ -")]
PartnerCode = Annotated[str, _matches(PARTNER_CODE_PATTERN, "partner code",
                                      "uppercase letters, digits, _ and -, up to 32")]
RequestId = Annotated[str, _matches(REQUEST_ID_PATTERN, "request_id", "letters, digits, '.', '_' and '-', up to 128")]
Email = Annotated[str, _matches(EMAIL_PATTERN, "email", "like name@example.com"), Field(max_length=254)]
Mobile = Annotated[str, _matches(MOBILE_PATTERN, "mobile number", "digits, optional leading +, spaces or -"),
                   BeforeValidator(_quoted_number)]
Name = _text(64, "name")
Title = _text(64, "title")


def _not_the_marker(value: Any) -> Any:
    if isinstance(value, str) and value.strip() == REDACTED:
        raise ValueError(f"{REDACTED} is what archived copies show in place of a password: give the password "
                         "itself, or leave the key out to have one generated")
    return value


Password = Annotated[SecretStr, BeforeValidator(_not_the_marker), Field(min_length=1, max_length=128)]
RoleId = Annotated[str, Field(min_length=1, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _NewPerson(_Strict):
    """The fields of a new account (the partner administrator's, or any staff member's)."""

    username: Username
    name: Name
    title: Title | None = None
    email: Email | None = None
    mobile: Mobile | None = None
    user_type: str
    initial_password: Password | None = None


class CreateUser(_NewPerson):
    op: Literal["create_user"]
    roles: list[RoleId] = Field(min_length=1, max_length=MAX_ROLES)


class UpdateUser(_Strict):
    """Fields given replace the account's; a field given as null removes it (name excepted)."""

    op: Literal["update_user"]
    username: Username
    name: Name | None = None
    title: Title | None = None
    email: Email | None = None
    mobile: Mobile | None = None
    user_type: str | None = None


class _RolesOf(_Strict):
    """An operation on an account's roles."""

    username: Username
    roles: list[RoleId] = Field(min_length=1, max_length=MAX_ROLES)


class SetRoles(_RolesOf):
    op: Literal["set_roles"]


class AddRoles(_RolesOf):
    op: Literal["add_roles"]


class RemoveRoles(_RolesOf):
    op: Literal["remove_roles"]


class DisableUser(_Strict):
    op: Literal["disable_user"]
    username: Username
    reason: Literal["offboarded", "admin"] = "admin"


class EnableUser(_Strict):
    op: Literal["enable_user"]
    username: Username


class ResetPassword(_Strict):
    op: Literal["reset_password"]
    username: Username
    new_password: Password | None = None


class DeleteUser(_Strict):
    op: Literal["delete_user"]
    username: Username


class PartnerAdmin(_NewPerson):
    pass


class CreatePartner(_Strict):
    op: Literal["create_partner"]
    name: Annotated[str, Field(min_length=1, max_length=128)]
    admin: PartnerAdmin


class SuspendPartner(_Strict):
    op: Literal["suspend_partner"]


class ResumePartner(_Strict):
    op: Literal["resume_partner"]


OPERATIONS: dict[str, type[_Strict]] = {
    model.model_fields["op"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (CreateUser, UpdateUser, SetRoles, AddRoles, RemoveRoles, DisableUser, EnableUser,
                  ResetPassword, DeleteUser, CreatePartner, SuspendPartner, ResumePartner)
}
HQ_OPERATIONS = frozenset({"create_partner", "suspend_partner", "resume_partner"})


def id_belongs_to(request_id: str, partner: str) -> bool:
    """A request id belongs to its partner: it starts with the partner code and a dash, so that
    ids are unique per partner and one partner cannot take (or probe) another's."""
    return request_id.startswith(f"{partner}-") and len(request_id) > len(partner) + 1


class Request(_Strict):
    request_id: RequestId
    requested_by: Username
    partner: PartnerCode
    operations: list[Any] = Field(min_length=1, max_length=MAX_OPERATIONS)

    @model_validator(mode="after")
    def _id_of_its_partner(self) -> Request:
        if not id_belongs_to(self.request_id, self.partner):
            raise ValueError(f"request_id '{self.request_id}' must start with the partner code and a dash "
                             f"({self.partner}-...): a request id belongs to its partner")
        return self


class ParsedRequest(BaseModel):
    """A request whose shape and values are valid, with its operations typed."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    request_id: str
    requested_by: str
    partner: str
    operations: tuple[Any, ...]


def _problem(doc: YamlDocument, loc: tuple, message: str) -> str:
    line = doc.line_of(loc)
    where = f"line {line}: " if line else ""
    path = format_location(loc, hide_secrets=True)
    return f"{where}{path}: {message}" if path else f"{where}{message}"


def _pydantic_messages(doc: YamlDocument, exc: ValidationError, prefix: tuple) -> list[str]:
    return [_problem(doc, loc, message) for loc, message in pydantic_errors(exc, prefix, hide_secrets=True)]


def parse_request(doc: YamlDocument) -> tuple[ParsedRequest | None, list[str]]:
    """Given a parsed YAML document, return the request, or None and one message per problem."""
    data = doc.data
    if not isinstance(data, dict):
        return None, ["a request is a mapping with request_id, requested_by, partner and operations"]
    problems: list[str] = []
    try:
        header = Request.model_validate(data)
    except ValidationError as exc:
        problems += _pydantic_messages(doc, exc, ())
        header = None
    operations = []
    raw_ops = data.get("operations")
    if isinstance(raw_ops, list) and len(raw_ops) <= MAX_OPERATIONS:  # more: refused above, not examined
        for index, raw in enumerate(raw_ops):
            loc = ("operations", index)
            if not isinstance(raw, dict):
                problems.append(_problem(doc, loc, "an operation is a mapping with an 'op' key"))
                continue
            name = raw.get("op")
            model = OPERATIONS.get(name) if isinstance(name, str) else None
            if model is None:
                known = ", ".join(OPERATIONS)
                problems.append(_problem(doc, loc + ("op",), f"unknown operation; one of: {known}"))
                continue
            try:
                operations.append(model.model_validate(raw))
            except ValidationError as exc:
                problems += _pydantic_messages(doc, exc, loc)
    if problems or header is None:
        return None, problems
    return ParsedRequest(request_id=header.request_id, requested_by=header.requested_by, partner=header.partner,
                         operations=tuple(operations)), []


def request_id_of(data: Any) -> str | None:
    """Return a usable request_id from possibly invalid request data, for naming its result: one
    of the pattern that belongs to the partner the data names."""
    if isinstance(data, dict):
        value, partner = data.get("request_id"), data.get("partner")
        if (isinstance(value, str) and REQUEST_ID_PATTERN.fullmatch(value) and isinstance(partner, str)
                and id_belongs_to(value, partner)):
            return value
    return None


@dataclass(frozen=True)
class RequestText:
    """What a request file's text is: the request, or the problems; and what may be kept of it."""

    request: ParsedRequest | None
    problems: list[str]
    redacted: str | None  # the text to archive, passwords replaced; None: not parsed, keep nothing in clear
    request_id: str | None  # usable for naming its result


def read_request_text(text: str, name: str) -> RequestText:
    """Given a request file's text, return the request or why not. Never raises: whatever the text,
    the problems name no value that could be a password."""
    try:
        doc = parse_yaml(text, name)
    except ConfigError as exc:
        return RequestText(None, [str(exc)], None, None)
    redacted = dump(redact(doc.data))
    request, problems = parse_request(doc)
    return RequestText(request, [f"{name}: {p}" for p in problems], redacted, request_id_of(doc.data))
