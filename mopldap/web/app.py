"""The FastAPI application: the console's pages (server-rendered, plain forms) and the API."""

from __future__ import annotations

import secrets

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from ..files.lock import RunBusy
from ..logs import get_logger
from ..model.config import Config
from ..model.errors import DirectoryError, LocalFilesError
from ..model.rolemap import RoleMap
from . import api, pages
from .console import HERE, Console, redirect
from .guard import MAX_BODY

log = get_logger(__name__)
COOKIE = "mopldap_session"

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")


def security_headers(tls: bool):
    async def add_headers(request: Request, call_next):
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"  # pages and answers hold personal data
        if tls:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response

    return add_headers


def create_app(config: Config, rolemap: RoleMap) -> FastAPI:
    app = FastAPI(title="mopldap API", version="1", openapi_url="/api/v1/openapi.json", docs_url=None,
                  redoc_url=None, max_body_size=MAX_BODY,
                  description="Partner account requests through mopldap's pipeline. HTTP Basic authentication "
                              "on every call, checked by an LDAP bind as that account; the caller is the requester.")
    console = Console(config, rolemap)
    app.state.console = console
    app.middleware("http")(security_headers(config.web.https))
    # the signed cookie holds only the session id; its signing key lives as long as the process,
    # like the sessions themselves. max_age is renewed with every answer: the idle expiry
    app.add_middleware(SessionMiddleware, secret_key=secrets.token_urlsafe(48), session_cookie=COOKIE,
                       max_age=config.web.session_minutes * 60, same_site="strict", https_only=config.web.https)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    api.install_error_handlers(app)
    api.document_errors(app)

    @app.exception_handler(RunBusy)
    async def busy(request: Request, exc: RunBusy) -> Response:
        return _trouble(request, 503, "busy")

    @app.exception_handler(DirectoryError)
    async def unreachable(request: Request, exc: DirectoryError) -> Response:
        log.error("directory_error", path=request.url.path, error=exc.message)
        response = _trouble(request, 503, "directory")
        # the person's own connection may be the one that broke (slapd restarted): sign in again
        console.sessions.end(request.session.pop("sid", None))
        return response

    @app.exception_handler(pages.NotSignedIn)
    async def not_signed_in(request: Request, exc: Exception) -> Response:
        return redirect("/signin")

    @app.exception_handler(LocalFilesError)
    async def local_files(request: Request, exc: LocalFilesError) -> Response:
        log.error("local_files_error", path=request.url.path, error=exc.message)
        return _trouble(request, 503, "files")

    return app


TROUBLE = {
    "busy": "Another mopldap run is writing; nothing was changed. Try again in a minute.",
    "directory": "The directory cannot be reached or refused the operation; nothing was changed. "
                 "Try again later, or tell HQ.",
    "files": "mopldap cannot write its own files (disk full?); nothing was changed. Tell HQ.",
}


def _trouble(request: Request, status: int, kind: str) -> Response:
    if request.url.path.startswith("/api/"):
        return api.api_error(status, TROUBLE[kind])
    console: Console = request.app.state.console
    return console.problem(request, console.session(request, recheck=False), status, TROUBLE[kind])
