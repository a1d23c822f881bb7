"""The console's pages. Every page reads with the signed-in person's own connection; every form
is a request through the pipeline with the person as requester (actions.submit)."""

from __future__ import annotations

import datetime as dt
import hmac
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ..ldap.directory import Directory, WriteError
from ..logs import get_logger
from ..model.errors import DirectoryError
from ..model.layout import PARTNER_CODE_PATTERN, USERNAME_PATTERN, Layout
from ..model.times import parse_as_of
from ..plan.reports import COLUMNS, access_rows, render
from . import actions, reads
from .console import Console, redirect
from .forms import field_problems, operation_from_form, problems_by_field
from .i18n import LANGUAGES
from .people import WrongCredentials, find_account, person_of, sign_in
from .sessions import Session

log = get_logger(__name__)
router = APIRouter(include_in_schema=False)
_LOCAL_PATH = re.compile(r"/(?:[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*)?")  # the console's own paths only
WRONG_PASSWORDS = 3  # wrong current passwords in one session before it is ended
ACCOUNT_OPS = ("update_user", "set_roles", "add_roles", "remove_roles", "disable_user", "enable_user",
               "reset_password", "delete_user")


def _console(request: Request) -> Console:
    return request.app.state.console


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


class NotSignedIn(Exception):
    pass


def _signed_in(request: Request, console: Console) -> Session:
    session = console.session(request)
    if session is None:
        raise NotSignedIn()
    return session


async def _form(request: Request, session: Session | None, console: Console) -> FormData | None:
    """The posted form, if its CSRF token is this session's (or, before sign-in, this browser's)."""
    form = await request.form()
    token = form.get("csrf")
    expected = session.csrf if session else request.session.get("pre")
    if not isinstance(token, str) or not isinstance(expected, str) or not _same(token, expected):
        log.warning("csrf_refused", path=request.url.path, client=_client(request))
        return None
    return form


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _now() -> dt.datetime:
    return parse_as_of(None)


def _guarded(console: Console, request: Request, partner: str) -> tuple[Session, Response | None]:
    """The session, and an answer if the person may not see `partner` (404: nothing of another
    partner is even confirmed to exist) or must change their password first."""
    session = _signed_in(request, console)
    if session.person.must_change_password:
        return session, redirect("/password")
    if not PARTNER_CODE_PATTERN.fullmatch(partner) or not session.person.may_manage(partner):
        return session, console.problem(request, session, 404, "No such page.")
    return session, None


async def _partner_form(request: Request, code: str) -> tuple[Console, Session, FormData | None, Response | None]:
    """For a form about partner `code`: the console, the session, the posted form, and an answer
    instead when the person may not act there (404, or the password page) or the form's CSRF
    token is not theirs (400)."""
    console = _console(request)
    session, refused = await run_in_threadpool(_guarded, console, request, code)
    if refused is not None:
        return console, session, None, refused
    form = await _form(request, session, console)
    if form is None:
        return console, session, None, console.problem(request, session, 400, "The form expired; please try again.")
    return console, session, form, None


# -- signing in and out ---------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    session = _console(request).session(request)
    if session is None:
        return redirect("/signin")
    person = session.person
    if person.must_change_password:
        return redirect("/password")
    if person.is_hq_admin:
        return redirect("/partners")
    if person.is_partner_admin and person.partner:
        return redirect(f"/partners/{person.partner}")
    return redirect("/me")


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request) -> Response:
    return _console(request).page(request, "signin.html", None)


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request) -> Response:
    console = _console(request)
    form = await _form(request, None, console)
    if form is None:
        return console.page(request, "signin.html", None, 400, error="The form expired; please sign in again.")
    username = str(form.get("username") or "")[:64]
    password = str(form.get("password") or "")
    address = _client(request)
    if not console.limiter.allowed(address):
        log.warning("sign_in_rate_limited", client=address)
        return console.page(request, "signin.html", None, 429, username=username,
                            error="Too many failed sign-ins; wait a minute and try again.")
    try:
        person, own = await run_in_threadpool(sign_in, console.config, console.rolemap, username, password)
    except WrongCredentials:
        console.limiter.failed(address)
        log.info("sign_in_refused", client=address)
        return console.page(request, "signin.html", None, 401, username=username,
                            error="Wrong username or password.")
    old = request.session.get("sid")
    console.sessions.end(old)
    session = console.sessions.create(person, own)
    request.session.clear()
    request.session["sid"] = session.sid
    log.info("signed_in", username=person.username, client=address)
    return redirect("/")


