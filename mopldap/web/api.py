"""The JSON API, /api/v1/: HTTP Basic authentication on every call, checked by an LDAP bind as that
account; the caller is the requester. Errors are JSON: 400 invalid, 401 not signed in, 403 not
allowed, 404 unknown, 409 duplicate request id (429 too many failed sign-ins, 503 busy or down)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Union

import yaml
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..files.atomic import read_own
from ..files.outbox import Outbox
from ..ldap.directory import Directory
from ..logs import get_logger
from ..model.requests import (HQ_OPERATIONS, MAX_OPERATIONS, OPERATIONS, REQUEST_ID_PATTERN, PartnerCode, RequestId,
                              Username, id_belongs_to)
from ..model.layout import PARTNER_CODE_PATTERN
from ..model.times import parse_as_of
from ..model.yamlfile import format_location, pydantic_errors
from . import actions, reads
from .people import Person, WrongCredentials, sign_in

log = get_logger(__name__)
router = APIRouter(prefix="/api/v1")
basic = HTTPBasic(auto_error=False, realm="mopldap")

Operation = Annotated[Union[tuple(OPERATIONS.values())], Field(discriminator="op")]  # the request format's own


class RequestBody(BaseModel):
    """A request as in the inbox, without `requested_by` (the caller is the requester; naming
    anyone else is refused with 403). Without `request_id`, one is made: `<partner>-api-<time>-<random>`."""

    model_config = ConfigDict(extra="forbid")
    request_id: RequestId | None = None
    requested_by: Username | None = None
    partner: PartnerCode
    operations: list[Operation] = Field(min_length=1, max_length=MAX_OPERATIONS)


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def api_error(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="mopldap"'} if status == 401 else None
    return JSONResponse({"status": status, "error": message, **extra}, status_code=status, headers=headers)


@dataclass
class Caller:
    person: Person
    own: Directory


def caller(request: Request, credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)]) -> Iterator[Caller]:
    """The person whose username and password came with this call, bound for the call's reads."""
    if credentials is None:
        raise ApiError(401, "sign in: HTTP Basic authentication with your username and password")
    console = request.app.state.console
    address = request.client.host if request.client else "?"
    if not console.limiter.allowed(address):
        raise ApiError(429, "too many failed sign-ins; wait a minute")
    try:
        person, own = sign_in(console.config, console.rolemap, credentials.username, credentials.password)
    except WrongCredentials:
        console.limiter.failed(address)
        raise ApiError(401, "wrong username or password") from None
    try:
        if person.must_change_password:
            raise ApiError(403, "your password was set by an administrator: change it first (at the console, or "
                                "with any password-policy-aware client); until then the API answers nothing else")
        yield Caller(person, own)
    finally:
        own.close()


Signed = Annotated[Caller, Depends(caller)]


@router.post("/requests", summary="Submit a request; the answer is its result document",
             responses={400: {}, 401: {}, 403: {}, 409: {}, 429: {}, 503: {}})
async def post_request(request: Request, body: RequestBody, who: Signed) -> Response:
    raw = await request.json()  # as sent: the pipeline checks it again, exactly as a file's
    person = who.person
    if body.requested_by is not None and body.requested_by != person.username:
        raise ApiError(403, f"requested_by names '{body.requested_by}': you may only file requests as yourself "
                            f"({person.username}); leave requested_by out")
    if not person.may_manage(body.partner):
        raise ApiError(403, f"you may not act on partner {body.partner}")
    if not person.is_hq_admin and any(op.op in HQ_OPERATIONS for op in body.operations):
        raise ApiError(403, "only HQ may create, suspend or resume partners")
    if body.request_id is not None and not id_belongs_to(body.request_id, body.partner):
        raise ApiError(400, f"request_id must start with the partner code and a dash ({body.partner}-...)")
    document = {"request_id": body.request_id or actions.new_request_id(body.partner, "api"),
                "requested_by": person.username, "partner": body.partner, "operations": raw["operations"]}
    console = request.app.state.console
    if body.request_id is not None:
        earlier = _result_of(console, body.request_id)
        if earlier is not None and earlier.get("requested_by") != person.username:
            raise ApiError(409, f"request_id {body.request_id} is another request's: give a new one")
    submitted = await run_in_threadpool(actions.submit, console.config, console.rolemap, console.sessions, document,
                                        "api")
    result = dict(submitted.result)
    if submitted.passwords:
        result["passwords"] = submitted.passwords  # generated: this answer is the only place they are shown
    status = {"applied": 200, "rejected": 400, "duplicate": 409, "failed": 502,
              "pending": 202}.get(submitted.status, 500)
    if status in (200, 202):
        return JSONResponse(result, status_code=status)
    message = {"rejected": "the request was rejected: see problems",
               "duplicate": f"request_id {document['request_id']} was used before: give a new one",
               "failed": "the directory refused a write: see problems"}.get(submitted.status, submitted.status)
    return api_error(status, message, result=result)


