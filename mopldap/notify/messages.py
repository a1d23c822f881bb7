"""Mails from templates: `templates/<kind>.<lang>.txt` (its first line `Subject: ...`, then the
plain text) and `<kind>.<lang>.html`. A folder in notify.templates replaces any of them, file by
file. Dates are given in the reader's time zone and language; no password is ever part of a mail."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from ..model.config import NotifyConfig
from ..model.errors import ConfigError

KINDS = ("warning", "locked", "digest", "hq-digest", "result")
LANGUAGES = ("zh", "en")
SHIPPED = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Mail:
    kind: str
    to: str
    subject: str
    text: str
    html: str

    def message(self, sender: str) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, self.to, self.subject
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


def local_date(moment: dt.datetime, lang: str, zone: str) -> str:
    """A day as the reader writes it: 2026年12月24日, or 24 December 2026."""
    day = moment.astimezone(ZoneInfo(zone))
    return f"{day.year}年{day.month}月{day.day}日" if lang == "zh" else f"{day.day} {day:%B %Y}"


def _one_line(value: Any) -> Any:
    return " ".join(value.splitlines()) if isinstance(value, str) else value


class Templates:
    def __init__(self, config: NotifyConfig) -> None:
        self.config = config
        folders = [str(config.templates)] if config.templates else []
        loader = jinja2.FileSystemLoader([*folders, str(SHIPPED)])
        # a value from the directory (a name) is one line: a line break in it cannot end the subject line
        self.env = jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                      autoescape=jinja2.select_autoescape(["html"]), finalize=_one_line)
        self.env.filters["date"] = lambda moment, lang: local_date(moment, lang, config.timezone)

    def render(self, kind: str, lang: str, to: str, **context: Any) -> Mail:
        """The mail of `kind` in `lang`. ConfigError (a customer's template that does not render)
        names the template and the problem."""
        name = f"{kind}.{lang}"
        try:
            text = self.env.get_template(f"{name}.txt").render(lang=lang, **context)
            html = self.env.get_template(f"{name}.html").render(lang=lang, **context)
        except jinja2.TemplateError as exc:
            where = getattr(exc, "filename", None) or name
            raise ConfigError(f"mail template {where}: {exc.message if hasattr(exc, 'message') else exc}") from None
        except Exception as exc:  # raised inside a filter or a call a customer's template makes
            raise ConfigError(f"mail template {name}: {type(exc).__name__}: {exc}") from None
        first, _, body = text.partition("\n")
        if not first.startswith("Subject: "):
            raise ConfigError(f"mail template {name}.txt: its first line must be 'Subject: ...'")
        return Mail(kind, to, first.removeprefix("Subject: ").strip(), body.lstrip("\n"), html)


def sample(kind: str, now: dt.datetime) -> dict[str, Any]:
    """What `mopldap notify preview KIND` renders the templates with."""
    admins = [{"name": "张三", "mail": "zhangsan@p001.example.com"}]
    person = {"name": "李四", "username": "lisi", "partner": "P001", "partner_name": "杭州云栖软件科技有限公司"}
    if kind == "warning":
        return {"person": person, "admins": admins, "lock_at": now + dt.timedelta(days=7), "days_left": 7,
                "last_login": now - dt.timedelta(days=23)}
    if kind == "locked":
        return {"person": person, "admins": admins, "locked_at": now, "last_login": now - dt.timedelta(days=30)}
    soon = [{"username": "lisi", "name": "李四", "lock_at": now + dt.timedelta(days=3), "mail": "lisi@p001.example.com"},
            {"username": "sunqi", "name": "孙七", "lock_at": now + dt.timedelta(days=6), "mail": ""}]
    locked = [{"username": "wangwu", "name": "王五", "locked_at": now - dt.timedelta(hours=5)}]
    first_password = [{"username": "zhouba", "name": "周八", "since": now - dt.timedelta(days=9)}]
    if kind == "result":
        return {"requester": admins[0], "processed_at": now,
                "request": {"request_id": "P001-20261203-001", "file": "P001-20261203-001.yaml", "status": "applied",
                            "operations": [{"index": 0, "op": "create_user", "target": "lisi", "result": "applied",
                                            "message": "generated password in the outbox"}]}}
    if kind == "digest":
        return {"admin": admins[0], "partner": "P001", "partner_name": person["partner_name"], "soon": soon,
                "locked": locked, "first_password": first_password, "first_password_days": 7}
    return {"admin": {"name": "HQ 管理员", "mail": "hq@example.com"}, "first_password_days": 7,
            "partners": [{"partner": "P001", "partner_name": person["partner_name"], "soon": 2, "locked": 1,
                          "first_password": 1}, {"partner": "P002", "partner_name": "成都蜀信", "soon": 1, "locked": 0,
                                                 "first_password": 0}],
            "orphans": [{"partner": "P002", "partner_name": "成都蜀信", "soon": soon[1:], "locked": [], "first_password": []}],
            "own": {"soon": [], "locked": [], "first_password": []}}