@router.post("/signout")
async def signout(request: Request) -> Response:
    console = _console(request)
    session = console.session(request, recheck=False)
    if session is not None and await _form(request, session, console) is not None:
        console.sessions.end(session.sid)
    request.session.clear()
    return redirect("/signin")


@router.get("/language")
def language(request: Request, to: str = "", back: str = "/") -> Response:
    target = back if _LOCAL_PATH.fullmatch(back) else "/"  # never elsewhere: no //host, no \\, no control characters
    response = redirect(target)
    if to in LANGUAGES:
        response.set_cookie("lang", to, max_age=365 * 86400, httponly=True, samesite="strict",
                            secure=_console(request).config.web.https)
    return response


# -- every account ---------------------------------------------------------------------------


@router.get("/me", response_class=HTMLResponse)
def me(request: Request) -> Response:
    console = _console(request)
    session = _signed_in(request, console)
    if session.person.must_change_password:
        return redirect("/password")
    with session.lock:
        row = reads.one_account(session.own, console.config, console.rolemap, session.person.dn, _now())
    return console.page(request, "me.html", session, row=row)


@router.get("/password", response_class=HTMLResponse)
def password_page(request: Request) -> Response:
    console = _console(request)
    session = _signed_in(request, console)
    return console.page(request, "password.html", session, min_length=actions.min_password_length(console.config))


@router.post("/password", response_class=HTMLResponse)
async def change_password(request: Request) -> Response:
    console = _console(request)
    session = await run_in_threadpool(_signed_in, request, console)
    form = await _form(request, session, console)
    return await run_in_threadpool(_change_password, console, request, session, form)


def _change_password(console: Console, request: Request, session: Session, form: FormData | None) -> Response:
    min_length = actions.min_password_length(console.config)
    if form is None:
        return console.page(request, "password.html", session, 400, min_length=min_length,
                            error="The form expired; please try again.")
    old, new, again = (str(form.get(k) or "") for k in ("old_password", "new_password", "again"))
    error = None
    if not old or not new:
        error = "Give your current password and a new one."
    elif new != again:
        error = "The two new passwords differ."
    elif new == old:
        error = "The new password must differ from the current one."
    elif len(new) < min_length:
        error = "The new password is too short."
    if error is None:
        try:
            with session.lock:
                session.own.change_own_password(old, new)
        except WriteError as exc:
            log.info("password_change_refused", username=session.person.username, code=exc.code)
            wrong_old = exc.code == 49 or (exc.code == 53 and "old password" in str(exc))
            error = ("The current password is wrong." if wrong_old else
                     "The directory's password policy refused the new password (too short, too simple, "
                     "or used before).")
            if wrong_old:  # slapd does not count these: a stolen session must not guess on
                session.wrong_passwords += 1
                if session.wrong_passwords >= WRONG_PASSWORDS:
                    log.warning("signed_out_after_wrong_passwords", username=session.person.username)
                    console.sessions.end(session.sid)
                    request.session.clear()
                    return redirect("/signin")
    if error is not None:
        return console.page(request, "password.html", session, 400, min_length=min_length, error=error)
    log.info("password_changed", username=session.person.username)
    first = session.person.must_change_password
    console.sessions.end_person(session.person.username)  # every session of the old password ends, this one too
    request.session.clear()
    try:
        person, own = _signed_in_again(console, session, new)
    except (DirectoryError, WrongCredentials):
        return console.page(request, "password_done.html", None, granted=False, again=True)
    session = console.sessions.create(person, own)
    request.session["sid"] = session.sid
    granted = actions.grant_systems_now(console.config, console.rolemap) \
        if first and console.config.access.first_password_gate else True
    return console.page(request, "password_done.html", session, granted=granted)


