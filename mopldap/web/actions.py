"""What the console and the API do on behalf of the signed-in person, apart from reading."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from ..files.lock import RunBusy
from ..ldap.directory import Directory
from ..logs import get_logger
from ..model.config import Config
from ..model.layout import Layout
from ..model.rolemap import RoleMap
from ..model.times import parse_as_of
from ..runs.requests import read_min_password_length
from ..runs.runtime import open_runtime
from ..runs.submit import Submitted, submit_request
from ..runs.sync import run_steps
from .people import Person
from .sessions import SessionStore

log = get_logger(__name__)


def new_request_id(partner: str, channel: str) -> str:
    """A request id of the partner's, unique without asking anyone (time and randomness)."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{partner}-{channel}-{now}-{secrets.token_hex(4)}"


def request_of(person: Person, partner: str, operations: list[dict[str, Any]], channel: str) -> dict[str, Any]:
    return {"request_id": new_request_id(partner, channel), "requested_by": person.username, "partner": partner,
            "operations": operations}


SIGNING_OUT = frozenset({"reset_password", "disable_user", "delete_user"})


def submit(config: Config, rolemap: RoleMap, sessions: SessionStore, request: dict[str, Any],
           channel: str) -> Submitted:
    """Through the pipeline, as the person named in `request['requested_by']` (set from the
    session). An account whose password it reset, or that it disabled or deleted, keeps no
    console session."""
    log.info("request_submitted", channel=channel, request_id=request.get("request_id"),
             requester=request.get("requested_by"), partner=request.get("partner"))
    submitted = submit_request(config, rolemap, request, channel, config.web.write_wait_seconds)
    if submitted.status in ("applied", "failed", "pending"):
        for op in request.get("operations") or []:
            if isinstance(op, dict) and op.get("op") in SIGNING_OUT and isinstance(op.get("username"), str):
                sessions.end_person(op["username"])
    return submitted


def min_password_length(config: Config) -> int:
    """The default policy's pwdMinLength, read by mopldap's account (a person on a reset password
    may read nothing yet)."""
    with Directory(config.ldap) as service:
        return read_min_password_length(service, Layout(config.ldap.base_dn))


def grant_systems_now(config: Config, rolemap: RoleMap) -> bool:
    """After a person set their own password at the console: a reconcile run now (it reads only
    what changed), so that the first password gate lets them into their systems at once. False if
    another run holds the lock: the next scheduled run does it."""
    try:
        with open_runtime(config, rolemap, parse_as_of(None), wait=config.web.write_wait_seconds) as rt:
            outcome = run_steps(rt, inbox=False, reconcile=True, inactivity=False)
    except RunBusy:
        return False
    return outcome.failure is None
