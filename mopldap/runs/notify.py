"""`mopldap notify preview KIND` and `mopldap notify test ADDRESS`: the mail templates rendered
with sample data, and one sample mail sent, to check the templates and the SMTP settings."""

from __future__ import annotations

from ..model.config import Config
from ..model.errors import ConfigError
from ..model.times import parse_as_of
from ..notify.mailer import Mailer
from ..notify.messages import Templates, sample


def run_preview(config: Config, kind: str, lang: str | None) -> int:
    mail = Templates(config.notify).render(kind, lang or config.notify.language, "someone@example.com",
                                           **sample(kind, parse_as_of(None)))
    print(f"Subject: {mail.subject}\n\n{mail.text}\n--- HTML ---\n{mail.html}", end="")
    return 0


def run_test_mail(config: Config, to: str, lang: str | None) -> int:
    smtp = config.notify.smtp
    if smtp is None:
        raise ConfigError(f"{config.source}: notify.smtp is not set: give the mail server (host, port, security, from)")
    mail = Templates(config.notify).render("warning", lang or config.notify.language, to,
                                           **sample("warning", parse_as_of(None)))
    with Mailer(smtp) as mailer:
        mailer.send(mail.message(smtp.sender))
    print(f"sent a sample warning to {to} through {smtp.host}:{smtp.port} ({smtp.security})")
    return 0