def _signed_in_again(console: Console, session: Session, password: str):
    """After a password change: a new connection with the new password (the old one was restricted
    to changing it, if the password had been reset), and the person as the directory now says."""
    state = find_account(console.config, session.person.username)
    if state is None:
        raise WrongCredentials()
    own = Directory(console.config.ldap, bind_dn=state.dn, password=password).connect()
    return person_of(state, console.rolemap), own


# -- HQ: partners ----------------------------------------------------------------------------


@router.get("/partners", response_class=HTMLResponse)
def partner_list(request: Request, q: str = "", page: int = 1) -> Response:
    console = _console(request)
    session = _signed_in(request, console)
    if session.person.must_change_password:
        return redirect("/password")
    if not session.person.is_hq_admin:
        return console.problem(request, session, 404, "No such page.")
    with session.lock:
        rows, total = reads.partners(session.own, console.config, q[:64], page)
    return console.page(request, "partners.html", session, rows=rows, total=total, q=q, page=max(page, 1),
                        per_page=reads.PARTNERS_PER_PAGE, errors={}, values={})


@router.post("/partners", response_class=HTMLResponse)
async def create_partner(request: Request) -> Response:
    console = _console(request)
    session = await run_in_threadpool(_signed_in, request, console)
    if session.person.must_change_password or not session.person.is_hq_admin:
        return console.problem(request, session, 404, "No such page.")
    form = await _form(request, session, console)
    if form is None:
        return console.problem(request, session, 400, "The form expired; please try again.")
    code = str(form.get("partner_code") or "").strip()
    operation = operation_from_form("create_partner", form)
    return await run_in_threadpool(_submit, console, request, session, code or "?", operation, form,
                                   again=lambda errors: _partners_again(console, request, session, errors, form))


def _partners_again(console: Console, request: Request, session: Session, errors: dict, form: FormData) -> Response:
    with session.lock:
        rows, total = reads.partners(session.own, console.config)
    values = {k: v for k, v in form.items() if "password" not in k and k != "csrf"}
    return console.page(request, "partners.html", session, 400, rows=rows, total=total, q="", page=1,
                        per_page=reads.PARTNERS_PER_PAGE, errors=errors, values=values)


@router.post("/partners/{code}/suspend", response_class=HTMLResponse)
async def suspend_partner(request: Request, code: str) -> Response:
    return await _partner_action(request, code, "suspend_partner")


@router.post("/partners/{code}/resume", response_class=HTMLResponse)
async def resume_partner(request: Request, code: str) -> Response:
    return await _partner_action(request, code, "resume_partner")


async def _partner_action(request: Request, code: str, op: str) -> Response:
    console, session, form, answer = await _partner_form(request, code)
    if answer is not None:
        return answer
    return await run_in_threadpool(_submit, console, request, session, code, {"op": op}, form)


# -- a partner's accounts --------------------------------------------------------------------


@router.get("/partners/{code}", response_class=HTMLResponse)
def accounts(request: Request, code: str, q: str = "", status: str = "", role: str = "",
             sort: str = "username") -> Response:
    console = _console(request)
    session, refused = _guarded(console, request, code)
    if refused is not None:
        return refused
    with session.lock:
        partner = reads.partner(session.own, console.config, code)
        rows = reads.partner_accounts(session.own, console.config, console.rolemap, code, _now(), q[:64], status,
                                      role, sort) if partner else []
    if partner is None:
        return console.problem(request, session, 404, "No such partner.")
    return console.page(request, "accounts.html", session, partner=partner, rows=rows, q=q, status=status,
                        role=role, sort=sort, statuses=reads.STATUSES, sorts=reads.SORTS)


