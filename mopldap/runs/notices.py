"""Mail about the inactivity lock (SPEC, Notifications): the warnings due, the daily digests to the
administrators, the lock notices. Each is recorded in the directory once the mail server accepted
it (`mopWarnedAt` on the account, `mopDigestAt` on the administrator), so that a rerun, a restart,
an --as-of replay or a second daemon sends it once; plan/notices.py says when each is due.

A mail is recorded right after the server accepted it: killed in between, the next run sends that
one mail again (a duplicate rather than a lock without a warning). The audit file gets one line per
mail (kind, recipient, account), never its text.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ldap3.utils.conv import escape_filter_chars

from ..ldap.accounts import by_uid, iter_accounts
from ..logs import get_logger
from ..model.change import Change, Modification
from ..model.entry import Entry
from ..model.config import SmtpConfig
from ..model.errors import ConfigError
from ..model.schema import ACCOUNT_FILTER, LOCKED_FILTER, RESET_FILTER
from ..model.times import format_time, parse_time
from ..notify.mailer import Disconnected, Mailer, MailError, RecipientRefused
from ..notify.messages import Mail, Templates
from ..plan.inactivity import IdleAccount
from ..plan.notices import (
    DAY,
    announced_lock,
    digest_due,
    language_of,
    lock_allowed,
    mail_address,
    notice_due,
    warned_since,
    warning_due,
)
from .runtime import Runtime

log = get_logger(__name__)

NOTICE_WINDOW = dt.timedelta(days=7)
"""How far back lock notices not yet sent are looked for (and locks listed in a first digest)."""
PARTNER_SEARCHES = 100
"""Up to this many partners, their entries and administrators are read partner by partner; beyond,
with one search of every partner administrator."""
ADMINS_NAMED = 5
"""A warning or lock notice names at most this many administrators to ask."""


@dataclass(frozen=True)
class Reader:
    """Someone a mail goes to, or is about: an account's name, address and language."""

    dn: str
    username: str
    name: str
    mail: str | None
    language: str
    digest_at: dt.datetime | None = None

    def card(self) -> dict[str, str]:
        return {"name": self.name, "mail": self.mail or "", "username": self.username}


@dataclass
class Company:
    """A partner (code None: HQ) as the mails name it, with the administrators to ask."""

    code: str | None
    name: str
    admins: list[Reader] = field(default_factory=list)

    @property
    def reachable(self) -> list[Reader]:
        return [admin for admin in self.admins if admin.mail]

    def named(self) -> list[dict[str, str]]:
        """The administrators a person is told to ask (the first ADMINS_NAMED with an address)."""
        return [admin.card() for admin in self.reachable[:ADMINS_NAMED]]


@dataclass
class MailCounts:
    """What the mail did in one inactivity run (for the summary)."""

    warnings: int = 0
    notices: int = 0
    digests: int = 0
    results: int = 0  # request results mailed to their requesters
    listed: int = 0  # accounts without a usable address, warned through their administrators' digest
    waiting: int = 0  # locks due, warned less than notify.min_warning_days ago
    unwarned: list[str] = field(default_factory=list)  # locks due, no warning delivered
    refused: list[str] = field(default_factory=list)  # addresses the mail server refused for good
    unrecorded: int = 0  # mails sent whose record could not be written (the next run may send them again)
    problems: list[str] = field(default_factory=list)  # templates that did not render (mopldap notify preview)
    error: str | None = None  # the mail server could not be used

    def line(self, dry_run: bool = False) -> str:
        verb = "would send" if dry_run else "sent"
        text = f"mail: {verb} {self.warnings} warnings, {self.notices} lock notices, {self.digests} digests"
        if self.listed:
            text += f"; {self.listed} without mail listed for their administrators"
        if self.waiting:
            text += f"; {self.waiting} locks wait for their warning to age (notify.min_warning_days)"
        if self.unwarned:
            text += f"; {len(self.unwarned)} locks wait: no warning delivered"
        if self.refused:
            text += f"; {len(self.refused)} addresses refused"
        if self.unrecorded:
            text += f"; {self.unrecorded} sent but not recorded"
        for problem in self.problems:
            text += f"; FAILED: {problem}"
        if self.error:
            text += f"; FAILED: {self.error}"
        return text

    def data(self) -> dict:
        return {"warnings": self.warnings, "lock_notices": self.notices, "digests": self.digests,
                "listed_in_digest": self.listed, "locks_waiting": self.waiting, "locks_unwarned": self.unwarned,
                "refused": self.refused, "unrecorded": self.unrecorded, "template_problems": self.problems,
                "error": self.error}


