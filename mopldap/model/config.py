"""The configuration file (`config/mopldap.yaml`): its sections as frozen dataclasses, checked by
pydantic when the file is read (model/checks.py says why they are not pydantic models)."""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlparse

from .checks import STRICT, After, Before, Limits, renamed, validator
from .cron import check_cron
from .errors import ConfigError
from .rolemap import RoleMap, load_rolemap

if TYPE_CHECKING:  # PyYAML is imported only to read a file (files/checked.py)
    from .yamlfile import YamlDocument

DEFAULT_CONFIG = Path("config/mopldap.yaml")
CONFIG_ENV = "MOPLDAP_CONFIG"
PASSWORD_ENV = "MOPLDAP_BIND_PASSWORD"
ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
PASSWORD_SCHEMES = ("{SSHA512}", "{SSHA256}", "{SSHA}", "{ARGON2}", "server")


def _section() -> Any:
    """A section's default: an empty mapping, checked like a given one (STRICT validates defaults),
    so that its relative paths get resolved."""
    return field(default_factory=dict)


def _resolve(value: Path | None, info: Any) -> Path | None:
    """Resolve a path relative to the config file's folder (passed as validation context). Symbolic
    links are kept, not resolved: a folder that is a link must be seen as one (files/folders.py)."""
    if value is None:
        return None
    return resolve_path(value, (info.context or {}).get("base", Path.cwd()))


def resolve_path(value: Path, base: Path) -> Path:
    """`value` as the config means it: relative to `base`, the config file's folder."""
    return Path(os.path.normpath(base / value)) if not value.is_absolute() else value


RESOLVED = After(_resolve, info=True)


def _check_dn(value: str | None) -> str | None:
    from ldap3.core.exceptions import LDAPInvalidDnError
    from ldap3.utils.dn import parse_dn

    if value is None:
        return None
    try:
        parse_dn(value)
    except LDAPInvalidDnError:
        raise ValueError(f"'{value}' is not a valid DN") from None
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("ldap", "ldaps") or not parsed.hostname:
        raise ValueError(f"'{url}' is not an ldap:// or ldaps:// URL with a host")
    return url


