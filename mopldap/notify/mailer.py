"""Sending mail through the configured SMTP server with the standard library's smtplib:
STARTTLS or implicit TLS with the certificate verified (against ca_file, else the system's CAs),
an optional login. One connection for a batch of mails."""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage

from ..model.config import SmtpConfig
from ..model.errors import MopldapError


class MailError(MopldapError):
    """The mail server could not be reached, refused TLS, the login or a recipient (exit 2)."""

    exit_code = 2


class RecipientRefused(MailError):
    """The mail server refused this one recipient (or this one mail): the others may still go.
    `permanent` (a 5xx answer): the address will not work tomorrow either."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Disconnected(MailError):
    """The server closed the connection (idle too long, or 421: too many mails on one connection):
    worth one more try on a new one."""


def _permanent(exc: smtplib.SMTPException) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return getattr(exc, "smtp_code", 0) >= 500


def _context(config: SmtpConfig) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its certificate could not be verified ({exc.verify_message}): is notify.smtp.ca_file the CA that signed it?"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return "the login was refused: check notify.smtp.user and password_file"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"it does not offer what is configured ({exc}): check notify.smtp.security"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "it refused " + ", ".join(f"{who} ({code} {text.decode(errors='replace') if isinstance(text, bytes) else text})"
                                         for who, (code, text) in sorted(exc.recipients.items()))
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"it answered {exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
    if isinstance(exc, (ConnectionRefusedError, socket.timeout, TimeoutError)):
        return "connection refused or timed out; is the mail server running?"
    return str(exc) or type(exc).__name__


class Mailer:
    """`with Mailer(config) as mailer: mailer.send(message)`: one connection, many mails."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: smtplib.SMTP | None = None

    @property
    def where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def __enter__(self) -> Mailer:
        config = self.config
        try:
            if config.security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout,
                                                      context=_context(config))
            else:
                smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
                if config.security == "starttls":
                    smtp.starttls(context=_context(config))
            if config.user is not None:
                smtp.ehlo_or_helo_if_needed()
                offered = smtp.esmtp_features.get("auth", "").upper().split()
                if "PLAIN" in offered:  # one mechanism, one answer (a refused PLAIN is not retried as LOGIN)
                    smtp.user, smtp.password = config.user, config.password() or ""
                    smtp.auth("PLAIN", smtp.auth_plain)
                else:
                    smtp.login(config.user, config.password() or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"mail server {self.where}: {_reason(exc)}") from None
        self._smtp = smtp
        return self

    def send(self, message: EmailMessage) -> None:
        """Send one mail; MailError if the server does not accept it (for its recipient, say)."""
        assert self._smtp is not None, "use the mailer in a with block"
        if "From" not in message:
            message["From"] = self.config.sender
        try:
            refused = self._smtp.send_message(message)
        except smtplib.SMTPServerDisconnected as exc:
            raise Disconnected(f"mail server {self.where}: {_reason(exc)}") from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:
                raise Disconnected(f"mail server {self.where}: {_reason(exc)}") from None
            if isinstance(exc, smtplib.SMTPDataError):
                raise RecipientRefused(f"mail server {self.where}: {_reason(exc)}", _permanent(exc)) from None
            raise MailError(f"mail server {self.where}: {_reason(exc)}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise RecipientRefused(f"mail server {self.where}: {_reason(exc)}", _permanent(exc)) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"mail server {self.where}: {_reason(exc)}") from None
        if refused:
            raise RecipientRefused(f"mail server {self.where} refused {', '.join(sorted(refused))}",
                                   all(code >= 500 for code, _ in refused.values()))

    def __exit__(self, *exc: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None
