"""Command line: parse arguments, call one function, map errors to exit codes."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .logs import configure
from .model.errors import ConfigError, MopldapError

FUTURE_TOLERANCE = dt.timedelta(minutes=1)  # clocks differ a little; --as-of "now" on another host is fine

DESCRIPTION = """\
mopldap applies MOP partner user management to an OpenLDAP directory: partner
administrators drop YAML requests into an inbox, scheduled runs apply them, keep
the per-system groups derived from the roles, and disable accounts idle for a month.
"""


def _add_config_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help="configuration file (default: $MOPLDAP_CONFIG, else config/mopldap.yaml)",
    )


class _Parser(argparse.ArgumentParser):
    """Bad arguments exit 1, like any invalid input (argparse's 2 means 'directory unreachable' here)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def _add_wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", metavar="SECONDS", type=float, default=600,
                        help="if another mopldap run is writing, wait this long for it (default 600), "
                             "then exit 5 having done nothing")


def _add_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="the summary as lines (default) or as one JSON object")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mopldap", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mopldap {__version__}")
    _add_config_option(parser, None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=description or help)
        _add_config_option(sub, argparse.SUPPRESS)  # accepted after the command name too
        return sub

    init = command(
        "init",
        "create the base tree, password policy and role/system groups (idempotent)",
        "Create ou=partners, ou=hq, ou=roles, ou=systems, ou=policies, the default password policy "
        "and one groupOfNames per role and per system of the role map. Safe to re-run: it only adds "
        "what is missing. With --hq-admin, also create the first HQ administrator; its generated "
        "password is written once to a 0600 file in the outbox, whose path is printed.",
    )
    init.add_argument("--hq-admin", metavar="USERNAME", help="also create this HQ administrator under ou=hq")
    init.add_argument("--name", help="the HQ administrator's real name (required with --hq-admin)")
    init.add_argument("--email", help="the HQ administrator's email")
    init.add_argument("--dry-run", action="store_true", help="print what would be created, write nothing")

    validate = command(
        "validate",
        "check the configuration, the role map and request files offline",
        "Check the configuration, the role map and the given request files without contacting the "
        "directory. Exit 1 if anything is wrong, with one line per problem.",
    )
    validate.add_argument("requests", nargs="*", metavar="REQUEST", help="request files to check")

    apply = command(
        "apply",
        "apply one request file now",
        "Validate, authorize and apply one request file now, exactly as the inbox step would: its "
        "result goes to the outbox and the file moves to the archive (passwords redacted). "
        "A file from outside the inbox is copied, not moved. "
        "Exit 0 when the request was processed, even if it was rejected: the result says why.",
    )
    apply.add_argument("request", metavar="REQUEST", help="the request file (YAML)")
    apply.add_argument("--dry-run", action="store_true",
                       help="print every change that would be made; write nothing, move nothing")
    apply.add_argument("--as-of", metavar="TIME", help="act as if it were TIME (ISO 8601), for tests and previews")
    _add_wait_option(apply)

    sync = command(
        "sync",
        "one full run: inbox, then reconcile, then the inactivity lock",
        "One run: apply the requests waiting in the inbox, bring the derived groups and account status "
        "in line with the directory, and disable accounts idle longer than inactivity.max_idle_days. "
        "Prints a summary. Exit 0 when the run completed (even with rejected requests), 2 if the "
        "directory cannot be reached, 3 if the safety brake stopped the inactivity lock.",
    )
    sync.add_argument("--dry-run", action="store_true",
                      help="print every change that would be made (entry, attribute, old → new); write nothing")
    sync.add_argument("--as-of", metavar="TIME", help="evaluate the run as if it were TIME (ISO 8601)")
    sync.add_argument("--force", action="store_true", help="lock even beyond inactivity.max_locks_per_run")
    sync.add_argument("--full", action="store_true",
                      help="reconcile everything, not only what changed since the last run")
    sync.add_argument("--only", action="append", choices=("inbox", "reconcile", "inactivity"), metavar="STEP",
                      help="run only this step (inbox, reconcile or inactivity); repeat for several")
    _add_wait_option(sync)
    _add_format_option(sync)

    lock = command(
        "lock-inactive",
        "the inactivity step alone: disable accounts idle longer than max_idle_days",
        "Disable every enabled account whose last activity (the latest of inactivity.attributes on the "
        "server and every replica, of mopEnabledAt and of createTimestamp) is older than "
        "inactivity.max_idle_days, unless exempt. If more than inactivity.max_locks_per_run would be "
        "locked, lock none and exit 3 (the safety brake); --force overrides.",
    )
    lock.add_argument("--dry-run", action="store_true", help="print who would be locked; write nothing")
    lock.add_argument("--as-of", metavar="TIME", help="as if it were TIME (ISO 8601): preview a future day's locks")
    lock.add_argument("--force", action="store_true", help="lock even beyond inactivity.max_locks_per_run")
    _add_wait_option(lock)
    _add_format_option(lock)

    daemon = command(
        "daemon",
        "run the inbox, reconcile and inactivity steps on their schedules until SIGTERM/SIGINT",
        "Run the sync steps on the cron schedules of the config's schedule section (inbox, reconcile, "
        "inactivity). Runs never overlap; a run that fails (e.g. the directory is down) is logged and "
        "the next one tries again. SIGTERM or SIGINT lets the run in progress finish, then exits 0.",
    )
    del daemon

    report = command(
        "report",
        "print a report: accounts, inactive, locked, stale or access",
        "accounts: per partner, accounts with roles and status. inactive: accounts within "
        "inactivity.warn_days of their lock or past it, with idle days and days until lock. locked: "
        "disabled accounts, reason and since when. stale: disabled for more than 90 days, or holding "
        "no role (the manual's periodic clean-up). access: each account with its roles and the systems "
        "they give it, the list a partner administrator reviews and confirms.",
    )
    report.add_argument("kind", choices=("accounts", "inactive", "locked", "stale", "access"))
    report.add_argument("--partner", metavar="CODE", help="only this partner's accounts")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table", help="default: table")
    report.add_argument("--as-of", metavar="TIME", help="as if it were TIME (ISO 8601)")

    check = command(
        "check",
        "check that the directory and mopldap's folders are set up for the lock and the delegation",
        "One line per check (ok, warn, FAIL and what to do): the schema, memberOf, the access rules loaded "
        "(an anonymous client reads nothing), the default password policy with pwdLockout and "
        "pwdCheckQuality 2, binds recorded (olcLastBind) on every server, the bind DN's size limit, "
        "the tree from init, the folders, the replicas. --probe also creates a temporary account and "
        "group under ou=services, binds as it (is the bind recorded? does the password scheme verify?) "
        "and deletes them. Exit 0 if nothing failed, 1 if a check failed, 2 if a server cannot be reached.",
    )
    check.add_argument("--probe", action="store_true", help="also write a temporary account to test what only a write can")

    acl = command(
        "acl",
        "print the access rules (olcAccess, olcLimits) for the database as LDIF",
        "Print, from the configuration and the role map, the olcAccess and olcLimits of the database "
        "holding the base DN, as LDIF to load with `ldapmodify -Y EXTERNAL -H ldapi:///`. They replace "
        "Debian's default (everyone reads everything): anonymous binds only; each account reads itself "
        "and its systems; staff read their colleagues' names; partner administrators read their partner; "
        "applications read accounts and systems; mopldap's account (ldap.bind_dn) writes the tree; HQ "
        "administrators read and write it; nobody reads a password.",
    )
    acl.add_argument("--database", metavar="DN",
                     help="the database's DN in cn=config (default: Debian's olcDatabase={1}mdb,cn=config)")
    acl.add_argument("--local-admin", metavar="DN",
                     help="who keeps manage access over ldapi (default: root, "
                          "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth)")

    request = command(
        "request",
        "where a request is: waiting in the inbox, being applied, or done (with its result)",
        "request status ID: say whether the request with this id waits in the inbox, is being applied "
        "(and since when), or is done, with its result. Exit 0 when it is found, 1 when it is unknown.",
    )
    request.add_argument("action", choices=("status",))
    request.add_argument("request_id", metavar="ID")

    serve = command(
        "serve",
        "run the console (web pages) and the JSON API for partner administrators and their staff",
        "Serve the console and the API /api/v1/ (default web.listen, 127.0.0.1:8080). People sign in "
        "with their directory password (an LDAP bind as them); reads use their own connection, writes "
        "are requests through the same pipeline as the inbox with the signed-in person as requester. "
        "TLS with web.cert_file and web.key_file; a non-loopback address without TLS is refused unless "
        "web.allow_insecure. SIGTERM or Ctrl-C stops it.",
    )
    serve.add_argument("--listen", metavar="HOST:PORT", help="where to listen (default: web.listen)")

    notify = command(
        "notify",
        "the mails: preview a template with sample data, or send a sample to check the mail server",
        "notify preview KIND: print the mail of KIND (warning, locked, digest) rendered with sample data, "
        "plain text and HTML, from the shipped templates or those of notify.templates. "
        "notify test ADDRESS: send a sample warning to ADDRESS through notify.smtp "
        "(exit 2 with one line if the server, TLS or the login fails).",
    )
    notify.add_argument("action", choices=("preview", "test"))
    notify.add_argument("target", metavar="KIND|ADDRESS", help="warning, locked, digest, hq-digest or result; or a mail address")
    notify.add_argument("--language", choices=("zh", "en"), help="default: notify.language")

    dev = command(
        "dev-server",
        "run the embedded OpenLDAP (Debian's slapd) for trying mopldap out",
        "Start Debian's slapd with mopldap's schema and server settings, on the loopback port of "
        "ldap.url, with its data in dev_server.data_dir (kept across restarts). The first start "
        "creates the root DN cn=admin,<base DN> and writes its password to admin.password there.",
    )
    dev.add_argument("action", nargs="?", choices=("start", "stop", "status"), default="start",
                     help="start (default), stop, or status")
    dev.add_argument("--foreground", action="store_true", help="stay in the foreground; Ctrl-C stops the server")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mopldap` command; returns the exit code."""
    # pydantic plugins would see every value mopldap validates, passwords in requests included;
    # looking for them also reads the metadata of every installed package (10 ms of start-up)
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    parser = build_parser()
    args = parser.parse_args(argv)
    configure()
    try:
        return _dispatch(args)
    except MopldapError as exc:
        for line in getattr(exc, "problems", None) or [exc.message]:
            print(f"mopldap: {line}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("mopldap: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from .model.config import config_path, load_config, load_settings

    path = config_path(args.config)
    if args.command == "validate":
        from .runs.validate import run_validate

        return run_validate(path, [Path(p) for p in args.requests])
    if args.command == "dev-server":
        config = load_config(path)
        configure(config.logging.format, config.logging.level)
        from .runs.devserver import run_dev_server

        return run_dev_server(config, args.action, args.foreground)
    if args.command == "check":  # it checks the files themselves, every time
        config, rolemap = load_settings(path)
    else:
        from .files.checked import load_checked

        config, rolemap = load_checked(path)
    configure(config.logging.format, config.logging.level)
    if args.command == "init":
        from .runs.init import run_init

        if args.hq_admin and not args.name:
            raise ConfigError("init: --hq-admin needs --name (the administrator's real name)")
        if (args.name or args.email) and not args.hq_admin:
            raise ConfigError("init: --name and --email go with --hq-admin USERNAME")
        return run_init(config, rolemap, args.hq_admin, args.name, args.email, args.dry_run)
    if args.command == "acl":
        from .runs.acl import run_acl

        return run_acl(config, rolemap, args.database, args.local_admin)
    if args.command == "check":
        from .runs.check import run_check

        return run_check(config, rolemap, args.probe)
    if args.command == "request":
        from .runs.status import run_request_status

        return run_request_status(config, args.request_id)
    if args.command == "notify":
        from .runs.notify import run_preview, run_test_mail

        if args.action == "preview":
            from .notify.messages import KINDS

            if args.target not in KINDS:
                raise ConfigError(f"notify preview: '{args.target}' is not a kind of mail: {', '.join(KINDS)}")
            return run_preview(config, args.target, args.language)
        return run_test_mail(config, args.target, args.language)
    if args.command == "serve":
        from .web.server import serve

        return serve(config, rolemap, args.listen)
    if args.command == "daemon":
        from .runs.daemon import run_daemon

        return run_daemon(config, rolemap)
    from .model.times import parse_as_of

    try:
        moment = parse_as_of(args.as_of)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.command != "report" and not args.dry_run and moment > parse_as_of(None) + FUTURE_TOLERANCE:
        raise ConfigError(f"--as-of {args.as_of} is in the future: a run would write future times (mopDisabledAt, "
                          "mopEnabledAt); preview it with --dry-run")
    if args.command == "report":
        from .runs.reports import run_report

        return run_report(config, rolemap, args.kind, args.partner, args.format, args.as_of)
    from .runs.sync import run_apply, run_sync

    if args.command == "apply":
        return run_apply(config, rolemap, Path(args.request), args.dry_run, args.as_of, wait=args.wait)
    if args.command == "lock-inactive":
        return run_sync(config, rolemap, args.dry_run, args.as_of, args.force, steps=(False, False, True),
                        label="lock-inactive", wait=args.wait, fmt=args.format)
    steps = tuple(not args.only or step in args.only for step in ("inbox", "reconcile", "inactivity"))
    return run_sync(config, rolemap, args.dry_run, args.as_of, args.force, steps=steps, full=args.full,
                    wait=args.wait, fmt=args.format, when_due=not args.only and not args.force)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
