"""`mopldap check [--probe]`: is the directory (and are mopldap's folders) set up so that the lock,
the derived groups and the delegation actually work? One line per check: ok, warn or FAIL, with
what to do. Exit 0 when nothing failed, 1 when a check failed, 2 when a server cannot be reached.

With --probe, a temporary account and group under ou=services show what only a write can:
memberOf follows a group, a bind is recorded, the password scheme verifies.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ldap3.utils.conv import escape_filter_chars

from ..files.folders import folder_problem
from ..ldap.directory import ONELEVEL, Directory, WriteError, connect_replica
from ..model.config import Config, ReplicaConfig
from ..model.errors import DirectoryError, MopldapError
from ..model.layout import Layout, normalize_dn
from ..model.passwords import generate, hash_password
from ..model.rolemap import RoleMap
from ..model.times import parse_time
from ..plan.init import plan_init
from .inactivity import logins_since
from ..notify.mailer import Mailer, MailError
from ..plan.notices import RECORDS, UPGRADE
from .init import read_tree
from .runtime import trusted_folders

MOP_CLASSES = ("mopaccount", "moppartner")
MOP_ATTRIBUTES = ("mopaccountstatus", "mopdisabledreason", "mopdisabledat", "mopenabledat", "moplastlogon",
                  "mopinactivityexempt", "mopusertype", "moppartnername", "moppartnerstatus")
UPGRADED_ATTRIBUTES = {a.lower(): UPGRADE for a in RECORDS}
"""Attributes added after the first schema, and the upgrade LDIF that adds them to an older one."""

def context_csns(directory: Directory, base_dn: str) -> dict[str, str]:
    """The contextCSN values of the base entry, by server id (what a syncrepl copy has caught up to)."""
    entry = directory.read(base_dn, ("contextCSN",))
    csns = {}
    for value in entry.get("contextCSN") if entry else []:
        parts = value.split("#")
        if len(parts) == 4:
            csns[parts[2]] = value
    return csns


FIXES = {
    "schema": "load it: ldapadd -Y EXTERNAL -H ldapi:/// -f schema/mop.ldif (README, Installing)",
    "replication": "see README, Replication (config/replication/*.ldif); a consumer catches up within "
                   "seconds of a change unless it cannot reach the provider",
    "memberof": "load schema/modules.ldif and schema/server.ldif (the memberof overlay)",
    "policy": "run `mopldap init` (it creates cn=default,ou=policies with pwdLockout: TRUE), or set "
              "pwdLockout: TRUE on it: without it slapd ignores pwdAccountLockedTime",
    "quality": "set pwdCheckQuality: 2 on it (then only mopldap, a password administrator in the access "
               "rules, may store pre-hashed passwords)",
    "lastbind": "set olcLastBind: TRUE on the database (schema/server.ldif): without it nothing records "
                "logins and the inactivity step refuses to lock",
    "scheme": "load the module that verifies it (pw-sha2 for {SSHA512}, argon2 for {ARGON2}) or change "
              "passwords.scheme",
    "sizelimit": "give the bind DN an olcLimits without a size limit (`mopldap acl` prints one)",
    "tree": "run `mopldap init`",
    "acl": "load the access rules: mopldap acl | sudo ldapmodify -Y EXTERNAL -H ldapi:/// (README, Installing)",
}


@dataclass
class Line:
    level: str  # ok | warn | FAIL
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.level:<4} {self.what}: {self.detail}"


class Checker:
    def __init__(self, config: Config, rolemap: RoleMap, probe: bool) -> None:
        self.config = config
        self.rolemap = rolemap
        self.probe = probe
        self.layout = Layout(config.ldap.base_dn)
        self.lines: list[Line] = []
        self.unreachable = False

    def add(self, level: str, what: str, detail: str, fix: str | None = None) -> None:
        self.lines.append(Line(level, what, detail + (f" — {FIXES[fix]}" if fix else "")))

    def run(self) -> list[Line]:
        config = self.config
        self.folders()
        self.mail()
        directory, reference = None, None
        for url in config.ldap.providers:  # the full checks on the first that answers
            directory = self.connect(url, "provider" if len(config.ldap.providers) == 1 else f"provider {url}")
            if directory is not None:
                reference = url
                break
        if directory is None:
            return self.lines
        with directory:
            self.schema(directory)
            self.tree(directory)
            self.anonymous_access()
            self.policy(directory)
            self.memberof(directory)
            self.size_limit(directory)
            self.recorded_logins(directory, "provider")
            provider_csns = context_csns(directory, self.layout.base_dn)
            if self.probe:
                self.probe_account(directory)
            else:
                self.add("warn", "password scheme", f"{config.passwords.scheme}: verified only with --probe")
        for url in config.ldap.providers[config.ldap.providers.index(reference) + 1:]:  # the other providers
            other = self.connect(url, f"provider {url}")
            if other is not None:
                with other:
                    self.schema(other, f"provider {url}")
                    self.recorded_logins(other, f"provider {url}")
                    self.caught_up(provider_csns, context_csns(other, self.layout.base_dn), url)
        for settings in config.ldap.replicas:
            replica = self.connect(settings.url, f"replica {settings.url}", settings)
            if replica is not None:
                with replica:
                    self.schema(replica, f"replica {settings.url}")
                    self.recorded_logins(replica, f"replica {settings.url}")
                    self.caught_up(provider_csns, context_csns(replica, self.layout.base_dn), settings.url)
        return self.lines

    # -- the checks ------------------------------------------------------------------

    def mail(self) -> None:
        """The mail server the warnings go through: with it down, no account is locked."""
        smtp = self.config.notify.smtp
        if smtp is None:
            self.add("warn", "mail", "notify.smtp is not set: nobody is warned before the inactivity lock")
            return
        try:
            with Mailer(smtp):
                pass
        except MailError as exc:
            self.add("FAIL", "mail", f"{exc.message}; inactivity locks wait until the warnings can be sent")
        else:
            self.add("ok", "mail", f"mail server {smtp.host}:{smtp.port} ({smtp.security}) takes mail")

    def connect(self, url: str, what: str, replica: ReplicaConfig | None = None) -> Directory | None:
        try:
            directory = (connect_replica(self.config.ldap, replica) if replica is not None
                         else Directory(self.config.ldap, url=url).connect())
        except DirectoryError as exc:
            self.unreachable = True
            self.add("FAIL", what, exc.message)
            return None
        self.add("ok", what, f"{url}: bound as {directory.bind_dn}")
        return directory

    def folders(self) -> None:
        problems = [why for what, path in trusted_folders(self.config).items() if (why := folder_problem(path, what))]
        if problems:
            for why in problems:
                self.add("FAIL", "folders", why)
        else:
            self.add("ok", "folders", "inbox, outbox, archive, work, state and audit folders: owner-only")

    def schema(self, directory: Directory, where: str = "") -> None:
        """mopldap's schema on the server (`where`: a replica or another provider, else the first)."""
        what = f"schema on {where}" if where else "schema"
        classes, attributes = directory.schema_names("objectClasses"), directory.known_attributes()
        missing = [c for c in MOP_CLASSES if c not in classes] + [a for a in MOP_ATTRIBUTES if a not in attributes]
        upgrades = sorted({path for a, path in UPGRADED_ATTRIBUTES.items() if a not in attributes})
        if missing:
            self.add("FAIL", what, f"missing {', '.join(missing)}", "schema")
        elif upgrades:
            names = ", ".join(a for a in UPGRADED_ATTRIBUTES if a not in attributes)
            self.add("FAIL", what, f"an earlier mopldap schema: missing {names} — upgrade it: "
                     f"ldapmodify -Y EXTERNAL -H ldapi:/// -f {upgrades[0]} (README, Upgrading the schema)")
        elif not where:
            self.add("ok", what, "mopAccount, mopPartner and their attributes")

    def tree(self, directory: Directory) -> None:
        """What `mopldap init` would still add (read as init reads it: a few searches, no members)."""
        plan = plan_init(self.layout, self.rolemap, read_tree(directory, self.layout))
        missing = [change.dn for change in plan if change.action == "add"]
        if missing:
            self.add("FAIL", "tree", f"{len(missing)} entries missing, e.g. {missing[0]}", "tree")
        else:
            groups = len(self.rolemap.roles) + len(self.rolemap.systems)
            self.add("ok", "tree", f"the containers and the {groups} role and system groups")

    def anonymous_access(self) -> None:
        """Debian's default access lets anyone read every entry: have the rules been loaded?"""
        layout = self.layout
        try:
            with Directory(self.config.ldap, anonymous=True).connect() as anonymous:
                seen = [base for base in (layout.partners, layout.hq, layout.roles, layout.systems)
                        if anonymous.any(base, "(objectClass=*)")]
        except DirectoryError:
            self.add("ok", "access rules", "anonymous binds are refused")
            return
        if seen:
            self.add("FAIL", "access rules", f"an anonymous client reads {seen[0]} and what is below it", "acl")
        else:
            self.add("ok", "access rules", "an anonymous client reads no account and no group")

    def policy(self, directory: Directory) -> None:
        layout = self.layout
        entry = directory.read(layout.default_policy, ("pwdLockout", "pwdAttribute", "pwdCheckQuality"))
        if entry is None:
            self.add("FAIL", "password policy", f"no {layout.default_policy}", "policy")
        elif entry.first("pwdLockout") != "TRUE":
            self.add("FAIL", "password policy", f"{layout.default_policy} has pwdLockout "
                     f"{entry.first('pwdLockout') or '(none)'}: locked accounts could still bind", "policy")
        elif entry.first("pwdCheckQuality") != "2":
            self.add("FAIL", "password policy", f"{layout.default_policy} has pwdCheckQuality "
                     f"{entry.first('pwdCheckQuality') or '(none)'}: a person can store a pre-hashed password "
                     "the policy cannot check", "quality")
        else:
            self.add("ok", "password policy", f"{layout.default_policy}, pwdLockout: TRUE, pwdCheckQuality: 2")

    def memberof(self, directory: Directory) -> None:
        if "memberof" not in directory.known_attributes():
            self.add("FAIL", "memberOf", "the schema has no memberOf", "memberof")
            return
        layout = self.layout
        placeholder = escape_filter_chars(layout.placeholder)
        for group in directory.search(layout.roles, f"(&(objectClass=groupOfNames)(!(member={placeholder})))",
                                      ("member",), scope=ONELEVEL):
            member = group.first("member")
            entry = directory.read(member, ("memberOf",)) if member else None
            if entry is None:
                continue
            if normalize_dn(group.dn) in {normalize_dn(g) for g in entry.get("memberOf")}:
                self.add("ok", "memberOf", f"{member} carries memberOf: {group.dn}")
            else:
                self.add("FAIL", "memberOf", f"{member} is a member of {group.dn} but has no memberOf for it",
                         "memberof")
            return
        if not self.probe:
            self.add("warn", "memberOf", "no role group has a member to look at: run with --probe")

    def size_limit(self, directory: Directory) -> None:
        """A paged search past 500 entries (Debian's olcSizeLimit): mopldap reads more at once."""
        layout = self.layout
        count = 0
        try:
            for _ in directory.search(layout.base_dn, "(objectClass=*)", ("1.1",), page_size=100):
                count += 1
                if count > 500:
                    break
        except DirectoryError as exc:
            if "sizeLimitExceeded" in exc.message or "size limit" in exc.message.lower():
                self.add("FAIL", "size limit", f"{self.config.ldap.bind_dn} stops after {count} entries", "sizelimit")
                return
            raise
        if count > 500:
            self.add("ok", "size limit", f"{self.config.ldap.bind_dn} reads past 500 entries")
        else:
            self.add("warn", "size limit", f"only {count} entries: cannot tell whether {self.config.ldap.bind_dn} "
                     "is capped at 500 (Debian's olcSizeLimit)")

    def recorded_logins(self, directory: Directory, where: str) -> None:
        attributes = self.config.inactivity.attributes
        since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=self.config.inactivity.max_idle_days)
        recorded = logins_since(directory, self.layout, attributes, since)
        if recorded is None:
            self.add("FAIL", f"logins on {where}", "none of inactivity.attributes is in its schema", "lastbind")
        elif recorded:
            usable = [a for a in attributes if a.lower() in directory.known_attributes()]
            self.add("ok", f"logins on {where}", f"recorded ({', '.join(usable)})")
        else:
            self.add("warn", f"logins on {where}", f"no account has a login in the last "
                     f"{self.config.inactivity.max_idle_days} days: is olcLastBind on? (--probe tells)")

    def caught_up(self, provider: dict[str, str], replica: dict[str, str], url: str) -> None:
        """Is the replica's copy as recent as the provider's (contextCSN of the base entry, per server id)?"""
        what = f"replication to {url}"
        if not provider or not replica:
            self.add("warn", what, "no contextCSN on " + ("the provider" if not provider else "the replica") +
                     ": not a syncrepl consumer of it? logins are read there all the same", "replication")
            return
        behind = sorted(sid for sid, csn in provider.items() if replica.get(sid, "") < csn)
        if behind:
            self.add("warn", what, "behind the provider: " + ", ".join(
                f"server {sid} at {replica.get(sid, 'nothing')} on the replica, {provider[sid]} on the provider"
                for sid in behind), "replication")
        else:
            self.add("ok", what, f"caught up (contextCSN {max(provider.values())})")

    def probe_account(self, directory: Directory) -> None:
        """A temporary account in a temporary group: memberOf, a recorded bind, the scheme; then gone."""
        layout = self.layout
        tag = f"mopldap-probe-{secrets.token_hex(4)}"
        account, group = f"uid={tag},{layout.services}", f"cn={tag},{layout.services}"
        password = generate(24)
        scheme = self.config.passwords.scheme
        attrs: dict = {"objectClass": ["inetOrgPerson"], "uid": [tag], "cn": [tag], "sn": [tag]}
        hashed = hash_password(password, scheme)
        if hashed is not None:
            attrs["userPassword"] = [hashed]
        cleanup: list[Callable[[], None]] = []
        try:
            directory.add(account, attrs)
            cleanup.append(lambda: directory.delete(account))
            if hashed is None:
                directory.set_password(account, password)
            directory.add(group, {"objectClass": ["groupOfNames"], "cn": [tag], "member": [account]})
            cleanup.insert(0, lambda: directory.delete(group))
            entry = directory.read(account, ("memberOf",))
            member_of = {normalize_dn(g) for g in entry.get("memberOf")} if entry else set()
            if normalize_dn(group) in member_of:
                self.add("ok", "memberOf (probe)", "a new group's member gets memberOf at once")
            else:
                self.add("FAIL", "memberOf (probe)", "a new group's member got no memberOf", "memberof")
            bound = _binds(self.config, account, password)
            if bound:
                self.add("ok", "password scheme (probe)", f"{scheme}: slapd verified a password it stores that way")
            else:
                self.add("FAIL", "password scheme (probe)", f"{scheme}: slapd refused the password it was given",
                         "scheme")
            entry = directory.read(account, ("pwdLastSuccess",))
            last = entry.first("pwdLastSuccess") if entry else None
            recent = last is not None and (moment := parse_time(last)) is not None and \
                dt.datetime.now(dt.timezone.utc) - moment < dt.timedelta(minutes=10)
            if bound and recent:
                self.add("ok", "binds recorded (probe)", f"the probe's bind left pwdLastSuccess: {last}")
            elif bound:
                self.add("FAIL", "binds recorded (probe)", "the probe bound and no pwdLastSuccess was recorded",
                         "lastbind")
        except WriteError as exc:
            self.add("FAIL", "probe", f"could not write under {layout.services}: {exc.message}", "tree")
        finally:
            for undo in cleanup:
                try:
                    undo()
                except MopldapError:
                    self.add("warn", "probe", f"could not remove {tag} under {layout.services}: remove it by hand")


def _binds(config: Config, dn: str, password: str) -> bool:
    """Bind as `dn` with a connection of its own, the way an application would."""
    try:
        Directory(config.ldap, bind_dn=dn, password=password).connect().close()
    except DirectoryError:
        return False
    return True


def run_check(config: Config, rolemap: RoleMap, probe: bool) -> int:
    checker = Checker(config, rolemap, probe)
    for line in checker.run():
        print(line)
    if checker.unreachable:
        return 2
    return 1 if any(line.level == "FAIL" for line in checker.lines) else 0