class Mailroom:
    """Renders, sends (or, in a dry run, prints) and records the mails of one run."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.config = rt.config.notify
        self.templates = Templates(self.config)
        self.counts = MailCounts()
        self._mailer: Mailer | None = None
        self._companies: dict[str | None, Company] = {}

    def sent_at(self) -> dt.datetime:
        """The time a mail the server just accepted is recorded with: the clock's, not --as-of's (a
        replay of an earlier day must not record a warning as older than it is), except in a dry run."""
        return self.rt.now if self.rt.dry_run else dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    def render(self, kind: str, lang: str, to: str, **context: object) -> Mail | None:
        """The mail, or None (counted, logged once per template) if a customer's template does not
        render: that one mail is not sent; the others still are."""
        try:
            return self.templates.render(kind, lang, to, **context)
        except ConfigError as exc:
            if exc.message not in self.counts.problems:
                self.counts.problems.append(exc.message)
                log.error("mail_template_failed", error=exc.message, fix="mopldap notify preview " + kind)
            return None

    def close(self) -> None:
        if self._mailer is not None:
            self._mailer.__exit__(None, None, None)
            self._mailer = None

    # -- sending -------------------------------------------------------------------------

    def send(self, mail: Mail, about: Sequence[str]) -> bool | None:
        """Send `mail` (about the accounts `about`): True if the server accepted it, False if it could
        not take it now (the server is down: the rest of the run sends nothing), None if it refused the
        address for good."""
        rt = self.rt
        if rt.dry_run:
            print(f"would mail {mail.kind} to {mail.to} about {', '.join(about)}\n  Subject: {mail.subject}\n"
                  + "".join(f"  | {line}\n" for line in mail.text.rstrip("\n").splitlines()), end="")
            return True
        if self.counts.error is not None:
            return False
        smtp = self.config.smtp
        assert smtp is not None
        try:
            try:
                self._connected(smtp).send(mail.message(smtp.sender))
            except Disconnected:  # an idle connection closed, or a per-connection cap: once more on a new one
                self.close()
                self._connected(smtp).send(mail.message(smtp.sender))
        except RecipientRefused as exc:
            rt.audit.write("mail", run_id=rt.run_id, kind=mail.kind, recipient=mail.to, accounts=list(about),
                           result="refused", error=exc.message)
            log.warning("mail_refused", kind=mail.kind, recipient=mail.to, error=exc.message, permanent=exc.permanent)
            if exc.permanent:
                self.counts.refused.append(mail.to)
                return None
            return False
        except MailError as exc:
            self.counts.error = exc.message
            log.error("mail_unavailable", error=exc.message, why="locks wait until the warnings can be sent")
            self.close()
            return False
        rt.audit.write("mail", run_id=rt.run_id, kind=mail.kind, recipient=mail.to, accounts=list(about),
                       result="sent")
        log.info("mail_sent", kind=mail.kind, recipient=mail.to, accounts=list(about))
        return True

    def _connected(self, smtp: SmtpConfig) -> Mailer:
        if self._mailer is None:
            self._mailer = Mailer(smtp).__enter__()
        return self._mailer

    def record(self, dn: str, attribute: str, old: dt.datetime | None, when: dt.datetime, operation: str,
               reason: str) -> bool:
        """Keep in the directory that a mail went out at `when`; False (counted, logged) if that
        could not be written. Nothing is written in a dry run."""
        if self.rt.dry_run:
            return True
        change = Change("modify", dn, (Modification(attribute, "replace", (format_time(when),)),),
                        {attribute: (format_time(old),) if old else ()}, operation=operation, reason=reason)
        outcome = self.rt.executor().execute([change])
        if outcome.errors:
            self.counts.unrecorded += 1
            log.error("mail_not_recorded", dn=dn, attribute=attribute, error=outcome.errors[0],
                      why="the mail went out; the next run may send it again")
            return False
        return True

    # -- who to ask ----------------------------------------------------------------------

    def companies(self, codes: Iterable[str | None]) -> dict[str | None, Company]:
        """The partners (and HQ, code None) of `codes` with their enabled administrators: one search per
        partner, or one of every partner administrator beyond PARTNER_SEARCHES partners."""
        wanted = {code for code in codes if code not in self._companies}
        if wanted:
            self._read_companies(wanted)
        return self._companies

    def _read_companies(self, codes: set[str | None]) -> None:
        rt, layout, rolemap = self.rt, self.rt.layout, self.rt.rolemap
        attrs = ("ou", "mopPartnerName", "uid", "cn", "displayName", "mail", "preferredLanguage", "mopDigestAt")

        def admins_filter(roles: Iterable[str]) -> str:
            groups = "".join(f"(memberOf={escape_filter_chars(layout.role(r))})" for r in sorted(roles))
            return f"(&{ACCOUNT_FILTER}(!{LOCKED_FILTER})(|{groups or '(objectClass=mopNoRole)'}))"

        partner_admins = admins_filter(rolemap.admin_roles - rolemap.hq_roles)
        found: list[Entry] = []
        partners = sorted(code for code in codes if code is not None)  # one search each, or one of all:
        if len(partners) <= PARTNER_SEARCHES:
            for code in partners:
                found += rt.directory.search(layout.partner(code), f"(|(objectClass=mopPartner){partner_admins})", attrs)
        else:
            found += rt.directory.search(layout.partners, f"(|(objectClass=mopPartner){partner_admins})", attrs)
        fresh = {code: Company(code, "HQ" if code is None else code) for code in codes}
        if None in codes:
            found += rt.directory.search(layout.hq, admins_filter(rolemap.hq_roles), attrs)
        seen: set[str] = set()
        for entry in found:  # only the companies of `codes`: the one search of every partner holds others
            if entry.first("uid") is None:  # a partner's OU
                code = entry.first("ou")
                if code in fresh:
                    fresh[code].name = entry.first("mopPartnerName") or code
                continue
            code = layout.partner_of(entry.dn)
            if code in fresh and entry.dn.lower() not in seen:
                seen.add(entry.dn.lower())
                fresh[code].admins.append(self.reader(entry))
        for company in fresh.values():
            company.admins.sort(key=lambda admin: admin.username)
        self._companies |= fresh

    def reader(self, entry: Entry) -> Reader:
        username = entry.first("uid") or ""
        return Reader(entry.dn, username, entry.first("displayName") or entry.first("cn") or username,
                      mail_address(entry.get("mail")), language_of(entry.get("preferredLanguage"), self.config.language),
                      parse_time(entry.first("mopDigestAt") or ""))

    def person(self, account: IdleAccount) -> Reader:
        state = account.state
        profile = state.profile_map
        name = (profile.get("displayName") or profile.get("cn") or (state.username,))[0]
        return Reader(state.dn, state.username, name, mail_address(profile.get("mail", ())),
                      language_of(account.languages, self.config.language))

    def _card(self, who: Reader, company: Company) -> dict[str, str | None]:
        return {**who.card(), "partner": company.code, "partner_name": company.name}

    # -- the three kinds of mail -----------------------------------------------------------

    def warn(self, accounts: Sequence[IdleAccount], max_idle_days: int) -> list[IdleAccount]:
        """Send the warnings due to `accounts` (idle, in the warning window or past it) and record
        each; return the accounts due a warning that have no usable address (for the digest)."""
        config, now = self.config, self.rt.now
        due = [a for a in accounts
               if warning_due(a.last, a.warned, now, config.warn_days, max_idle_days, config.min_warning_days)]
        companies = self.companies({a.state.partner for a in due})
        unmailed = []
        for account in due:
            person, company = self.person(account), companies[account.state.partner]
            if person.mail is None:
                unmailed.append(account)
                continue
            when = self.sent_at()
            lock_at = announced_lock(account.last, max_idle_days, when, config.min_warning_days)
            mail = self.render("warning", person.language, person.mail, person=self._card(person, company),
                               admins=company.named(), lock_at=lock_at, last_login=account.last,
                               days_left=max(1, (lock_at - when + DAY - dt.timedelta(seconds=1)) // DAY))
            sent = self.send(mail, [account.state.dn]) if mail is not None else False
            if sent:
                self.counts.warnings += 1
                accepted = self.sent_at()  # after the send: never earlier than the mail really went
                if self.record(account.state.dn, "mopWarnedAt", account.warned, accepted, "mail-warning",
                               f"inactivity warning mailed to {person.mail}: locked from {format_time(lock_at)} "
                               "unless the person signs in"):
                    account.warned = accepted
            elif sent is None:
                unmailed.append(account)
        return unmailed

    def gate(self, to_lock: Sequence[IdleAccount]) -> list[IdleAccount]:
        """The accounts of `to_lock` that may be locked now: warned long enough ago (SPEC: no lock
        without a warning). Count the others."""
        allowed = []
        for account in to_lock:
            if lock_allowed(account.last, account.warned, self.rt.now, self.config.min_warning_days):
                allowed.append(account)
            elif account.warned is not None and account.last is not None and account.warned >= account.last:
                self.counts.waiting += 1
            else:
                self.counts.unwarned.append(account.state.dn)
        if self.counts.unwarned:
            log.warning("locks_wait_for_warning", accounts=len(self.counts.unwarned), first=self.counts.unwarned[:20],
                        mail_error=self.counts.error)
        return allowed

    def notify_locks(self, planned: Sequence[IdleAccount]) -> None:
        """Send the lock notices due: to every account locked for inactivity in the last NOTICE_WINDOW
        that has an address and was not told yet (a filtered search: this run's locks and any notice a
        failed mail server left), or, in a dry run, to the accounts this run would lock."""
        rt = self.rt
        since = format_time(rt.now - NOTICE_WINDOW)
        query = (f"(&{ACCOUNT_FILTER}{LOCKED_FILTER}(mopDisabledReason=inactivity)(mopDisabledAt>={since})"
                 "(mail=*))")
        attrs = ("uid", "cn", "displayName", "mail", "preferredLanguage", "mopWarnedAt", "mopDisabledAt",
                 "pwdLastSuccess", "mopLastLogon")
        pending: list[tuple[Reader, str | None, dt.datetime, dt.datetime | None]] = []
        for entry in iter_accounts(rt.directory, rt.layout, query, attrs):
            locked_at = parse_time(entry.first("mopDisabledAt") or "")
            warned = parse_time(entry.first("mopWarnedAt") or "")
            if locked_at is not None and notice_due(locked_at, warned):
                pending.append((self.reader(entry), rt.layout.partner_of(entry.dn), locked_at, warned))
        if rt.dry_run:
            pending += [(self.person(a), a.state.partner, rt.now, None) for a in planned]
        companies = self.companies({code for _, code, _, _ in pending})
        for person, code, locked_at, warned in pending:
            if person.mail is None:
                continue
            company = companies[code]
            mail = self.render("locked", person.language, person.mail, person=self._card(person, company),
                               admins=company.named(), locked_at=locked_at)
            if mail is not None and self.send(mail, [person.dn]):
                self.counts.notices += 1
                self.record(person.dn, "mopWarnedAt", warned, self.sent_at(), "mail-locked",
                            f"lock notice mailed to {person.mail}")

    def digests(self, soon: Sequence[IdleAccount], unmailed: Sequence[IdleAccount], max_idle_days: int) -> None:
        """Send each administrator whose digest is due today the digest of their partner (HQ: of every
        partner): the accounts to be locked within inactivity.warn_days, those locked since their last
        digest, those still on a password set for them after notify.first_password_days. An account
        of `unmailed` listed in a digest the server accepted counts as warned."""
        rt, config = self.rt, self.config
        horizon = rt.now + rt.config.inactivity.warn_days * DAY
        by_partner: dict[str | None, dict[str, list]] = defaultdict(lambda: {"soon": [], "locked": [], "first_password": []})
        warn_by_digest = {a.state.dn for a in unmailed}
        for account in soon:
            told = warned_since(account.last, account.warned) or rt.now
            lock_at = announced_lock(account.last, max_idle_days, told, config.min_warning_days)
            if lock_at <= horizon or account.state.dn in warn_by_digest:
                person = self.person(account)
                by_partner[account.state.partner]["soon"].append(
                    {**person.card(), "lock_at": lock_at, "has_mail": person.mail is not None, "dn": person.dn,
                     "warned": account.warned})
        for entry, when in self._recent_locks():
            person = self.reader(entry)
            by_partner[rt.layout.partner_of(entry.dn)]["locked"].append({**person.card(), "locked_at": when})
        for entry, when in self._first_passwords():
            person = self.reader(entry)
            by_partner[rt.layout.partner_of(entry.dn)]["first_password"].append({**person.card(), "since": when})
        if not by_partner:
            return
        companies = self.companies([*by_partner, None])
        listed: set[str] = set()
        orphans: list[dict] = []  # partners none of whose administrators can be reached by mail
        for code, content in sorted(by_partner.items(), key=lambda item: item[0] or ""):
            company = companies[code]
            if code is not None and not company.reachable:
                orphans.append({"partner": code, "partner_name": company.name, **content})
                continue
            if code is None:
                continue  # HQ's own accounts: in the HQ digest
            about = [item["dn"] for item in content["soon"]]
            if self._digest(company, "digest", about, partner=code, partner_name=company.name, **content):
                listed |= set(about)
            elif all(admin.mail in self.counts.refused for admin in company.reachable):
                orphans.append({"partner": code, "partner_name": company.name, **content})  # every address refused
        hq = companies[None]
        own = by_partner.get(None, {"soon": [], "locked": [], "first_password": []})
        if orphans or any(own.values()):  # HQ hears of the partners nobody could be told about
            day = rt.now - DAY  # HQ's digest counts the locks of the last day
            summary = [{"partner": code, "partner_name": companies[code].name, "soon": len(content["soon"]),
                        "locked": sum(item["locked_at"] > day for item in content["locked"]),
                        "first_password": len(content["first_password"])}
                       for code, content in sorted(by_partner.items(), key=lambda item: item[0] or "") if code]
            about = [item["dn"] for part in [*orphans, own] for item in part["soon"]]
            if self._digest(hq, "hq-digest", about, partners=summary, orphans=orphans, own=own):
                listed |= set(about)
        when = self.sent_at()  # after the digests went
        for account in unmailed:
            if account.state.dn in listed:
                self.counts.listed += 1
                if self.record(account.state.dn, "mopWarnedAt", account.warned, when, "digest-warning",
                               "listed, without a usable mail address, in the digest to its administrators"):
                    account.warned = when

    def _digest(self, company: Company, kind: str, about: list[str], **context: object) -> bool:
        """Send `company`'s digest (listing the accounts `about` as to be locked) to each administrator
        due one today; True if at least one took it in this run."""
        rt = self.rt
        delivered = False
        for admin in company.reachable:
            if not digest_due(admin.digest_at, rt.now, self.config.timezone):
                continue
            assert admin.mail is not None
            since = admin.digest_at or rt.now - DAY  # "disabled since your last digest"
            locked = [item for item in context.get("locked", []) if item["locked_at"] > since]  # type: ignore[attr-defined]
            mail = self.render(kind, admin.language, admin.mail, admin=admin.card(),
                               first_password_days=self.config.first_password_days, **{**context, "locked": locked})
            if mail is not None and self.send(mail, about[:50]):
                self.counts.digests += 1
                delivered = True
                self.record(admin.dn, "mopDigestAt", admin.digest_at, self.sent_at(), "mail-digest",
                            f"daily digest mailed to {admin.mail}")
        return delivered

    def _recent_locks(self) -> Iterable[tuple[Entry, dt.datetime]]:
        """The accounts locked for inactivity in the last NOTICE_WINDOW (a filtered search): each
        administrator's digest lists those locked since their last one."""
        rt = self.rt
        since = format_time(rt.now - NOTICE_WINDOW)
        query = f"(&{ACCOUNT_FILTER}{LOCKED_FILTER}(mopDisabledReason=inactivity)(mopDisabledAt>={since}))"
        for entry in iter_accounts(rt.directory, rt.layout, query, ("uid", "cn", "displayName", "mail", "mopDisabledAt")):
            when = parse_time(entry.first("mopDisabledAt") or "")
            if when is not None and when <= rt.now:
                yield entry, when

    def _first_passwords(self) -> Iterable[tuple[Entry, dt.datetime]]:
        """Enabled accounts still on the password set for them after notify.first_password_days."""
        rt = self.rt
        before = format_time(rt.now - self.config.first_password_days * DAY)
        query = (f"(&{ACCOUNT_FILTER}(!{LOCKED_FILTER}){RESET_FILTER}"
                 f"(|(pwdChangedTime<={before})(&(!(pwdChangedTime=*))(createTimestamp<={before}))))")
        for entry in iter_accounts(rt.directory, rt.layout, query,
                                   ("uid", "cn", "displayName", "mail", "pwdChangedTime", "createTimestamp")):
            when = parse_time(entry.first("pwdChangedTime") or entry.first("createTimestamp") or "")
            if when is not None:
                yield entry, when


def mail_results(rt: Runtime, results: Iterable[dict]) -> MailCounts:
    """Mail each result of an inbox request to its requester (notify.request_results): the result
    document's status and per-operation outcome, never a password (those stay in the outbox).
    The result file is the record; a mail the server could not take is logged, not retried."""
    results = [r for r in results if r.get("requested_by")]
    room = Mailroom(rt)
    try:
        attrs = ("uid", "cn", "displayName", "mail", "preferredLanguage")
        found = {entry.dn.lower(): entry for entry in by_uid(rt.directory, rt.layout.base_dn,
                                                             {r["requested_by"] for r in results}, attrs)}
        for result in results:
            entry = next((found[dn] for dn in (rt.layout.account(result["requested_by"], result.get("partner")).lower(),
                                               rt.layout.account(result["requested_by"], None).lower())
                          if dn in found), None)
            requester = room.reader(entry) if entry is not None else None
            if requester is None or requester.mail is None:
                continue
            mail = room.render("result", requester.language, requester.mail, requester=requester.card(),
                               request={k: v for k, v in result.items() if k != "secrets"}, processed_at=rt.now)
            if mail is not None and room.send(mail, [entry.dn]):
                room.counts.results += 1
    finally:
        room.close()
    return room.counts