@router.get("/requests/{request_id}", summary="The result of a request you may see",
            responses={401: {}, 404: {}, 429: {}, 503: {}})
def get_request(request: Request, request_id: str, who: Signed) -> Response:
    console = request.app.state.console
    unknown = ApiError(404, f"no result for request {request_id} that you may see")
    result = _result_of(console, request_id)
    if result is None:
        raise unknown
    person = who.person
    partner = str(result.get("partner") or request_id.split("-", 1)[0])
    if not (person.may_manage(partner) or result.get("requested_by") == person.username):
        raise unknown  # another partner's request: not even its existence is confirmed
    return JSONResponse(result)


def _result_of(console, request_id: str) -> dict[str, Any] | None:
    """The result document of `request_id` in the outbox, if there is one."""
    if not REQUEST_ID_PATTERN.fullmatch(request_id):
        return None
    try:
        result = yaml.safe_load(read_own(Outbox(console.config.paths.outbox).result_path(request_id)))
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return result if isinstance(result, dict) else None


@router.get("/partners/{code}/accounts", summary="A partner's accounts, as the console shows them",
            responses={400: {}, 401: {}, 403: {}, 404: {}, 429: {}, 503: {}})
def partner_accounts(request: Request, code: str, who: Signed, q: str = "", status: str = "", role: str = "",
                     sort: str = "username") -> Response:
    console = request.app.state.console
    if not PARTNER_CODE_PATTERN.fullmatch(code):
        raise ApiError(404, f"no partner {code}")
    if not who.person.may_manage(code):
        raise ApiError(403, f"you may not see partner {code}'s accounts")
    if not reads.partner_exists(who.own, console.config, code):
        raise ApiError(404, f"no partner {code}")
    rows = reads.partner_accounts(who.own, console.config, console.rolemap, code, parse_as_of(None), q[:64], status,
                                  role, sort)
    return JSONResponse({"partner": code, "accounts": [row.as_json() for row in rows]})


@dataclass
class _Errors:
    """FastAPI's validation errors, shaped like pydantic's ValidationError for pydantic_errors()."""

    items: Any

    def errors(self, include_url: bool = False) -> Any:
        return self.items


def _plain(loc: tuple) -> tuple:
    """('body', 'operations', 0, 'create_user', 'email') -> ('operations', 0, 'email'): as a file's problems read."""
    loc = loc[1:] if loc[:1] == ("body",) else loc
    return tuple(part for i, part in enumerate(loc)
                 if not (part in OPERATIONS and i > 0 and isinstance(loc[i - 1], int)))


ERROR_SCHEMA = {"type": "object", "properties": {"status": {"type": "integer"}, "error": {"type": "string"},
                                                "problems": {"type": "array", "items": {"type": "string"}},
                                                "result": {"type": "object"}}, "required": ["status", "error"]}
ERRORS = {"400": "invalid (problems, and the result when the pipeline rejected the request)",
          "401": "not signed in, or a wrong username or password", "403": "not allowed",
          "404": "unknown (also another partner's)", "409": "duplicate request_id",
          "429": "too many failed sign-ins", "503": "another run writes, or the directory is down"}


def document_errors(app: FastAPI) -> None:
    """The OpenAPI document says what the API answers: JSON errors with these codes, never
    FastAPI's default 422 (invalid input is 400 here)."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
            for schemas in ("HTTPValidationError", "ValidationError"):
                schema["components"]["schemas"].pop(schemas, None)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    responses = operation.setdefault("responses", {})
                    responses.pop("422", None)
                    for code in [c for c in responses if c in ERRORS]:
                        responses[code] = {"description": ERRORS[code], "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Error"}}}}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> Response:
        return api_error(exc.status, exc.message, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        # where and what only, in the request format's words: the input could be a password
        problems = [f"{format_location(_plain(loc), hide_secrets=True)}: {message}"
                    for loc, message in pydantic_errors(_Errors(exc.errors()), hide_secrets=True)]
        if request.url.path.startswith("/api/"):
            if not request.headers.get("authorization", "").lower().startswith("basic "):
                return api_error(401, "sign in: HTTP Basic authentication with your username and password")
            return api_error(400, "invalid request", problems=problems)
        console = request.app.state.console
        return console.problem(request, console.session(request, recheck=False), 400, "That address is not valid.")

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return api_error(exc.status_code, str(exc.detail))
        console = request.app.state.console
        message = {404: "No such page.", 405: "No such page.", 413: "The form is too large."}
        return console.problem(request, console.session(request, recheck=False), exc.status_code,
                               message.get(exc.status_code, "That address is not valid."))
