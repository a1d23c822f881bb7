"""What every console page needs: the configuration, the sessions, the templates, the language."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from ..model.config import Config
from ..model.rolemap import RoleMap
from .guard import SignInLimiter
from .i18n import LANGUAGES, pick_language, translator
from .people import find_account, person_of
from .sessions import Session, SessionStore

HERE = Path(__file__).parent
RECHECK_SECONDS = 60


class Console:
    """What every page needs: the configuration, the sessions, the templates."""

    def __init__(self, config: Config, rolemap: RoleMap) -> None:
        self.config = config
        self.rolemap = rolemap
        self.sessions = SessionStore(config.web.session_minutes * 60)
        self.limiter = SignInLimiter(config.web.sign_in_per_minute)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.autoescape = True

    def session(self, request: Request, recheck: bool = True) -> Session | None:
        """The signed-in session, if any. Once a minute it is checked against the directory (an LDAP
        search: call it off the event loop): an account disabled, locked, deleted or moved since
        signing in is signed out, and a change of roles (no longer an administrator) takes effect.
        Without `recheck` (error pages), only the session as it is."""
        session = self.sessions.get(request.session.get("sid"))
        if session is None or not recheck or time.monotonic() - session.checked_at < RECHECK_SECONDS:
            return session
        state = find_account(self.config, session.person.username)
        if state is None or not state.enabled or state.dn != session.person.dn:
            self.sessions.end(session.sid)
            return None
        session.person = person_of(state, self.rolemap)
        session.checked_at = time.monotonic()
        return session

    def language(self, request: Request) -> str:
        return pick_language(request.cookies.get("lang"), request.headers.get("accept-language"),
                             self.config.web.language)

    def page(self, request: Request, name: str, session: Session | None, status_code: int = 200,
             **context: Any) -> HTMLResponse:
        lang = self.language(request)
        if "pre" not in request.session:  # the sign-in form's CSRF token, before there is a session
            request.session["pre"] = secrets.token_urlsafe(32)
        context |= {"request": request, "session": session, "person": session.person if session else None,
                    "csrf": session.csrf if session else request.session["pre"], "lang": lang,
                    "languages": LANGUAGES, "_": translator(lang), "rolemap": self.rolemap,
                    "path": request.url.path if request.method == "GET" else "/"}  # a page one can come back to
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)

    def problem(self, request: Request, session: Session | None, status_code: int, message: str) -> HTMLResponse:
        return self.page(request, "problem.html", session, status_code, message=message)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
