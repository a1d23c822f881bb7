"""Console sessions, kept in this process: the signed cookie carries only a random session id.

A session holds the person's own bound LDAP connection (so the password is never kept), a CSRF
token, and the time of its last use; it ends after `web.session_minutes` without use, at sign-out,
or when the process stops."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from ..ldap.directory import Directory
from .people import Person


@dataclass
class Session:
    sid: str
    person: Person
    own: Directory  # bound as the person; one request at a time uses it (`lock`)
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=time.monotonic)
    checked_at: float = field(default_factory=time.monotonic)  # when the account was last found enabled
    wrong_passwords: int = 0  # wrong current passwords given to change it
    lock: threading.Lock = field(default_factory=threading.Lock)


class SessionStore:
    def __init__(self, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, person: Person, own: Directory) -> Session:
        session = Session(secrets.token_urlsafe(32), person, own)
        with self._lock:
            self._expire()
            self._sessions[session.sid] = session
        return session

    def get(self, sid: object) -> Session | None:
        """The live session `sid`, its idle clock restarted; None if there is none (or it expired)."""
        if not isinstance(sid, str):
            return None
        with self._lock:
            self._expire()
            session = self._sessions.get(sid)
            if session is not None:
                session.last_seen = time.monotonic()
            return session

    def end_person(self, username: str) -> None:
        """End every session of `username` (its password changed or was reset, it was disabled)."""
        with self._lock:
            ended = [self._sessions.pop(sid) for sid, s in list(self._sessions.items())
                     if s.person.username == username]
        for session in ended:
            session.own.close()

    def end(self, sid: object) -> None:
        with self._lock:
            session = self._sessions.pop(sid, None) if isinstance(sid, str) else None
        if session is not None:
            session.own.close()

    def _expire(self) -> None:
        limit = time.monotonic() - self.idle_seconds
        for sid in [sid for sid, s in self._sessions.items() if s.last_seen < limit]:
            self._sessions.pop(sid).own.close()