@router.get("/partners/{code}/access.csv")
def access_csv(request: Request, code: str) -> Response:
    console = _console(request)
    session, refused = _guarded(console, request, code)
    if refused is not None:
        return refused
    with session.lock:
        rows = reads.partner_accounts(session.own, console.config, console.rolemap, code, _now())
    table = access_rows([r.state for r in rows], console.rolemap, console.config.access.first_password_gate)
    text = render([{k: _no_formula(v) for k, v in row.items()} for row in table], COLUMNS["access"], "csv")
    return Response("\ufeff" + text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{code}-access.csv"'})


def _no_formula(value: object) -> object:
    """A cell a spreadsheet would run as a formula is written as text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@router.get("/partners/{code}/new", response_class=HTMLResponse)
def new_account_page(request: Request, code: str) -> Response:
    console = _console(request)
    session, refused = _guarded(console, request, code)
    if refused is not None:
        return refused
    return console.page(request, "new_account.html", session, code=code, errors={}, values={}, chosen=[])


@router.post("/partners/{code}/new", response_class=HTMLResponse)
async def new_account(request: Request, code: str) -> Response:
    console, session, form, answer = await _partner_form(request, code)
    if answer is not None:
        return answer
    roles = [str(r) for r in form.getlist("roles")]
    operation = operation_from_form("create_user", form, roles)
    values = {k: v for k, v in form.items() if "password" not in k and k != "csrf"}
    return await run_in_threadpool(_submit, console, request, session, code, operation, form,
                                   again=lambda errors: console.page(request, "new_account.html", session, 400, code=code,
                                                                     errors=errors, values=values, chosen=roles))


@router.get("/partners/{code}/accounts/{username}", response_class=HTMLResponse)
def account(request: Request, code: str, username: str) -> Response:
    return _account_page(request, code, username)


def _account_page(request: Request, code: str, username: str, status_code: int = 200, errors: dict | None = None,
                  form_op: str = "") -> Response:
    console = _console(request)
    session, refused = _guarded(console, request, code)
    if refused is not None:
        return refused
    row = None
    if USERNAME_PATTERN.fullmatch(username):
        dn = Layout(console.config.ldap.base_dn).account(username, code)
        with session.lock:
            row = reads.one_account(session.own, console.config, console.rolemap, dn, _now())
    if row is None:
        return console.problem(request, session, 404, "No such account.")
    return console.page(request, "account.html", session, status_code, code=code, row=row, errors=errors or {},
                        form_op=form_op)


@router.post("/partners/{code}/accounts/{username}/{op}", response_class=HTMLResponse)
async def account_action(request: Request, code: str, username: str, op: str) -> Response:
    console, session, form, answer = await _partner_form(request, code)
    if answer is not None:
        return answer
    if op not in ACCOUNT_OPS:
        return console.problem(request, session, 400, "The form expired; please try again.")
    if op == "delete_user" and str(form.get("confirm") or "").strip() != str(form.get("username") or ""):
        return _account_page(request, code, username, 400, {"confirm": "Type the username to confirm the deletion."},
                             op)
    roles = [str(r) for r in form.getlist("roles")]
    operation = operation_from_form(op, form, roles)
    return await run_in_threadpool(_submit, console, request, session, code, operation, form,
                                   again=lambda errors: _account_page(request, code, username, 400, errors, op))


def _submit(console: Console, request: Request, session: Session, partner: str, operation: dict[str, Any],
            form: FormData, again=None) -> Response:
    """Submit one operation as the signed-in person; the form again with its problems next to the
    fields when the request is refused for what the form says, else the result page."""
    request_doc = actions.request_of(session.person, partner, [operation], "console")
    offline = field_problems(request_doc)
    if offline and again is not None:
        return again(offline)
    submitted = actions.submit(console.config, console.rolemap, console.sessions, request_doc, "console")
    if submitted.status == "rejected" and again is not None:  # the form again, as it was filled in
        placed, rest = problems_by_field(submitted.result.get("problems") or [])
        return again(placed | ({"": "; ".join(rest)} if rest else {}))
    status_code = {"applied": 200, "rejected": 400, "failed": 502, "duplicate": 409,
                   "pending": 202}.get(submitted.status, 500)
    return console.page(request, "result.html", session, status_code, submitted=submitted, partner=partner)
