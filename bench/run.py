#!/usr/bin/env python3
"""mopldap at scale, measured against the standard tools on the same server in the same run.

    .venv/bin/python bench/run.py            # 2,000 partners x 50 accounts = 100,000
    .venv/bin/python bench/run.py --small    # 200 x 50 = 10,000, a quick check
    .venv/bin/python bench/run.py --large    # 20,000 x 50 = 1,000,000 (about 50 minutes)

It starts its own slapd (the project's configuration: Debian's default database plus
schema/*.ldif, as the README tells customers), loads a generated directory with
slapadd, then measures:

1. a full `mopldap sync` (no state yet) and a no-op `mopldap sync` (nothing to
   change, its inactivity check not due), against one paged `ldapsearch` of every account
   with the attributes a sync needs; the same no-op sync with its hourly check due;
2. `mopldap sync` after K accounts changed by hand (K = 100 and 1,000; with --large 10,000
   too); a daily full reconcile of the steady
   directory (member values only) and a checking one (`sync --only reconcile --full`);
3. an inactivity run that locks 1% of the accounts (0.1% with --large);
4. provisioning 10,000 new accounts with roles through requests (200 requests of 50
   create_user) against `ldapadd` + `ldapmodify` of the equivalent LDIF (the same
   entries with pre-hashed passwords, the same group memberships, one modify per group),
   each twice (hand, mopldap, mopldap, hand) after one unmeasured hand load;
5. adopting an existing directory: on a second slapd, the same accounts and role
   memberships loaded by hand (`ldapadd` of the entries, `ldapmodify` of the role groups,
   system groups empty), then the first `mopldap sync`, against that hand load;
6. request pickup by `mopldap daemon`: a steady stream of requests renamed into the
   inbox, the time until each one's result appears (p50, p95, max; target 2 s);
7. the peak RSS of every mopldap command (the process's VmHWM);
8. start-up: the time from spawning `mopldap sync` (empty inbox) to its first LDAP connection
   (mopldap's bytecode compiled first, as an installed package has it);
9. 100 requests through the console's API (`mopldap serve`, HTTP Basic as the partner
   administrator), against `ldapadd` + `ldapmodify` of the same accounts one at a time;
10. where the daily full reconcile's time goes (cProfile), and how fast ldap3, python-ldap and
   ldapsearch read the same entries (bench/decoders.py, when python-ldap is installed);
11. how long writing 1 GiB of fresh memory takes, twice (a VM that hands free memory back to its
   host makes the first slow, and with it the commands that use much memory).

mopldap runs as a customer's install has it: its bytecode compiled, and without rich, which
import-linter (a test tool) brings into .venv and structlog would import at the first log line.

It prints a Markdown table and writes it, with the machine it ran on, to bench/results.md.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import functools
import hashlib
import io
import json
import math
import os
import platform
import pstats
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mopldap.files.folders import create_folders  # noqa: E402
from mopldap.ldap.slapd import MopSlapd  # noqa: E402
from mopldap.model.config import load_config  # noqa: E402
from mopldap.model.rolemap import load_rolemap  # noqa: E402
from mopldap.plan.init import CONTAINERS  # noqa: E402
from mopldap.plan.membership import MAX_VALUES  # noqa: E402
from mopldap.runs.runtime import trusted_folders  # noqa: E402


def make_folders(config: Path) -> None:
    """What `mopldap init` would create (the bench's trees are loaded with slapadd, not by init)."""
    create_folders(trusted_folders(load_config(config)))

RSS_WRAPPER = """
import atexit, os, sys
sys.modules["rich"] = None  # import-linter's (a test tool), not mopldap's: structlog would import it (60-170 ms)
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            sys.stderr.write("BENCH_HWM_KB " + line.split()[1] + "\\n")
atexit.register(_peak)
from mopldap.cli import main
if os.environ.get("BENCH_PROFILE"):
    import cProfile
    profile = cProfile.Profile()
    code = profile.runcall(main, sys.argv[1:])
    profile.dump_stats(os.environ["BENCH_PROFILE"])
    sys.exit(code)
sys.exit(main(sys.argv[1:]))
"""
BASE = "dc=example,dc=com"
ROOT_PW = "bench-root-secret"
NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
# a partner of 50: the manual's roles in realistic proportions (role sets, user type)
STAFF = ([(["sales-manager"], "sales")] * 4 + [(["sales-specialist"], "sales")] * 10
         + [(["service-manager"], "service")] * 2 + [(["service-assistant"], "service")] * 2
         + [(["service-specialist"], "service")] * 8 + [(["service-specialist", "hotline-specialist"], "service")] * 4
         + [(["hotline-specialist"], "service")] * 4 + [(["service-supervisor"], "service")] * 2
         + [(["sales-marketing-staff"], "marketing")] * 13)


def gtime(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%SZ")


def ssha512(password: str) -> str:
    salt = os.urandom(8)
    return "{SSHA512}" + base64.b64encode(hashlib.sha512(password.encode() + salt).digest() + salt).decode()


@dataclass
class Directory:
    """What the generator made: who is where, for the measurements that follow."""

    partners: list[str] = field(default_factory=list)
    accounts: list[tuple[str, str]] = field(default_factory=list)  # (partner, username)
    idle: int = 0


def roles_of(index: int) -> tuple[list[str], str]:
    if index == 0:
        return ["partner-admin"], "sales"
    return STAFF[(index - 1) % len(STAFF)]


def peak_rss(pid: int) -> float:
    """A running process's peak RSS in MB (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentiles(ordered: list[float]) -> tuple[float, float]:
    """p50 and p95 of sorted values."""
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def generate_ldif(path: Path, partners: int, per_partner: int, rng: random.Random,
                  idle_share: float = 0.01) -> Directory:
    """Write the whole tree as slapadd LDIF, with memberOf, group members and realistic last logons.

    Last logon: `idle_share` of the accounts idle 31-60 days (to be locked), as many idle 23-29
    days (warned), the rest logged in within the last 20 days. Everything was created 400 days ago.
    """
    rolemap = load_rolemap(ROOT / "config" / "roles.yaml")
    made = Directory()
    role_members: dict[str, list[str]] = {r: [] for r in rolemap.roles}
    system_members: dict[str, list[str]] = {s: [] for s in rolemap.systems}
    old = gtime(NOW - dt.timedelta(days=400))
    lines: list[str] = []

    def entry(dn: str, *attrs: tuple[str, str]) -> None:
        lines.append(f"dn: {dn}")
        lines.extend(f"{k}: {v}" for k, v in attrs)
        lines.append(f"createTimestamp: {old}\nmodifyTimestamp: {old}\ncreatorsName: cn=admin,{BASE}\n"
                     f"modifiersName: cn=admin,{BASE}\n")

    entry(BASE, ("objectClass", "dcObject"), ("objectClass", "organization"), ("dc", "example"), ("o", "example"))
    for ou in CONTAINERS:
        entry(f"ou={ou},{BASE}", ("objectClass", "organizationalUnit"), ("ou", ou))
    entry(f"cn=default,ou=policies,{BASE}", ("objectClass", "device"), ("objectClass", "pwdPolicy"),
          ("cn", "default"), ("pwdAttribute", "userPassword"), ("pwdLockout", "TRUE"), ("pwdMaxFailure", "5"),
          ("pwdLockoutDuration", "900"), ("pwdMustChange", "TRUE"), ("pwdMinLength", "8"), ("pwdCheckQuality", "1"))
    hashed = ssha512("Bench-pass-2026")  # one hash for all: the bench does not crack passwords
    total = partners * per_partner
    staff = [n for n in range(total) if n % per_partner]  # partner administrators stay active
    idle = set(rng.sample(staff, round(total * idle_share)))
    warned = set(rng.sample(sorted(set(staff) - idle), round(total * idle_share)))
    n = 0
    for p in range(partners):
        code = f"P{p:05d}"
        made.partners.append(code)
        entry(f"ou={code},ou=partners,{BASE}", ("objectClass", "organizationalUnit"), ("objectClass", "mopPartner"),
              ("ou", code), ("mopPartnerName", f"Partner {p}"), ("mopPartnerStatus", "active"))
        for i in range(per_partner):
            username = f"p{p:05d}u{i:02d}"
            dn = f"uid={username},ou={code},ou=partners,{BASE}"
            roles, user_type = roles_of(i)
            systems = sorted(rolemap.granted_systems(roles))
            days = rng.randint(31, 60) if n in idle else rng.randint(23, 29) if n in warned else rng.randint(0, 20)
            last = gtime(NOW - dt.timedelta(days=days, seconds=rng.randint(0, 86399)))
            attrs = [("objectClass", "inetOrgPerson"), ("objectClass", "mopAccount"), ("uid", username),
                     ("cn", f"员工{n}"), ("sn", f"员工{n}"), ("mail", f"{username}@{code.lower()}.example.com"),
                     ("mopUserType", user_type), ("mopAccountStatus", "active"), ("userPassword", hashed),
                     ("pwdLastSuccess", last)]
            attrs += [("memberOf", f"cn={r},ou=roles,{BASE}") for r in roles]
            attrs += [("memberOf", f"cn={s},ou=systems,{BASE}") for s in systems]
            entry(dn, *attrs)
            for r in roles:
                role_members[r].append(dn)
            for s in systems:
                system_members[s].append(dn)
            made.accounts.append((code, username))
            n += 1
    made.idle = len(idle)
    for i in range(10):
        dn = f"uid=hq{i},ou=hq,{BASE}"
        entry(dn, ("objectClass", "inetOrgPerson"), ("objectClass", "mopAccount"), ("uid", f"hq{i}"), ("cn", f"HQ {i}"),
              ("sn", f"HQ {i}"), ("mopUserType", "hq"), ("mopAccountStatus", "active"), ("userPassword", hashed),
              ("memberOf", f"cn=hq-admin,ou=roles,{BASE}"),
              *[("memberOf", f"cn={s},ou=systems,{BASE}") for s in sorted(rolemap.systems_of("hq-admin"))])
        role_members["hq-admin"].append(dn)
        for s in rolemap.systems_of("hq-admin"):
            system_members[s].append(dn)
    for kind, members, names in (("roles", role_members, rolemap.roles), ("systems", system_members, rolemap.systems)):
        for gid, dns in members.items():
            values = dns or [f"cn=nobody,{BASE}"]
            description = names[gid].name if kind == "roles" else \
                f"{names[gid].name} (derived by mopldap from the role map: never edit by hand)"
            entry(f"cn={gid},ou={kind},{BASE}", ("objectClass", "groupOfNames"), ("cn", gid),
                  ("description", description), *[("member", d) for d in values])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return made


def hand_loaded(partners: int, per_partner: int) -> tuple[str, dict[str, list[str]]]:
    """LDIF of the tree as an administrator loads it by hand: partners and accounts (with the
    mopAccount attributes), the groups empty; and the role memberships to add with ldapmodify."""
    rolemap = load_rolemap(ROOT / "config" / "roles.yaml")
    hashed = ssha512("Bench-pass-2026")
    nobody = f"cn=nobody,{BASE}"
    blocks = [f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n"]
    blocks += [f"dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n"
               for ou in CONTAINERS]
    blocks.append(f"dn: cn=default,ou=policies,{BASE}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: default\n"
                  "pwdAttribute: userPassword\npwdLockout: TRUE\n")
    for kind, ids in (("roles", rolemap.roles), ("systems", rolemap.systems)):
        blocks += [f"dn: cn={gid},ou={kind},{BASE}\nobjectClass: groupOfNames\ncn: {gid}\nmember: {nobody}\n"
                   for gid in ids]
    members: dict[str, list[str]] = {r: [] for r in rolemap.roles}
    for p in range(partners):
        code = f"P{p:05d}"
        blocks.append(f"dn: ou={code},ou=partners,{BASE}\nobjectClass: organizationalUnit\nobjectClass: mopPartner\n"
                      f"ou: {code}\nmopPartnerName: Partner {p}\nmopPartnerStatus: active\n")
        for i in range(per_partner):
            username = f"p{p:05d}u{i:02d}"
            dn = f"uid={username},ou={code},ou=partners,{BASE}"
            roles, user_type = roles_of(i)
            blocks.append(f"dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: mopAccount\nuid: {username}\n"
                          f"cn: 员工{p}-{i}\nsn: 员工{p}-{i}\nmopUserType: {user_type}\nmopAccountStatus: active\n"
                          f"userPassword: {hashed}\n")
            for role in roles:
                members[role].append(dn)
    return "\n".join(blocks), members


def set_map_size(server: MopSlapd, size: int) -> None:
    """olcDbMaxSize of a running server (the shipped 4 GiB holds about 1,000,000 accounts with little
    room; a customer at that size raises it the same way, with ldapmodify on cn=config)."""
    server.load_ldif(f"dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\nreplace: olcDbMaxSize\n"
                     f"olcDbMaxSize: {size}\n", "olcDbMaxSize")


def loaded_server(work: Path, partners: int, per_partner: int, rng: random.Random, idle_share: float = 0.01,
                  map_size: int = 4 * 2**30) -> tuple[MopSlapd, Directory, float]:
    """A slapd with the project's configuration (in work/slapd) holding generate_ldif's tree, loaded
    with slapadd: the running server, what was generated, and the slapadd's seconds."""
    server = MopSlapd(work / "slapd", base_dn=BASE, root_pw=ROOT_PW)
    server.start()
    set_map_size(server, map_size)
    server._proc.terminate()  # slapadd needs slapd down; the folder stays
    server._proc.wait()
    server._proc = None
    ldif = work / "tree.ldif"
    made = generate_ldif(ldif, partners, per_partner, rng, idle_share)
    start = time.monotonic()
    subprocess.run(["slapadd", "-q", "-F", server._slapd_conf, "-b", BASE, "-l", str(ldif)], check=True)
    took = time.monotonic() - start
    ldif.unlink()
    server._spawn()
    return server, made, took


def timed(command: Sequence[str], stdin: str | None = None, *, output: bool = False, ok: Collection[int] = (0,),
          limit: float | None = None) -> tuple[float, str]:
    """Run a standard tool (ldapsearch, ldapadd, ldapmodify): its wall time and, with `output`, what
    it printed (else that goes nowhere: a search of every account prints hundreds of MB). An exit
    code not in `ok` raises with the tool's message; a run past `limit` seconds is stopped and
    took infinitely long. Every bench script times the standard tools with this."""
    started = time.monotonic()
    try:
        proc = subprocess.run(list(command), input=stdin, text=True, timeout=limit, stderr=subprocess.PIPE,
                              stdout=subprocess.PIPE if output else subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return math.inf, ""
    if proc.returncode not in ok:
        raise RuntimeError(f"{command[0]} exited {proc.returncode}: {proc.stderr.strip()}")
    return time.monotonic() - started, proc.stdout or ""


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.server: MopSlapd | None = None
        self.config = work / "config" / "mopldap.yaml"
        self.uri = ""
        # everything the report says, JSON-serializable: bench/results*.json, re-rendered by --render
        self.results: dict = {"rows": [], "changed": {}, "args": vars(args) | {"out": str(args.out)}}

    @functools.cached_property
    def rolemap(self):
        """The shipped role map, read once for the measurements that need it."""
        return load_rolemap(ROOT / "config" / "roles.yaml")

    # -- setup --------------------------------------------------------------------------

    def setup(self, rng: random.Random) -> Directory:
        t0 = time.monotonic()
        self.server, made, self.results["slapadd"] = loaded_server(
            self.work, self.args.partners, self.args.accounts, rng, self.args.idle_share,
            self.args.map_size_gib * 2**30)
        self.uri = self.server.ldap_uri.rstrip("/")
        config_dir = self.config.parent
        config_dir.mkdir(parents=True)
        shutil.copy(ROOT / "config" / "roles.yaml", config_dir / "roles.yaml")
        (config_dir / "pw").write_text(ROOT_PW)
        self.config.write_text(yaml.safe_dump({
            "ldap": {"url": self.uri, "bind_password_file": "pw", "bind_dn": f"cn=admin,{BASE}", "base_dn": BASE,
                     "timeout": 50},
            "logging": {"format": "json", "level": "info"},
            "reconcile": {"clock_skew_seconds": 0},
        }))
        make_folders(self.config)
        self.results["accounts"] = len(made.accounts)
        self.results["partners"] = len(made.partners)
        self.results["idle"] = made.idle
        print(f"setup: {len(made.accounts)} accounts in {len(made.partners)} partners, "
              f"{time.monotonic() - t0:.1f}s (slapadd {self.results['slapadd']:.1f}s)", file=sys.stderr)
        return made

    def overridden(self, name: str, **sections: dict) -> Path:
        """The bench's config with some keys of some sections changed (the same server, var folder
        and state): `name`.yaml next to it."""
        config = yaml.safe_load(self.config.read_text())
        for section, values in sections.items():
            config.setdefault(section, {}).update(values)
        path = self.config.with_name(f"{name}.yaml")
        path.write_text(yaml.safe_dump(config))
        return path

    def variant(self, name: str, url: str, **sections: dict) -> Path:
        """A config for another server or purpose: its own var folder (state, inbox, audit)."""
        config = yaml.safe_load(self.config.read_text())
        config["ldap"]["url"] = url
        var = f"../{name}-var"
        config["paths"] = {"state": f"{var}/state.json", "inbox": f"{var}/inbox", "outbox": f"{var}/outbox",
                           "archive": f"{var}/archive", "work": f"{var}/work"}
        config["logging"]["audit_file"] = f"{var}/audit.jsonl"
        config.update(sections)
        path = self.config.with_name(f"{name}.yaml")
        path.write_text(yaml.safe_dump(config))
        make_folders(path)
        return path

    # -- running and measuring ------------------------------------------------------------

    def mopldap(self, *args: str, config: Path | None = None, profile: Path | None = None) -> dict:
        """Run a mopldap command; return its wall time, peak RSS and LDAP operations (from run_done).

        The peak RSS is the process's own VmHWM, read at exit (ru_maxrss would count the
        pages this big bench process had when it forked the child).
        """
        cmd = [sys.executable, "-c", RSS_WRAPPER, "--config", str(config or self.config), *args]
        env = dict(os.environ, BENCH_PROFILE=str(profile)) if profile else None
        err_path = self.work / "last.err"
        with open(err_path, "w") as err, open(self.work / "last.out", "w") as out:
            start = time.monotonic()
            code = subprocess.run(cmd, stdout=out, stderr=err, cwd=ROOT, env=env).returncode
            wall = time.monotonic() - start
        ops, rss = {}, 0.0
        for line in err_path.read_text().splitlines():
            if '"event": "run_done"' in line:
                ops = json.loads(line).get("ldap_operations", {})
            if line.startswith("BENCH_HWM_KB "):
                rss = int(line.split()[1]) / 1024
        if code not in (0, 3):
            raise SystemExit(f"{' '.join(args)} failed ({code}):\n{err_path.read_text()[-3000:]}")
        out = (self.work / "last.out").read_text()
        took = next((float(l.split()[1].rstrip("s")) for l in out.splitlines() if l.strip().startswith("took ")), None)
        return {"wall": wall, "rss_mb": rss, "ops": ops, "out": out, "run": took}

    def tool(self, *cmd: str, input: str | None = None) -> float:
        return timed(cmd, input)[0]

    def auth(self) -> list[str]:
        return ["-x", "-H", self.uri, "-D", f"cn=admin,{BASE}", "-w", ROOT_PW]

    def row(self, what: str, mop: dict | None, baseline: float | None, baseline_what: str, note: str = "") -> None:
        ratio = None
        if mop is not None and baseline:
            ratio = mop["wall"] / baseline
        self.results["rows"].append({"what": what, "mop": mop, "baseline": baseline, "baseline_what": baseline_what,
                                     "ratio": ratio, "note": note})
        ops = mop["ops"] if mop else {}
        shown = ", ".join(f"{k} {v}" for k, v in sorted(ops.items()) if k != "bind")
        print(f"{what}: {mop['wall'] if mop else 0:.2f}s vs {baseline or 0:.2f}s; {shown}; "
              f"rss {mop['rss_mb'] if mop else 0:.0f} MB", file=sys.stderr)

    # -- the measurements -------------------------------------------------------------------

    def full_search(self) -> float:
        attrs = ["objectClass", "uid", "cn", "sn", "displayName", "title", "mail", "mobile", "mopUserType",
                 "mopAccountStatus", "mopDisabledReason", "mopDisabledAt", "mopEnabledAt", "mopInactivityExempt",
                 "pwdAccountLockedTime", "memberOf", "createTimestamp", "pwdLastSuccess", "mopLastLogon"]
        total = 0.0
        for base in (f"ou=partners,{BASE}", f"ou=hq,{BASE}"):
            total += self.tool("ldapsearch", *self.auth(), "-LLL", "-E", "pr=500/noprompt", "-b", base,
                               "(objectClass=inetOrgPerson)", *attrs)
        return total

    def run(self, rng: random.Random) -> None:
        made = self.made = self.setup(rng)
        results = self.results
        self.mopldap("validate")  # the first spawn reads mopldap from disk: not what a command pays
        # interpreter + imports + config
        results["startup"] = statistics.median(self.mopldap("validate")["wall"] for _ in range(5))
        results["first_connection"] = self.first_connection()
        search = self.full_search()
        results["search"] = search
        self.row("baseline", None, search, "ldapsearch of every account, paged")
        print(f"ldapsearch of every account: {search:.2f}s", file=sys.stderr)

        lock = self.mopldap("lock-inactive")
        self.row(f"inactivity run locking {self.args.idle_share:.1%} ({made.idle} accounts)", lock, search,
                 "full ldapsearch", note=lock["out"].strip().splitlines()[1].strip())
        full = self.mopldap("sync")
        self.row("full sync (first run: no state)", full, search, "full ldapsearch")
        noop = self.mopldap("sync")
        results["noop_search"] = self.full_search()
        self.row("no-op sync (its inactivity check not due: it ran less than an hour ago)", noop,
                 results["noop_search"], "full ldapsearch (same moment)", note=noop["out"].strip().splitlines()[-2].strip())
        results["noop"] = noop
        due_config = self.overridden("due", inactivity={"check_every_hours": 0})  # the hourly sync that checks
        due = self.mopldap("sync", config=due_config)
        self.row("no-op sync with its inactivity check due (hourly)", due, results["noop_search"],
                 "full ldapsearch (same moment)", note="`inactivity.check_every_hours: 0`")
        results["noop_due"] = due

        for k in self.args.changes:
            time.sleep(1.1)
            victims = rng.sample([a for a in made.accounts if not a[1].endswith("u00")], k)  # not the admins
            ldif = []
            for n, (code, user) in enumerate(victims):
                dn = f"uid={user},ou={code},ou=partners,{BASE}"
                if n % 2:
                    ldif.append(f"dn: {dn}\nchangetype: modify\nreplace: title\ntitle: 新职务{n}\n")
                else:
                    ldif.append(f"dn: {dn}\nchangetype: modify\nreplace: pwdAccountLockedTime\n"
                                "pwdAccountLockedTime: 000001010000Z\n")
            self.tool("ldapmodify", *self.auth(), input="\n".join(ldif))
            time.sleep(1.1)
            changed = self.mopldap("sync")
            self.row(f"sync after {k} accounts changed by hand", changed, search, "full ldapsearch",
                     note=f"{k // 2} locked and {k - k // 2} retitled with ldapmodify")
            results["changed"][str(k)] = changed

        daily_config = self.overridden("daily", reconcile={"full_every_hours": 1e-6})  # every run a full one
        daily = self.mopldap("sync", "--only", "reconcile", config=daily_config)
        results["daily_search"] = self.full_search()
        self.row("daily full reconcile of the steady directory (member values only)", daily, results["daily_search"],
                 "full ldapsearch (same moment)", note=daily["out"].strip().splitlines()[1].strip())
        results["daily"] = daily
        results["profile"] = self.profile_full(daily_config)
        reconcile = self.mopldap("sync", "--only", "reconcile", "--full")
        results["full_search"] = self.full_search()
        self.row("checking full reconcile (`sync --only reconcile --full`; weekly)", reconcile,
                 results["full_search"], "full ldapsearch (same moment)",
                 note=reconcile["out"].strip().splitlines()[1].strip())
        results["full"] = reconcile

        self.provisioning(made)
        self.console_api(made)
        self.pickup(made)
        self.adoption()
        results["decoders"] = self.decoders()

    def first_connection(self, runs: int = 7) -> list[float]:
        """Spawn `mopldap sync` (empty inbox) with a listener standing in for slapd: the time until
        it opens its first LDAP connection, `runs` times."""
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(30)
        port = listener.getsockname()[1]
        config = self.variant("startup", f"ldap://127.0.0.1:{port}")
        command = Path(sys.executable).with_name("mopldap")
        times = []
        with listener:
            for _ in range(runs):
                started = time.monotonic()
                proc = subprocess.Popen([str(command), "--config", str(config), "sync"], cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    conn, _ = listener.accept()
                    times.append(time.monotonic() - started)
                    conn.close()
                finally:
                    proc.kill()
                    proc.wait()
        times.sort()
        print(f"first LDAP connection: median {times[len(times) // 2]:.3f}s", file=sys.stderr)
        return times

    def profile_full(self, config: Path, top: int = 15) -> str:
        """The daily full reconcile once more under cProfile: the functions the time goes to."""
        path = self.work / "full.prof"
        self.mopldap("sync", "--only", "reconcile", config=config, profile=path)
        text = io.StringIO()
        stats = pstats.Stats(str(path), stream=text)
        stats.strip_dirs().sort_stats("tottime").print_stats(top)
        lines = text.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if "function calls" in line)
        return "\n".join(line.rstrip() for line in lines[start:] if line.strip())

    def provisioning(self, made: Directory) -> None:
        """`count` accounts by hand (ldapadd of the entries, pre-hashed, then ldapmodify, one modify
        per group) and through mopldap (requests of 50, one per partner administrator), each twice,
        in the order hand, mopldap, mopldap, hand, after one unmeasured hand load: the first write
        load after the reconciles runs much faster whichever it is (at 1,000,000: mopldap 22.8 s
        first, then the hand load 35.0 s and 37.8 s; the hand load 26-27 s first, then mopldap
        27-30 s), and later loads slow down one after the other."""
        count, per_request = self.args.provision, 50
        groups = count // per_request  # partners (requests) a load
        if 5 * groups > len(made.partners):
            raise SystemExit(f"provisioning {count} accounts five times needs {5 * groups} partners")
        loads = [made.partners[n * groups:(n + 1) * groups] for n in range(5)]
        self.by_hand(loads[0], "w", per_request)  # the unmeasured first load
        add_time, modify_time, modifies = self.by_hand(loads[1], "b", per_request)
        first_hand = add_time + modify_time
        runs = [self.through_requests(loads[2], "m", per_request), self.through_requests(loads[3], "n", per_request)]
        last_hand = sum(self.by_hand(loads[4], "c", per_request)[:2])
        baseline = (first_hand + last_hand) / 2
        provision = dict(runs[0], wall=statistics.mean(r["wall"] for r in runs),
                         run=statistics.mean(r["run"] or 0 for r in runs))
        self.results["provision"] = (provision, baseline)
        self.results["provision_hand_modifies"] = modifies
        self.results["provision_runs"] = {"hand": [first_hand, last_hand], "mopldap": [r["wall"] for r in runs]}
        self.row(f"provisioning {count} accounts ({len(loads[2])} requests of {per_request}; mean of two)", provision,
                 baseline, f"ldapadd + ldapmodify ({modifies} modifies), mean of {first_hand:.1f} s before and "
                 f"{last_hand:.1f} s after mopldap's (the first: ldapadd {add_time:.1f}s + ldapmodify {modify_time:.1f}s)",
                 note=f"mopldap {runs[0]['wall']:.1f} s then {runs[1]['wall']:.1f} s; "
                      + runs[0]["out"].strip().splitlines()[1].strip())

    def by_hand(self, partners: list[str], prefix: str, per_request: int) -> tuple[float, float, int]:
        """ldapadd of `per_request` new accounts in each partner, then ldapmodify of their groups:
        (the ldapadd's seconds, the ldapmodify's, modifies)."""
        rolemap = self.rolemap
        entries, members = [], {}
        for code in partners:
            for i in range(per_request):
                user = f"{prefix}{code.lower()}n{i:02d}"
                dn = f"uid={user},ou={code},ou=partners,{BASE}"
                roles, user_type = roles_of(1 + i)
                entries.append(f"dn: {dn}\nobjectClass: top\nobjectClass: inetOrgPerson\nobjectClass: mopAccount\n"
                               f"uid: {user}\ncn: 新员工{i}\nsn: 新员工{i}\ndisplayName: 新员工{i}\nmopUserType: {user_type}\n"
                               f"mopAccountStatus: active\nmopEnabledAt: {gtime(NOW)}\n"
                               f"userPassword: {ssha512('New-staff-pass-1')}\npwdReset: TRUE\n")
                for r in roles:
                    members.setdefault(f"cn={r},ou=roles,{BASE}", []).append(dn)
                for s in rolemap.granted_systems(roles):
                    members.setdefault(f"cn={s},ou=systems,{BASE}", []).append(dn)
        modifies = [f"dn: {group}\nchangetype: modify\nadd: member\n" + "".join(f"member: {m}\n" for m in dns)
                    for group, dns in members.items()]
        add_time = self.tool("ldapadd", *self.auth(), input="\n".join(entries))
        modify_time = self.tool("ldapmodify", *self.auth(), input="\n".join(modifies))
        return add_time, modify_time, len(modifies)

    def through_requests(self, partners: list[str], prefix: str, per_request: int) -> dict:
        """The same through mopldap: one request of `per_request` create_user per partner, from its
        administrator, all in the inbox, then one `mopldap sync --only inbox`."""
        inbox = self.work / "var" / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        for code in partners:
            ops = []
            for i in range(per_request):
                roles, user_type = roles_of(1 + i)
                ops.append({"op": "create_user", "username": f"{prefix}{code.lower()}n{i:02d}", "name": f"新员工{i}",
                            "user_type": user_type, "roles": roles, "initial_password": "New-staff-pass-1"})
            body = {"request_id": f"{code}-bench{prefix}", "requested_by": f"p{code[1:]}u00", "partner": code,
                    "operations": ops}
            (inbox / f"{code}-bench{prefix}.yaml").write_text(yaml.safe_dump(body, allow_unicode=True))
        run = self.mopldap("sync", "--only", "inbox")
        if f"{len(partners)} applied" not in run["out"]:
            raise SystemExit(f"provisioning did not apply every request:\n{run['out']}\n"
                             f"{(self.work / 'last.err').read_text()[-3000:]}")
        return run

    def console_api(self, made: Directory, count: int = 100) -> None:
        """`count` requests through the API of `mopldap serve`, each from a partner's administrator
        (HTTP Basic) creating one account, one after another; against ldapadd + ldapmodify of the
        same kind of account, one invocation each, as an administrator does by hand."""
        import httpx

        rolemap = self.rolemap
        roles, user_type = ["sales-specialist"], "sales"
        groups = [f"cn={r},ou=roles,{BASE}" for r in roles]
        groups += [f"cn={s},ou=systems,{BASE}" for s in sorted(rolemap.granted_systems(roles))]
        partners = made.partners[-count:]
        baseline = 0.0
        for code in partners:
            dn = f"uid=h{code.lower()},ou={code},ou=partners,{BASE}"
            baseline += self.tool("ldapadd", *self.auth(), input=(
                f"dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: mopAccount\nuid: h{code.lower()}\ncn: 手工员工\n"
                f"sn: 手工员工\nmopUserType: {user_type}\nmopAccountStatus: active\n"
                f"userPassword: {ssha512('Hand-staff-pass-1')}\npwdReset: TRUE\n"))
            baseline += self.tool("ldapmodify", *self.auth(), input="\n".join(
                f"dn: {g}\nchangetype: modify\nadd: member\nmember: {dn}\n" for g in groups))
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        listener.close()
        config = self.variant("console", self.uri, web={"listen": f"127.0.0.1:{port}", "sign_in_per_minute": 1000})
        server = subprocess.Popen([sys.executable, "-c", RSS_WRAPPER, "--config", str(config), "serve"], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        delays: list[float] = []
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        client.get("/api/v1/requests/P00000-none")
                        break
                    except httpx.TransportError:
                        if time.monotonic() > deadline or server.poll() is not None:
                            raise SystemExit("mopldap serve did not start")
                        time.sleep(0.1)
                started = time.monotonic()
                for code in partners:
                    body = {"partner": code, "operations": [{
                        "op": "create_user", "username": f"a{code.lower()}", "name": "接口员工", "user_type": user_type,
                        "roles": roles, "initial_password": "Api-staff-pass-1"}]}
                    sent = time.monotonic()
                    answer = client.post("/api/v1/requests", json=body, auth=(f"p{code[1:]}u00", "Bench-pass-2026"))
                    delays.append(time.monotonic() - sent)
                    if answer.status_code != 200:
                        raise SystemExit(f"console API: {answer.status_code} {answer.text[:500]}")
                wall = time.monotonic() - started
            rss = peak_rss(server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            server.communicate(timeout=60)
        delays.sort()
        p50, p95 = percentiles(delays)
        self.results["api"] = {"delays": delays, "wall": wall, "baseline": baseline}
        self.row(f"{count} requests through the console API (one create_user each, HTTP Basic)",
                 {"wall": wall, "rss_mb": rss, "ops": {}, "run": None}, baseline,
                 f"{count} × (ldapadd of the entry + ldapmodify of its {len(groups)} groups)",
                 note=f"per request p50 {p50:.2f} s, p95 {p95:.2f} s, max {delays[-1]:.2f} s; "
                      "RSS of `mopldap serve`")

    def pickup(self, made: Directory, count: int = 40, every: float = 0.5) -> None:
        """Requests renamed into the inbox every `every` seconds while the daemon runs (its inbox
        schedule daily: pickup is the folder watch); the delay until each result appears."""
        config = yaml.safe_load(self.config.read_text())
        config["schedule"] = {"inbox": "0 3 * * *", "reconcile": "0 3 * * *", "inactivity": "0 3 * * *"}
        daemon_config = self.config.with_name("daemon.yaml")
        daemon_config.write_text(yaml.safe_dump(config))
        inbox, outbox = self.work / "var" / "inbox", self.work / "var" / "outbox"
        log = open(self.work / "daemon.err", "w")
        daemon = subprocess.Popen([sys.executable, "-m", "mopldap.cli", "--config", str(daemon_config), "daemon"],
                                  stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT)
        log.close()
        delays = []
        try:
            daemon.stdout.readline()  # "daemon: running"
            for n in range(count):
                code, admin = made.partners[-1 - n], f"p{made.partners[-1 - n][1:]}u00"
                rid = f"{code}-pickup"
                body = {"request_id": rid, "requested_by": admin, "partner": code, "operations": [
                    {"op": "update_user", "username": f"p{code[1:]}u01", "title": f"pickup {n}"}]}
                part = inbox / f".{rid}.part"
                part.write_text(yaml.safe_dump(body, allow_unicode=True))
                result = outbox / f"{rid}.result.yaml"
                started = time.monotonic()
                part.rename(inbox / f"{rid}.yaml")
                while not result.exists():
                    if time.monotonic() - started > 30:
                        tail = (self.work / "daemon.err").read_text()[-2000:]
                        raise SystemExit(f"pickup: {rid} not processed within 30 s; the daemon said:\n{tail}")
                    time.sleep(0.005)
                delays.append(time.monotonic() - started)
                time.sleep(max(0.0, every - (time.monotonic() - started)))
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.communicate(timeout=60)
        delays.sort()
        self.results["pickup"] = delays
        p50, p95 = percentiles(delays)
        print(f"pickup: p50 {p50:.2f}s p95 {p95:.2f}s max {delays[-1]:.2f}s", file=sys.stderr)

    def adoption(self) -> None:
        """A directory loaded by hand, system groups empty: the first mopldap sync adopts it."""
        server = MopSlapd(self.work / "adopt", base_dn=BASE, root_pw=ROOT_PW)
        server.start()
        try:
            set_map_size(server, self.args.map_size_gib * 2**30)
            uri = server.ldap_uri.rstrip("/")
            auth = ["-x", "-H", uri, "-D", f"cn=admin,{BASE}", "-w", ROOT_PW]
            entries, role_members = hand_loaded(self.args.partners, self.args.accounts)
            add_time = self.tool("ldapadd", *auth, input=entries)
            del entries
            modifies = [f"dn: cn={role},ou=roles,{BASE}\nchangetype: modify\nadd: member\n"
                        + "".join(f"member: {dn}\n" for dn in dns) for role, dns in role_members.items() if dns]
            modify_time = self.tool("ldapmodify", *auth, input="\n".join(modifies))
            adopt = self.mopldap("sync", "--only", "reconcile", config=self.variant("adopt", uri))
            members = sum(len(v) for v in role_members.values())
            self.results["adopt"] = (adopt, add_time + modify_time)
            self.row(f"adopting a directory loaded by hand ({self.args.partners * self.args.accounts} accounts, "
                     f"{members} role memberships, system groups empty)", adopt, add_time + modify_time,
                     f"the hand load: ldapadd {add_time:.1f}s + ldapmodify {modify_time:.1f}s",
                     note=adopt["out"].strip().splitlines()[1].strip())
        finally:
            server.stop()

    def decoders(self) -> list[dict] | None:
        """ldap3, python-ldap and ldapsearch reading the same entries on this server (bench/decoders.py);
        None without python-ldap."""
        try:
            import decoders
        except ImportError:
            return None
        rolemap = self.rolemap
        held = Counter(s for i in range(self.args.accounts) for s in rolemap.granted_systems(roles_of(i)[0]))
        largest = held.most_common(1)[0][0]
        return decoders.measure(self.uri, f"cn=admin,{BASE}", ROOT_PW, BASE, f"cn={largest},ou=systems,{BASE}",
                                repeats=1 if self.args.large else 3)


# -- the report -----------------------------------------------------------------------------


def machine() -> str:
    slapd = subprocess.run(["/usr/sbin/slapd", "-VV"], capture_output=True, text=True).stderr.splitlines()[0]
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    mem = next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    return (f"{os.cpu_count()} x {cpu}, {int(mem) // 1024} MiB RAM, {platform.platform()}, Python "
            f"{platform.python_version()}, {slapd.strip('@(#) $').strip()}")


FIRST_TOUCH = """
import time
started = time.perf_counter()
memory = bytearray(1 << 30)
for offset in range(0, len(memory), 4096):
    memory[offset] = 1
print(time.perf_counter() - started)
"""


def first_touch() -> list[float]:
    """Seconds to write 1 GiB of fresh memory, twice, in two processes. A VM that hands free memory
    back to its host makes the first much slower than the second (the host backs each page again):
    commands that use much memory then run slower than on a server, the standard tools hardly."""
    return [float(subprocess.run([sys.executable, "-c", FIRST_TOUCH], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(2)]


def render(results: dict) -> str:
    args = results["args"]
    lines = [
        f"# mopldap benchmark: {args['partners']} partners x {args['accounts']} accounts",
        "",
        f"Run {results['when']} with `{results['command']}` on {results['machine']}. One slapd, the project's "
        "configuration, the same server for mopldap and the standard tools. Ratio = mopldap time / standard-tool "
        f"time (below 1.0: mopldap is faster). The directory was loaded with slapadd in {results['slapadd']:.0f} s.",
        *(f"\n{note}" for note in results.get("notes", [])),
        *([] if "first_touch" not in results else [
            "", "Writing 1 GiB of fresh memory took {:.2f} s, then {:.2f} s in a second process (a VM that hands free "
            "memory back to its host backs each page again at its first touch: where the first is much slower, the "
            "commands that use much memory, mopldap's full reconciles, run slower than on a server)."
            .format(*results["first_touch"])]),
        "",
        "| measurement | mopldap | of which the run | standard tools | ratio | LDAP operations | peak RSS | note |",
        "|---|---:|---:|---|---:|---|---:|---|",
    ]
    for row in results["rows"]:
        mop = row["mop"]
        if mop is None:
            lines.append(f"| {row['baseline_what']} | | | {row['baseline']:.2f} s | | | | reference |")
            continue
        ops = ", ".join(f"{k} {v}" for k, v in sorted(mop["ops"].items()))
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else ""
        run = f"{mop['run']:.2f} s" if mop.get("run") is not None else ""
        lines.append(f"| {row['what']} | {mop['wall']:.2f} s | {run} | {row['baseline']:.2f} s: "
                     f"{row['baseline_what']} | {ratio} | {ops} | {mop['rss_mb']:.0f} MB | {row['note']} |")
    first = results["first_connection"]
    lines += ["", "\"mopldap\" is the command's wall time, start-up included; \"of which the run\" is the time "
              "the sync itself reports (connect, steps, disconnect): what the daemon pays each time, having "
              f"started once. Start-up alone (`mopldap validate`: interpreter, imports, config): "
              f"{results['startup']:.2f} s; from spawning `mopldap sync` to its first LDAP connection: median "
              f"{first[len(first) // 2]:.3f} s over {len(first)} runs.", "", "## Targets", ""]
    lines += verdicts(results)
    if results.get("profile"):
        lines += ["", "## Where the full reconcile's time goes", "",
                  "The daily full reconcile once more under cProfile (which slows it down), the "
                  "15 functions with the most time of their own:", "", "```", results["profile"], "```"]
    if results.get("decoders"):
        import decoders

        lines += ["", "## Reading in bulk: ldap3, python-ldap and ldapsearch on this server", "",
                  decoders.markdown(results["decoders"])]
    return "\n".join(lines) + "\n"


def verdicts(results: dict) -> list[str]:
    out = []
    accounts = results["accounts"]
    large = accounts >= 500_000
    noop, search = results["noop"], results["noop_search"]
    target = 0.1 if large else 0.5
    wall_ratio, run_ratio = noop["wall"] / search, (noop["run"] or noop["wall"]) / search
    met = wall_ratio <= target
    out.append(f"- **No-op sync ≤ {target} × one full ldapsearch: {'met' if met else 'missed'}** — "
               f"{noop['wall']:.2f} s against {search:.2f} s, ratio {wall_ratio:.2f}; the run itself "
               f"{noop['run']:.2f} s, ratio {run_ratio:.2f}. It reads {noop['ops'].get('entries', 0)} entries "
               "(the groups' entryCSN, the schema, the accounts changed since the run before), never every account.")
    due = results.get("noop_due")
    if due:
        out.append(f"  The sync that checks inactivity (hourly, `inactivity.check_every_hours`) takes {due['wall']:.2f} s, "
                   f"ratio {due['wall'] / search:.2f}: the check costs {due['wall'] - noop['wall']:.2f} s. " + NOOP_DUE)
    if not met:
        out.append(f"  Missed by {noop['wall'] - target * search:.2f} s. " + NOOP_MISSED)
    first = results["first_connection"]
    median = first[len(first) // 2]
    out.append(f"- **Start-up to the first LDAP operation ≤ 0.15 s: {'met' if median <= 0.15 else 'missed'}** — "
               f"median {median:.3f} s, fastest {first[0]:.3f} s, over {len(first)} spawns of `mopldap sync` with "
               "an empty inbox.")
    out.append("  " + STARTUP_HOW + (f" Missed by {median - 0.15:.3f} s. " + STARTUP_MISSED if median > 0.15 else ""))
    daily, daily_search = results.get("daily"), results.get("daily_search")
    if daily:
        ratio = daily["wall"] / daily_search
        full, full_search = results["full"], results["full_search"]
        out.append(f"- **Full reconcile ≤ 1.5 × one full ldapsearch: {'met' if ratio <= 1.5 else 'missed'}** — "
                   f"the daily one {daily['wall']:.1f} s against {daily_search:.2f} s, ratio {ratio:.2f}; it reads "
                   f"{daily['ops'].get('entries', 0)} entries in {daily['ops'].get('search', 0)} searches. The weekly "
                   f"check (memberOf, entries, every account's drift and status) {full['wall']:.1f} s, ratio "
                   f"{full['wall'] / full_search:.2f}.")
        if ratio > 1.5:
            out.append(f"  Missed by {daily['wall'] - 1.5 * daily_search:.1f} s. " + FULL_MISSED)
    changed = results["changed"]
    if changed:
        parts = [f"K={k}: {c['ops'].get('entries', 0)} entries, {c['ops'].get('search', 0)} searches, "
                 f"{c['ops'].get('modify', 0)} modifies, {c['wall']:.2f} s" for k, c in sorted(changed.items(),
                                                                                          key=lambda kv: int(kv[0]))]
        out.append(f"- **Incremental sync grows with K, not with the directory ({accounts} accounts):** "
                   + "; ".join(parts) + ". The entries read and the operations grow with K." + (K_TIME if large else ""))
    provision, baseline = results["provision"]
    throughput = baseline / provision["wall"]
    out.append(f"- **Provisioning throughput ≥ 1.0 × ldapadd + ldapmodify: {'met' if throughput >= 1.0 else 'missed'}"
               f"** — {throughput:.2f} × ({provision['wall']:.1f} s against {baseline:.1f} s)"
               + (" (means: the hand load {0:.1f} s before mopldap and {1:.1f} s after, mopldap {2:.1f} s and {3:.1f} s, "
                  "after one unmeasured hand load)".format(*results["provision_runs"]["hand"],
                                                          *results["provision_runs"]["mopldap"])
                  if "provision_runs" in results else "") + ".")
    writes = PROVISION_GROUPS.format(modifies=provision["ops"].get("modify", 0),
                                     hand=results.get("provision_hand_modifies", "one per group"))
    if throughput < 1.0:
        out.append(f"  Missed by {provision['wall'] - baseline:.1f} s. " + PROVISION_MISSED.format(groups=writes))
    else:
        out.append(f"  {writes}.")
    adopt, hand = results["adopt"]
    ratio = adopt["wall"] / hand
    out.append(f"- **Adopting a directory loaded by hand ≤ 1.0 × the hand load: {'met' if ratio <= 1.0 else 'missed'}"
               f"** — {adopt['wall']:.1f} s against {hand:.1f} s (ratio {ratio:.2f}), in one run, group writes "
               f"of at most {MAX_VALUES:,} values: {adopt['ops'].get('modify', 0)} modifies.")
    if ratio > 1.0:
        out.append(f"  Missed by {adopt['wall'] - hand:.1f} s. " + ADOPTION_MISSED)
    else:
        out.append("  " + ADOPTION_HOW)
    delays = results["pickup"]
    p50, p95 = percentiles(delays)
    out.append(f"- **Daemon pickup within 2 s: {'met' if delays[-1] <= 2.0 else 'missed'}** — over {len(delays)} "
               f"requests renamed into the inbox every 0.5 s: p50 {p50:.2f} s, p95 {p95:.2f} s, max "
               f"{delays[-1]:.2f} s (rename to result file, one update_user each, schedule.inbox daily).")
    api = results.get("api")
    if api:
        p50, p95 = percentiles(api["delays"])
        out.append(f"- **Console API:** {len(api['delays'])} requests in {api['wall']:.1f} s (p50 {p50:.2f} s, "
                   f"p95 {p95:.2f} s each), against {api['baseline']:.1f} s for the same accounts by hand "
                   "(ldapadd and ldapmodify, one invocation each).")
    peak, where = max((r["mop"]["rss_mb"], r["what"]) for r in results["rows"] if r["mop"])
    out.append(f"- **Peak RSS ≤ 300 MB: {'met' if peak <= 300 else 'missed'}** — the largest was {peak:.0f} MB "
               f"({where}).")
    if peak > 300:
        out.append("  " + (RSS_ADOPTION_MISSED if where.startswith("adopting") else RSS_MISSED))
    return out


K_TIME = (" The time also grows with the directory, through slapd: a group write costs it in proportion to the "
          "group's size (one value added to a group of 1,000,000: 1.0 s, bench/server_costs.py), and each of these "
          "runs takes locked accounts out of the large system groups.")
NOOP_DUE = ("The check asks each server for the accounts in the warning window with a filter the server "
            "evaluates on every enabled account (`no activity since T` is a negation: no index narrows it; at "
            "1,000,000 that search alone takes slapd 1.06 s, bench/server_costs.py), and reads those accounts. "
            "Idleness is counted in days, so `sync` checks once an hour (README, *Decisions*); an incremental "
            "warning window (the accounts whose last activity crossed into it since the last check: a range the "
            "server answers from its indexes) would make the check itself follow the work.")
NOOP_MISSED = ("Why: a Python command pays its start-up (below) before its first LDAP operation, while ldapsearch "
               "is C, and the run reads the groups' entryCSN and the changed accounts. What would close it: the "
               "daemon, which starts once.")
STARTUP_HOW = ("The first spawn validates the config and the role map (pydantic) and keeps what it made of them "
               "in the work folder, and a hint naming that folder in the user's cache folder; the others read the "
               "hint and what it names, importing neither pydantic nor PyYAML, as every command does while neither "
               "file changes (files/checked.py; importing pydantic and building the settings models took about "
               "85 ms of each start-up, PyYAML to find the work folder 11 ms). What is left before the connection: "
               "ldap3 and pyasn1 about 26 ms (its package imports all of itself: ssl, every strategy and extended "
               "operation), mopldap's modules about 24 ms (its settings and other dataclasses, whose methods "
               "Python compiles at each start: 0.5 ms a class), argparse, logging and the rest of the standard "
               "library about 45 ms, the interpreter 10 ms, the run's own work before it connects 12 ms.")
STARTUP_MISSED = ("What would close it: an LDAP client that imports only what a command uses, or the daemon, which "
                  "starts once. Moving more imports after the connection would move the figure, not the command's "
                  "time.")
FULL_MISSED = ("Why (the profile below): reading the member values (ldap3 decodes their BER in Python, one "
               "list a value), then making each a str, normalizing it and asking where it lives, in Python. "
               "What would close it: a C decoder for the member values (python-ldap reads the largest group in "
               "0.5 s, ldap3 as mopldap runs it in 2 s: the last table).")
PROVISION_GROUPS = ("Group writes: {modifies} modifies by mopldap (the role groups: the first password gate gives the "
                    "systems once each person has set a password), {hand} by the hand load. A batch whose entries are "
                    "written while the next is on its way leaves its group changes to that one (one write per batch "
                    "made 32 at 1,000,000, one per 1,000 writes 96): a group write costs slapd in proportion to the "
                    "group (1.0 s at 1,000,000 members, bench/server_costs.py)")
PROVISION_MISSED = ("{groups}. So mopldap writes fewer group values than the hand load (the role groups only), and the "
                    "difference lies in the 10,000 adds. Both are bound by slapd's commits: LMDB has a single writer and "
                    "commits each add on its own. Where the time goes, from runs paired beside the bench (one "
                    "1,000,000-account directory after its first full sync; 2026-12-04 22:35-22:53; the audit file's "
                    "times): mopldap's 10,000 adds took 18-23 s, ldapadd's 11-12 s when it was the first load after the "
                    "full sync and 15-24 s after; mopldap's 8 role-group writes 5-6 s, the hand load's 6 s for the same "
                    "values (and 9-10 s for the system groups, which mopldap leaves to the first password). slapd's CPU "
                    "followed the wall time in both loads (0.5-0.7 s a second), and writing mopldap's adds on 1, 2 or 4 "
                    "connections changed nothing (32.7, 28.3, 26.6 s in one round; 29.1, 26.8, 29.9 s in the next). Over "
                    "8 pairs with mopldap as shipped, the hand load took 0.98 to 1.30 of mopldap's time (median 1.12): "
                    "0.98 to 1.01 in the three where it went first after the full sync, as in the bench until then, 1.02 "
                    "to 1.30 in the others; with mopldap first, mopldap took 22.8 s and the hand load then 35.0 s and "
                    "37.8 s. So the bench now measures each twice (hand, mopldap, mopldap, hand) after one unmeasured "
                    "load. mopldap's own files no longer take the disk from slapd: a batch's journals, and then its "
                    "results and archived copies, are flushed with one syncfs each (603 fsyncs a run before, which cost "
                    "about 1.5 s: files/together.py). What would close it: fewer commits than writes. LDAP transactions "
                    "(RFC 5805) give that: slapd 2.5 commits a transaction's writes at once (1,000 adds in 0.14 s against"
                    " 1.20 s one by one, bench/results-transactions.md), but slapd 2.5.13 crashes (SIGSEGV) when "
                    "transactions commit while other connections write, which a directory in service always has: mopldap "
                    "does not use them.")
RSS_MISSED = ("Why: a full reconcile holds 8 bytes of key for each member a role grants a system to (arrays), "
              "and for the group it compares a set of the keys its roles grant it (about 64 bytes a key); a "
              "checking run also the keys of its members that have not yet shown up holding it. What would close "
              "it: sorted arrays compared by merging, in place of the sets.")
ADOPTION_ORDER = ("slapd keeps a group's member values sorted (olcSortVals: member) in an array and moves every value "
                  "after the place of each value a modify adds. Until 2026-12-05 mopldap wrote what a system group "
                  "lacked one role group's worth after the other, each interleaved with the ones before, and slapd "
                  "moved up to the whole group a value: 1,000,000 members added in three interleaved runs cost it "
                  "211-212 s, in order 7-8 s (bench/sorted_values.py, two runs). That accounts for each system "
                  "membership costing slapd more at 1,000,000 accounts (up to 0.48 ms) than at 100,000 (0.31 ms) and "
                  "than a role membership of the hand load (0.28 ms, written in order), and for adoption taking 0.97 "
                  "to 1.06 of the hand load in four runs at 1,000,000 while it took 0.69 at 100,000. Now the values "
                  "a system group lacks are read from its role groups, packed, and written in the server's order, "
                  "all role groups' merged: one run since at 1,000,000 (bench/results-large.md: 634 s against 892 s, "
                  "268 s less than the last run before while the hand load took 38 s longer); at 100,000 adoption took 57.4 s against 58.4 s before, the "
                  "ratio 0.61 against 0.69 mostly from a slower hand load (95 s against 85 s).")
ADOPTION_HOW = ADOPTION_ORDER + (" What is left is the memberof overlay's commit of a memberOf value for each "
                                 "system membership (one commit each, as in the hand load's role memberships).")
ADOPTION_MISSED = ADOPTION_ORDER + (" What is left is the memberof overlay's commit of a memberOf value for each system "
                                    "membership. What would close it: fewer commits per value. A transaction commits "
                                    "a group write with the memberof overlay's memberOf writes at once (2,000 "
                                    "members: 0.06 s against 0.92 s, bench/results-transactions.md), but slapd "
                                    "2.5.13 crashes when transactions commit while other connections write, so "
                                    "mopldap does not use them; memberOf computed by slapd's dynlist overlay writes "
                                    "nothing per value but makes every memberOf read and filter take minutes at "
                                    "100,000 accounts (bench/results-memberof.md).")
RSS_ADOPTION_MISSED = ("Why: adopting a directory whose system groups are empty adds every account to them (1,000,000 "
                       "members to the largest); the run reads the values to add to a system group again from its "
                       "role groups and holds them all, packed (about 68 bytes a value), to write them in the "
                       "server's order (above), beside the keys of what the group lacks. The full reconciles of a "
                       "steady directory peak far lower (the rows above). What would close it: reading the role "
                       "groups on one connection each and merging them as they arrive, holding none (only where "
                       "the server sends each in slapd_order, as it does for plain DNs).")


def compile_bytecode() -> None:
    """Compile mopldap's modules as `pip install` does. The bench runs the editable install of
    this checkout; where PYTHONDONTWRITEBYTECODE is set (this machine sets it), each spawned
    command would otherwise compile all of them again: 20 ms of every start-up."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "mopldap")], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="200 partners x 50 accounts, 2,000 provisioned")
    parser.add_argument("--large", action="store_true",
                        help="20,000 partners x 50 accounts, 0.1%% idle, K up to 10,000: bench/results-large.md")
    parser.add_argument("--partners", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=50, help="accounts per partner")
    parser.add_argument("--provision", type=int, default=10000, help="accounts provisioned through requests")
    parser.add_argument("--idle-share", type=float, default=0.01, help="share of accounts to lock (and to warn)")
    parser.add_argument("--changes", type=int, nargs="+", default=[100, 1000], help="K accounts changed by hand")
    parser.add_argument("--map-size-gib", type=int, default=4, help="olcDbMaxSize of the bench's servers")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    parser.add_argument("--render", type=Path, metavar="JSON", help="write the report again from a run's .json")
    parser.add_argument("--seed", type=int, default=2026)
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads(args.render.read_text(encoding="utf-8"))
        args.render.with_suffix(".md").write_text(render(results), encoding="utf-8")
        return 0
    default_out = args.out == ROOT / "bench" / "results.md"
    if args.small:
        args.partners, args.provision = 200, 2000
        args.out = ROOT / "bench" / "results-small.md" if default_out else args.out
    if args.large:
        args.partners, args.idle_share, args.changes, args.map_size_gib = 20000, 0.001, [100, 1000, 10000], 32
        args.out = ROOT / "bench" / "results-large.md" if default_out else args.out
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="mopldap-bench-") as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")  # the commands' hints (files/hints.py) go with it
        bench = Bench(args, Path(tmp))
        bench.results |= {"command": " ".join(["bench/run.py", *argv]), "machine": machine(), "first_touch": first_touch(),
                          "when": NOW.strftime("%Y-%m-%d %H:%M UTC")}
        try:
            bench.run(random.Random(args.seed))
        finally:
            if bench.server is not None:
                bench.server.stop()
    for row in bench.results["rows"]:
        if row["mop"]:
            row["mop"].pop("out", None)
    for key in ("noop", "noop_due", "full", "daily"):
        bench.results.get(key, {}).pop("out", None)
    args.out.with_suffix(".json").write_text(json.dumps(bench.results, indent=1, ensure_ascii=False, default=str),
                                             encoding="utf-8")
    text = render(bench.results)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