def _read_password(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class ReplicaConfig:
    """A replica read for logins: its URL, and its own credentials when it has them (else ldap.bind_dn's)."""

    __pydantic_config__ = STRICT
    url: Annotated[str, After(_check_url)]
    bind_dn: Annotated[str | None, After(_check_dn)] = None
    bind_password_file: Annotated[Path | None, RESOLVED] = None

    def __post_init__(self) -> None:
        if (self.bind_dn is None) != (self.bind_password_file is None):
            raise ValueError("give both bind_dn and bind_password_file, or neither (then ldap.bind_dn's are used)")

    def password(self) -> str | None:
        """This replica's own bind password, or None: it takes ldap.bind_dn's."""
        if self.bind_password_file is None:
            return None
        return _read_password(self.bind_password_file, f"ldap.replicas ({self.url}): bind_password_file")


def _check_urls(value: str | list[str]) -> str | list[str]:
    if isinstance(value, list):
        if not value:
            raise ValueError("give at least one provider URL")
        return [_check_url(url) for url in value]
    return _check_url(value)


def _replica_urls(value: object) -> object:
    """A replica given as a URL alone is {url: URL}."""
    return [{"url": item} if isinstance(item, str) else item for item in value] if isinstance(value, list) else value


@dataclass(frozen=True)
class LdapConfig:
    __pydantic_config__ = STRICT
    url: Annotated[str | list[str], After(_check_urls)] = "ldap://127.0.0.1:3890"
    """one provider, or several (multi-provider replication): mopldap writes to the first that answers"""
    start_tls: bool = False
    ca_file: Annotated[Path | None, RESOLVED] = None
    allow_insecure: bool = False
    bind_dn: Annotated[str, After(_check_dn)] = "cn=mopldap,ou=services,dc=example,dc=com"
    bind_password_file: Annotated[Path | None, RESOLVED] = None
    base_dn: Annotated[str, After(_check_dn)] = "dc=example,dc=com"
    replicas: Annotated[list[ReplicaConfig], Before(_replica_urls)] = field(default_factory=list)
    """URLs, or {url, bind_dn, bind_password_file} for a replica with credentials of its own"""
    timeout: Annotated[float, Limits(gt=0)] = 10.0
    page_size: Annotated[int, Limits(ge=1, le=10000)] = 500

    @property
    def providers(self) -> list[str]:
        """The provider URLs, in the order mopldap tries them."""
        return list(self.url) if isinstance(self.url, list) else [self.url]

    def __post_init__(self) -> None:
        """Transport security: a bind password never goes in clear to another host unless allowed."""
        for url in [*self.providers, *(replica.url for replica in self.replicas)]:
            parsed = urlparse(url)
            if parsed.scheme == "ldaps" and self.start_tls:
                raise ValueError(f"start_tls makes no sense with {url}: ldaps:// is already TLS")
            plain = parsed.scheme == "ldap" and not self.start_tls
            if plain and not is_loopback(parsed.hostname) and not self.allow_insecure:
                raise ValueError(
                    f"{url} would send the bind password in clear to a remote host: "
                    "use ldaps://, set start_tls: true, or set allow_insecure: true"
                )

    def bind_password(self) -> str:
        """Return the bind password from $MOPLDAP_BIND_PASSWORD or bind_password_file."""
        if PASSWORD_ENV in os.environ:
            return os.environ[PASSWORD_ENV]
        if self.bind_password_file is None:
            raise ConfigError(
                f"ldap.bind_password_file: not set and ${PASSWORD_ENV} is empty: "
                "give one of them the bind DN's password"
            )
        return _read_password(self.bind_password_file, "ldap.bind_password_file")


@dataclass(frozen=True)
class PathsConfig:
    __pydantic_config__ = STRICT
    role_map: Annotated[Path, RESOLVED] = Path("roles.yaml")
    inbox: Annotated[Path, RESOLVED] = Path("../var/inbox")
    outbox: Annotated[Path, RESOLVED] = Path("../var/outbox")
    archive: Annotated[Path, RESOLVED] = Path("../var/archive")
    state: Annotated[Path, RESOLVED] = Path("../var/state.json")
    work: Annotated[Path, RESOLVED] = Path("../var/work")
    """mopldap's own working folder: the run lock, claimed requests and their journals, quarantine,
    the settings as last checked (files/checked.py)."""

    def folders(self, audit_file: Path) -> dict[str, Path]:
        """The folders mopldap trusts, by what they are for (see files/folders.py)."""
        return {"inbox": self.inbox, "outbox": self.outbox, "archive": self.archive, "work folder": self.work,
                "state folder": self.state.parent, "audit folder": audit_file.parent}


def _attribute_names(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("list at least one last-logon attribute")
    for name in value:
        if not ATTRIBUTE_NAME.fullmatch(name):
            raise ValueError(f"'{name}' is not an LDAP attribute name")
    return value


def _count_or_percent(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must be a count >= 0 or a percentage like '10%'")
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
    if not match or float(match.group(1)) > 100:
        raise ValueError(f"'{value}' must be a count like 50 or a percentage like '10%'")
    return value


@dataclass(frozen=True)
class InactivityConfig:
    __pydantic_config__ = STRICT
    max_idle_days: Annotated[int, Limits(ge=1)] = 30
    warn_days: Annotated[int, Limits(ge=0)] = 7
    attributes: Annotated[list[str], After(_attribute_names)] = field(
        default_factory=lambda: ["pwdLastSuccess", "authTimestamp", "mopLastLogon"])
    exempt_roles: list[str] = field(default_factory=lambda: ["hq-admin"])
    max_locks_per_run: Annotated[int | str, After(_count_or_percent)] = "10%"
    check_every_hours: Annotated[float, Limits(ge=0, le=24)] = 1
    """`mopldap sync` runs the inactivity step when its last check (on this host, with these settings)
    is at least this old; 0: at every sync. Idleness is counted in days, and the check costs slapd a
    filter over every enabled account. lock-inactive and the daemon's inactivity job always check.
    At most 24: the check also keeps the logins replicas saw in the last two days."""

    def __post_init__(self) -> None:
        if self.warn_days >= self.max_idle_days:
            raise ValueError("warn_days must be smaller than max_idle_days")

    @property
    def lock_percent(self) -> float | None:
        """max_locks_per_run as a percentage, or None when it is a count."""
        return None if isinstance(self.max_locks_per_run, int) else float(self.max_locks_per_run.strip().rstrip("%"))

    def lock_limit(self, enabled_accounts: int) -> int:
        """Return the most accounts one run may lock, given how many are enabled."""
        if self.lock_percent is None:
            return int(self.max_locks_per_run)
        return math.ceil(enabled_accounts * self.lock_percent / 100)  # 10% of 4 accounts allows 1, not 0


def _cron(value: str) -> str:
    try:
        check_cron(value)
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a cron expression (minute hour day month weekday): {exc}") from None
    return value


CRON = After(_cron)


@dataclass(frozen=True)
class ScheduleConfig:
    __pydantic_config__ = STRICT
    inbox: Annotated[str, CRON] = "* * * * *"
    reconcile: Annotated[str, CRON] = "*/15 * * * *"
    inactivity: Annotated[str, CRON] = "0 2 * * *"


@dataclass(frozen=True)
class DaemonConfig:
    __pydantic_config__ = STRICT
    lease_seconds: Annotated[int, Limits(ge=2, le=3600)] = 60
    """two daemons (two hosts) share one directory: the one holding the lease entry runs the jobs;
    the other takes over when the holder has not renewed it for this long"""


@dataclass(frozen=True)
class ReconcileConfig:
    __pydantic_config__ = STRICT
    full_every_hours: Annotated[float, Limits(gt=0)] = 24
    """A routine reconcile reads only what changed; a full one looks at everything, at least this often."""
    verify_every_hours: Annotated[float, Limits(gt=0)] = 168
    """A full reconcile also checks every member's memberOf and entry at least this often (and when
    asked, --full, or after a run stopped while writing groups); in between it reads member values only."""
    clock_skew_seconds: Annotated[int, Limits(ge=0)] = 60
    """The largest clock difference between this host and the directory servers: a routine run
    re-reads the accounts changed this long before the previous run started."""


@dataclass(frozen=True)
class LoggingConfig:
    __pydantic_config__ = STRICT
    format: Literal["auto", "json", "console"] = "auto"
    level: Literal["debug", "info", "warning", "error"] = "info"
    audit_file: Annotated[Path, RESOLVED] = Path("../var/audit.jsonl")


def _known_scheme(value: str) -> str:
    if value not in PASSWORD_SCHEMES:
        raise ValueError(f"'{value}' is not one of {', '.join(PASSWORD_SCHEMES)}")
    return value


@dataclass(frozen=True)
class PasswordsConfig:
    __pydantic_config__ = STRICT
    scheme: Annotated[str, After(_known_scheme)] = "{SSHA512}"
    """How mopldap stores passwords: pre-hashed with a scheme the server verifies, or
    'server' to send them with the Password Modify extended operation (RFC 3062)."""
    generated_length: Annotated[int, Limits(ge=16, le=128)] = 20


@dataclass(frozen=True)
class AccessConfig:
    __pydantic_config__ = STRICT
    first_password_gate: bool = True
    """An account still on the password an administrator or mopldap set (pwdReset: TRUE) is in no
    system group until the person has set their own: slapd accepts such a bind and restricts only
    what that connection may do next, and most applications check a password with a bind alone."""


def _host_port(value: str) -> str:
    host_port(value)
    return value


@dataclass(frozen=True)
class WebConfig:
    """`mopldap serve`: the console and the API."""

    __pydantic_config__ = STRICT
    listen: Annotated[str, After(_host_port)] = "127.0.0.1:8080"
    cert_file: Annotated[Path | None, RESOLVED] = None
    key_file: Annotated[Path | None, RESOLVED] = None
    allow_insecure: bool = False
    session_minutes: Annotated[int, Limits(ge=1, le=24 * 60)] = 30
    sign_in_per_minute: Annotated[int, Limits(ge=1, le=1000)] = 10
    """sign-in attempts allowed per minute from one address, and for one username (ppolicy counts
    failures per account on top of that)"""
    language: Literal["zh", "en"] = "zh"
    write_wait_seconds: Annotated[float, Limits(gt=0)] = 30
    """how long a write waits for a scheduled run holding the run lock before the page says 'busy'"""
    behind_tls_proxy: bool = False
    """a reverse proxy terminates TLS in front: cookies are Secure and HSTS is sent all the same"""
    trusted_proxies: list[str] = field(default_factory=lambda: ["127.0.0.1"])
    """addresses whose X-Forwarded-For is believed (the client address that sign-ins are counted by)"""

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    @property
    def https(self) -> bool:
        """People reach the console over HTTPS (its own TLS, or a TLS proxy's)."""
        return self.tls or self.behind_tls_proxy


def host_port(text: str) -> tuple[str, int]:
    """Split HOST:PORT ([v6]:PORT too). Raise ValueError saying what is wrong."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"'{text}' is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host, int(port)


@dataclass(frozen=True)
class SmtpConfig:
    """The mail server mopldap sends through (smtplib; certificates always verified)."""

    __pydantic_config__ = STRICT
    host: str
    sender: Annotated[str, Limits(min_length=3)]
    """the key `from` in the file"""
    port: Annotated[int, Limits(ge=1, le=65535)] = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    ca_file: Annotated[Path | None, RESOLVED] = None
    user: str | None = None
    password_file: Annotated[Path | None, RESOLVED] = None
    timeout: Annotated[float, Limits(gt=0)] = 10

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        return renamed(handler(source), {"sender": "from"})

    def __post_init__(self) -> None:
        if (self.user is None) != (self.password_file is None):
            raise ValueError("give both user and password_file, or neither")
        if self.security == "none" and not is_loopback(self.host):
            raise ValueError(f"security: none would send mail (and a login) in clear to {self.host}: "
                             "use starttls or ssl, or a relay on this host")

    def password(self) -> str | None:
        return None if self.password_file is None else _read_password(self.password_file, "notify.smtp.password_file")


def _zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not a time zone name (e.g. Asia/Shanghai, Europe/Berlin, UTC)") from None
    return value


def _days(value: list[int]) -> list[int]:
    if any(day < 1 for day in value):
        raise ValueError("days before the lock are 1 or more")
    return sorted(set(value), reverse=True)


@dataclass(frozen=True)
class NotifyConfig:
    __pydantic_config__ = STRICT
    smtp: SmtpConfig | None = None
    """no smtp: no mail (the warnings are logged and reported, as before)"""
    warn_days: Annotated[list[int], After(_days)] = field(default_factory=lambda: [7, 1])
    """days before the inactivity lock a person is warned, once at each"""
    min_warning_days: Annotated[int, Limits(ge=1)] = 1
    """an account is locked only after a warning at least this many days old (a warning and the
    lock in the same run would be no warning)"""
    first_password_days: Annotated[int, Limits(ge=1)] = 7
    """the digest lists accounts still on the password set for them after this many days"""
    request_results: bool = False
    """mail the requester of an inbox request its result"""
    language: Literal["zh", "en"] = "zh"
    timezone: Annotated[str, After(_zone)] = "Asia/Shanghai"
    """the readers' time zone: the dates in mails are theirs"""
    templates: Annotated[Path | None, RESOLVED] = None
    """a folder of templates replacing the shipped ones, file by file (mopldap notify preview lists them)"""


@dataclass(frozen=True)
class DevServerConfig:
    __pydantic_config__ = STRICT
    data_dir: Annotated[Path, RESOLVED] = Path("../var/slapd")


@dataclass(frozen=True)
class Config:
    __pydantic_config__ = STRICT
    ldap: LdapConfig = _section()
    paths: PathsConfig = _section()
    inactivity: InactivityConfig = _section()
    schedule: ScheduleConfig = _section()
    daemon: DaemonConfig = _section()
    reconcile: ReconcileConfig = _section()
    logging: LoggingConfig = _section()
    passwords: PasswordsConfig = _section()
    access: AccessConfig = _section()
    web: WebConfig = _section()
    notify: NotifyConfig = _section()
    dev_server: DevServerConfig = _section()
    source: Path = Path("config/mopldap.yaml")
    """the file read (not a key of it)"""

    def __post_init__(self) -> None:
        idle, notify = self.inactivity.max_idle_days, self.notify
        if notify.smtp is not None and max([*notify.warn_days, notify.min_warning_days]) >= idle:
            raise ValueError(f"notify.warn_days and notify.min_warning_days must be smaller than "
                             f"inactivity.max_idle_days ({idle})")
        if self.daemon.lease_seconds <= self.ldap.timeout:
            raise ValueError(f"daemon.lease_seconds ({self.daemon.lease_seconds}) must be longer than ldap.timeout "
                             f"({self.ldap.timeout:g}): a renewal may take that long")


def config_path(explicit: str | None) -> Path:
    """Return the config file to use: --config, then $MOPLDAP_CONFIG, then the default."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def parse_config(doc: YamlDocument, base: Path) -> Config:
    """Given a parsed config document, return the Config. Raise ConfigError listing every problem."""
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{doc.source}: the configuration must be a mapping of sections (ldap, paths, ...)")
    if "source" in data:
        raise ConfigError(f"{doc.where(('source',))}: unknown key 'source'")
    from pydantic import ValidationError

    try:
        return validator(Config).validate_python({**data, "source": Path(doc.source)}, context={"base": base})
    except ValidationError as exc:
        from .yamlfile import pydantic_problems

        problems = pydantic_problems(doc, exc)
        raise ConfigError(problems[0], problems) from None


def load_config(path: Path, seen: dict[Path, bytes] | None = None) -> Config:
    """Read and validate the configuration at `path` (its bytes into `seen`, if given). Raise
    ConfigError if anything is wrong."""
    if not path.exists():
        raise ConfigError(
            f"{path}: no such configuration file: pass --config FILE or set ${CONFIG_ENV}"
        )
    from .yamlfile import read_yaml

    return parse_config(read_yaml(path, seen), path.resolve().parent)


def load_settings(path: Path, seen: dict[Path, bytes] | None = None) -> tuple[Config, RoleMap]:
    """Load the config and its role map, and check what refers from one to the other. Into
    `seen`, if given, go the bytes of the two files as they were validated (read_yaml: a file
    already in it is not read again)."""
    config = load_config(path, seen)
    rolemap = load_rolemap(config.paths.role_map, seen)
    problems = [
        f"{config.source}: inactivity.exempt_roles[{i}]: unknown role '{role}' (not in {config.paths.role_map})"
        for i, role in enumerate(config.inactivity.exempt_roles)
        if role not in rolemap.roles
    ]
    if problems:
        raise ConfigError(problems[0], problems)
    return config, rolemap
