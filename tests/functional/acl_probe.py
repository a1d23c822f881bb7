"""What each identity may read and write under the rules `mopldap acl` prints, proven by binding as
it against a real slapd built like a customer's (test_acl.py runs each part as a test).

The set-up makes, as the root DN, the base entry, ou=services, the service account and one
application; loads the rules over ldapi (SASL EXTERNAL); then does everything else as the service
account through mopldap itself (init, requests through sync); then binds as every identity.
`check()` records each expectation; a test fails if any of its checks did.
"""

from __future__ import annotations

import io
import os
import subprocess
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import ldap3
import yaml
from ldap3.protocol.rfc4527 import post_read_control, pre_read_control

from mopldap.cli import main as mopldap_main
from mopldap.ldap.slapd import MopSlapd, local_identity
from mopldap.plan.acl import acl_ldif
from mopldap.model.passwords import hash_password
from mopldap.plan.init import base_entry

B = "dc=example,dc=com"
ROOT_DN, ROOT_PW = f"cn=admin,{B}", "probe-root-secret"
SVC, SVC_PW = f"cn=mopldap,ou=services,{B}", "Svc-Secret-123456"
APPS = f"cn=applications,ou=services,{B}"
APP1, APP_PW = f"cn=app1,ou=services,{B}", "App1-Secret-123456"
LOCAL = local_identity()  # on Debian, run as root: root's
HQ_GROUP, PA_GROUP = f"cn=hq-admin,ou=roles,{B}", f"cn=partner-admin,ou=roles,{B}"


def acct(uid: str, partner: str | None = "P001") -> str:
    return f"uid={uid},ou={partner},ou=partners,{B}" if partner else f"uid={uid},ou=hq,{B}"


def role(r: str) -> str:
    return f"cn={r},ou=roles,{B}"


def system(s: str) -> str:
    return f"cn={s},ou=systems,{B}"


def ssha(password: str, scheme: str = "{SSHA512}") -> str:
    """A pre-hashed userPassword value, as any client can compute one."""
    return hash_password(password, scheme)


RESULTS: list[tuple[str, str, str, str, bool]] = []


def check(identity: str, operation: str, expected, observed, ok: bool | None = None) -> bool:
    ok = (expected == observed) if ok is None else ok
    RESULTS.append((identity, operation, str(expected), str(observed), ok))
    return ok


class Probe:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.server = MopSlapd(root / "slapd", base_dn=B, root_pw=ROOT_PW)
        self.passwords: dict[str, str] = {}

    # -- plumbing -----------------------------------------------------------------

    def conn(self, dn: str | None, password: str | None = None) -> ldap3.Connection:
        server = ldap3.Server("127.0.0.1", port=self.server.port, get_info=ldap3.NONE)
        c = ldap3.Connection(server, user=dn, password=password if dn else None, raise_exceptions=False,
                             auto_referrals=False, check_names=False,
                             authentication=ldap3.SIMPLE if dn else ldap3.ANONYMOUS)
        c.open()
        if dn and not c.bind():
            raise RuntimeError(f"bind as {dn} failed: {c.result}")
        return c

    def as_(self, who: str) -> ldap3.Connection:
        dn = {"root": ROOT_DN, "svc": SVC, "app": APP1}.get(who, who)
        return self.conn(dn, {"root": ROOT_PW, "svc": SVC_PW, "app": APP_PW}.get(who) or self.passwords[dn])

    def tool(self, *args: str, input: str | None = None, dn: str = ROOT_DN, pw: str = ROOT_PW):
        return subprocess.run([args[0], "-x", "-H", self.server.ldap_uri, "-D", dn, "-w", pw, *args[1:]],
                              input=input, capture_output=True, text=True)

    def mop(self, *args: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = mopldap_main(["--config", str(self.config), *args])
        return code, out.getvalue() + err.getvalue()

    def request(self, rid: str, requested_by: str, partner: str, operations: list[dict]) -> dict:
        inbox = self.root / "var" / "inbox"
        (inbox / f"{rid}.yaml").write_text(yaml.safe_dump(
            {"request_id": rid, "requested_by": requested_by, "partner": partner, "operations": operations},
            allow_unicode=True), encoding="utf-8")
        code, out = self.mop("sync")
        path = self.root / "var" / "outbox" / f"{rid}.result.yaml"
        if not path.exists():
            raise RuntimeError(f"sync exit {code}, no result for {rid}:\n{out}")
        result = yaml.safe_load((self.root / "var" / "outbox" / f"{rid}.result.yaml").read_text(encoding="utf-8"))
        return {"code": code, "status": result["status"], "result": result, "out": out}

    def write_config(self, scheme: str = "{SSHA512}") -> None:
        cfg = self.root / "config"
        cfg.mkdir(exist_ok=True)
        (cfg / "svc.password").write_text(SVC_PW)
        (cfg / "roles.yaml").write_text((Path(__file__).resolve().parents[2] / "config" / "roles.yaml").read_text())
        os.chmod(self.root / "config" / "svc.password", 0o600)
        self.config = cfg / "mopldap.yaml"
        self.config.write_text(yaml.safe_dump({
            "ldap": {"url": self.server.ldap_uri.rstrip("/"), "bind_dn": SVC, "bind_password_file": "svc.password",
                     "base_dn": B},
            "paths": {"role_map": "roles.yaml", "inbox": "../var/inbox", "outbox": "../var/outbox",
                      "archive": "../var/archive", "state": "../var/state.json", "work": "../var/work"},
            "logging": {"format": "json", "audit_file": "../var/audit.jsonl"},
            "passwords": {"scheme": scheme},
        }))

    # -- helpers for checks ---------------------------------------------------------

    @staticmethod
    def read(c: ldap3.Connection, dn: str, attrs=("*", "+")) -> tuple[int, dict | None]:
        c.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attrs))
        entries = [e for e in c.response or [] if e.get("type") == "searchResEntry"]
        return c.result["result"], ({k.lower(): v for k, v in entries[0]["raw_attributes"].items() if v}
                                    if entries else None)

    @staticmethod
    def dns(c: ldap3.Connection, base: str, filt: str = "(objectClass=*)", scope=ldap3.SUBTREE) -> list[str]:
        c.search(base, filt, scope, attributes=["1.1"])
        return sorted(e["dn"].lower() for e in c.response or [] if e.get("type") == "searchResEntry")

    @staticmethod
    def modify(c: ldap3.Connection, dn: str, changes: dict, controls=None) -> int:
        c.modify(dn, changes, controls=controls)
        return c.result["result"]

    def values(self, c, dn, attr) -> list[str]:
        _, e = self.read(c, dn, (attr,))
        return sorted(v.decode().lower() for v in (e or {}).get(attr.lower(), []))

    def can_bind(self, dn: str, pw: str) -> bool:
        server = ldap3.Server("127.0.0.1", port=self.server.port, get_info=ldap3.NONE)
        c = ldap3.Connection(server, user=dn, password=pw, raise_exceptions=False)
        ok = c.bind()
        c.unbind()
        return ok

    def passwd(self, c: ldap3.Connection, dn: str, new: str, old: str | None = None) -> int:
        c.extend.standard.modify_password(dn, old, new)
        return c.result["result"]


def setup(p: Probe) -> dict[str, str]:
    """Build the directory every check runs against; return the accounts' DNs by name."""
    r = p.as_("root")
    # --- bootstrap as the root DN: base, ou=services, the service account, the applications group ---
    base = base_entry(B)
    r.add(B, list(base.pop("objectClass")), {k: list(v) for k, v in base.items()})
    r.add(f"ou=services,{B}", ["top", "organizationalUnit"], {"ou": "services"})
    r.add(SVC, ["applicationProcess", "simpleSecurityObject"], {"cn": "mopldap", "userPassword": ssha(SVC_PW)})
    r.add(APP1, ["applicationProcess", "simpleSecurityObject"], {"cn": "app1", "userPassword": ssha(APP_PW)})
    r.add(APPS, ["groupOfNames"], {"cn": "applications", "member": [APP1]})
    assert r.result["result"] == 0, r.result

    p.server.load_ldif(acl_ldif(B, local_admin_dn=LOCAL), "loading the access rules")

    # --- everything else as the service account, through mopldap itself ---
    p.write_config()
    code, out = p.mop("init", "--hq-admin", "hqadmin", "--name", "HQ Admin")
    check("svc(mopldap)", "mopldap init --hq-admin (containers, policy, groups, {SSHA512} HQ admin)", 0, code)
    secret = yaml.safe_load((p.root / "var" / "outbox" / "init-hq-admin-hqadmin.secret").read_text())
    p.passwords[acct("hqadmin", None)] = secret["password"]
    # slapd 2.5.13 restricts a pwdReset: TRUE session to Password Modify even without the ppolicy control
    c = p.as_(acct("hqadmin", None))
    c.search(B, "(uid=hqadmin)", attributes=["uid"])
    check("hqadmin", "search before changing the generated first password (pwdReset TRUE)", "50 restricted",
          f"{c.result['result']} {'restricted' if 'restricted' in c.result.get('message', '') else c.result}")
    check("hqadmin", "own password: Password Modify exop with old password", 0,
          p.passwd(c, acct("hqadmin", None), "Hq-Admin-Pass-1", secret["password"]))
    p.passwords[acct("hqadmin", None)] = "Hq-Admin-Pass-1"

    def create_partner(rid, code_, admin, pw):
        return p.request(rid, "hqadmin", code_, [{"op": "create_partner", "name": f"Partner {code_}", "admin": {
            "username": admin, "name": admin.title(), "title": "GM", "email": f"{admin}@{code_.lower()}.example.com",
            "mobile": "13800138000", "user_type": "sales", "initial_password": pw}}])

    def create_user(rid, by, partner, uid, pw, roles=("sales-specialist",)):
        return p.request(rid, by, partner, [{"op": "create_user", "username": uid, "name": uid.title(),
                                             "title": "Staff", "email": f"{uid}@x.example.com", "mobile": "13900000000",
                                             "user_type": "sales", "roles": list(roles), "initial_password": pw}])

    for rid, code_, admin, pw in (("P001-HQ-1", "P001", "zhangsan", "Zhangsan-Init-1"), ("P002-HQ-2", "P002", "lisi", "Lisi-Init-12")):
        res = create_partner(rid, code_, admin, pw)
        check("svc(mopldap)", f"sync: create_partner {code_} (OU, admin account, roles)", "applied", res["status"])
        p.passwords[acct(admin, code_)] = pw
    for rid, by, partner, uid, pw in (("P001-1", "zhangsan", "P001", "staff1", "Staff1-Init-1"),
                                      ("P001-2", "zhangsan", "P001", "staff1b", "Staff1b-Init-1"),
                                      ("P002-1", "lisi", "P002", "staff2", "Staff2-Init-1")):
        res = create_user(rid, by, partner, uid, pw)
        check("svc(mopldap)", f"sync: create_user {uid} in {partner}", "applied", res["status"])
        p.passwords[acct(uid, partner)] = pw
    # an HQ account that is not an administrator
    r.add(acct("hquser", None), ["inetOrgPerson"], {"uid": "hquser", "cn": "HQ User", "sn": "User",
                                                   "userPassword": ssha("Hquser-Pass-1")})
    p.passwords[acct("hquser", None)] = "Hquser-Pass-1"

    ST1, ST1B, ST2 = acct("staff1"), acct("staff1b"), acct("staff2", "P002")
    ZS, LS, HQA, HQU = acct("zhangsan"), acct("lisi", "P002"), acct("hqadmin", None), acct("hquser", None)

    # people change their first password (Password Modify with the old one), then a sync puts them in systems
    for dn in (ST1, ST1B, ST2, ZS, LS):
        c = p.as_(dn)
        new = "N3w-" + p.passwords[dn]
        rc = p.passwd(c, dn, new, p.passwords[dn])
        if dn == ST1:
            check("account", "own password: Password Modify exop with old password", 0, rc)
        p.passwords[dn] = new
    code, out = p.mop("sync")
    check("svc(mopldap)", "mopldap sync (reconcile: system groups after first password)", 0, code)
    check("svc(memberof)", "memberOf on staff1 after the service account added it to groups",
          True, system("mop-sales").lower() in p.values(r, ST1, "memberOf"))
    res = p.request("P001-3", "zhangsan", "P001", [{"op": "disable_user", "username": "staff1b", "reason": "admin"}])
    check("svc(mopldap)", "sync: disable_user staff1b (pwdAccountLockedTime, mop*, leave systems)", "applied",
          res["status"])

    res = p.request("P001-4", "zhangsan", "P001", [
        {"op": "update_user", "username": "staff1", "title": "Senior", "mobile": "13900000001"},
        {"op": "set_roles", "username": "staff1", "roles": ["sales-manager"]},
        {"op": "add_roles", "username": "staff1", "roles": ["sales-specialist"]}])
    check("svc(mopldap)", "sync: update_user, set_roles, add_roles on staff1", "applied", res["status"])
    check("svc(mopldap)", "... mop-orders (from sales-manager) in staff1's memberOf", True,
          system("mop-orders").lower() in p.values(r, ST1, "memberOf"))
    res = p.request("P001-5", "zhangsan", "P001", [{"op": "remove_roles", "username": "staff1", "roles": ["sales-manager"]}])
    check("svc(mopldap)", "sync: remove_roles", "applied", res["status"])
    res = p.request("P002-3", "lisi", "P002", [{"op": "create_user", "username": "gone2", "name": "Gone", "email": "g@x.cn",
                                               "user_type": "sales", "roles": ["sales-specialist"]},
                                              {"op": "disable_user", "username": "gone2", "reason": "offboarded"},
                                              {"op": "enable_user", "username": "gone2"}])
    check("svc(mopldap)", "sync: create_user (generated password), disable_user, enable_user", "applied", res["status"])
    res = p.request("P002-4", "lisi", "P002", [{"op": "delete_user", "username": "gone2"}])
    check("svc(mopldap)", "sync: delete_user (archives the entry with its roles, then deletes)", "applied", res["status"])
    check("svc(refint)", "gone2 removed from sales-specialist", False,
          acct("gone2", "P002").lower() in p.values(r, role("sales-specialist"), "member"))
    res = p.request("P002-5", "hqadmin", "P002", [{"op": "suspend_partner"}])
    check("svc(mopldap)", "sync: suspend_partner P002", "applied", res["status"])
    res = p.request("P002-6", "hqadmin", "P002", [{"op": "resume_partner"}])
    check("svc(mopldap)", "sync: resume_partner P002", "applied", res["status"])
    code, out = p.mop("init")
    check("svc(mopldap)", "mopldap init again (idempotent: reads everything back)", 0, code)
    code, out = p.mop("report", "accounts", "--format", "json")
    check("svc(mopldap)", "mopldap report accounts", 0, code)
    code, out = p.mop("sync", "--full")
    check("svc(mopldap)", "mopldap sync --full", 0, code)

    return {"ST1": ST1, "ST1B": ST1B, "ST2": ST2, "ZS": ZS, "LS": LS, "HQA": HQA, "HQU": HQU}


def anonymous(p: Probe) -> None:
    a = p.conn(None)
    rc, e = p.read(a, "", ("namingContexts", "supportedExtension"))
    check("anonymous", "read root DSE (namingContexts)", True, bool(e and e.get("namingcontexts")))
    rc, e = p.read(a, "cn=Subschema", ("attributeTypes",))
    check("anonymous", "read cn=Subschema attributeTypes", True, bool(e and e.get("attributetypes")))
    check("anonymous", f"subtree search of {B}", [], p.dns(a, B))
    rc, e = p.read(a, acct("staff1"))
    check("anonymous", "base read of an account", "32 (noSuchObject), no entry", f"{rc}{', no entry' if e is None else ''}"
          if rc != 32 else "32 (noSuchObject), no entry")
    rc, e = p.read(a, system("mop-sales"))
    check("anonymous", "base read of a system group", "no entry", "no entry" if e is None else e)
    rc, e = p.read(a, f"cn=default,ou=policies,{B}")
    check("anonymous", "base read of the password policy", "no entry", "no entry" if e is None else e)
    check("anonymous", "bind as staff1 (auth)", True, p.can_bind(acct("staff1"), p.passwords[acct("staff1")]))
    check("anonymous", "modify ou=partners description", 8,
          p.modify(a, f"ou=partners,{B}", {"description": [(ldap3.MODIFY_REPLACE, ["x"])]}))
    a.add(f"uid=anon,ou=P001,ou=partners,{B}", ["inetOrgPerson"], {"cn": "a", "sn": "a", "uid": "anon"})
    check("anonymous", "add an account", 8, a.result["result"])
    a.compare(acct("staff1"), "userPassword", p.passwords[acct("staff1")])
    check("anonymous", "compare staff1 userPassword", "not compareTrue (6)", a.result["result"],
          a.result["result"] != 6)


def account(p: Probe, st1, st1b, st2, zs) -> None:
    c = p.as_(st1)
    rc, e = p.read(c, st1)
    got = sorted(k for k in (e or {}) if k in ("cn", "mail", "mobile", "memberof", "mopaccountstatus", "pwdreset",
                                               "pwdchangedtime", "userpassword", "pwdhistory"))
    check("staff1", "read own entry (* +): profile, memberOf, mop*, pwd*; no userPassword/pwdHistory",
          ["cn", "mail", "memberof", "mobile", "mopaccountstatus", "pwdchangedtime"], got)
    c.compare(st1, "userPassword", p.passwords[st1])
    check("staff1", "compare own userPassword", 50, c.result["result"])
    mine = p.dns(c, f"ou=systems,{B}", f"(member={st1})")
    check("staff1", "search ou=systems (member=self): its systems", [system("community").lower(), system("mop-sales").lower()], mine)
    check("staff1", "search ou=systems (objectClass=*): only its systems", mine, p.dns(c, f"ou=systems,{B}", scope=ldap3.LEVEL))
    rc, e = p.read(c, system("mop-sales"), ("cn", "description", "member"))
    check("staff1", "read own system group: cn, description; member shows only itself",
          (True, True, [st1.lower()]), (bool(e and e.get("cn")), bool(e and e.get("description")),
                                       sorted(v.decode().lower() for v in (e or {}).get("member", []))))
    c.compare(system("mop-sales"), "member", st1)
    check("staff1", "compare own membership in mop-sales (AuthLDAPCompareAsUser)", 6, c.result["result"])
    rc, e = p.read(c, system("mop-orders"))
    check("staff1", "read a system group it is not in", "no entry", "no entry" if e is None else e)
    rc, e = p.read(c, role("sales-specialist"), ("cn", "member"))
    check("staff1", "read own role group: member shows only itself", [st1.lower()],
          sorted(v.decode().lower() for v in (e or {}).get("member", [])))
    rc, e = p.read(c, st2)
    check("staff1", "base read of another partner's account", "32 no entry", f"{rc} {'no entry' if e is None else e}")
    check("staff1", "subtree search ou=partners (uid=staff2)", [], p.dns(c, f"ou=partners,{B}", "(uid=staff2)"))
    check("staff1", "subtree search of the base: only its partner's accounts and itself",
          sorted(x.lower() for x in (st1, st1b, zs)), [d for d in p.dns(c, B) if "ou=systems" not in d and "ou=roles" not in d])
    rc, e = p.read(c, zs)
    check("staff1", "read colleague zhangsan: uid, cn, title, mail only",
          ["cn", "mail", "objectclass", "title", "uid"], sorted(e or {}))
    check("staff1", "filter on a colleague's hidden mobile (13800138000)", [],
          p.dns(c, f"ou=P001,ou=partners,{B}", "(mobile=13800138000)"))
    check("staff1", "filter on a colleague's hidden memberOf (partner-admin)", [],
          p.dns(c, f"ou=P001,ou=partners,{B}", f"(memberOf={PA_GROUP})"))
    rc, e = p.read(c, f"ou=P001,ou=partners,{B}")
    check("staff1", "read own partner OU entry (search only)", "no entry", "no entry" if e is None else e)
    check("staff1", "read ou=hq accounts", [], p.dns(c, f"ou=hq,{B}", "(uid=*)"))
    rc, e = p.read(c, f"cn=default,ou=policies,{B}")
    check("staff1", "read the password policy", "no entry", "no entry" if e is None else e)
    rc, e = p.read(c, SVC)
    check("staff1", "read the service account", "no entry", "no entry" if e is None else e)
    for attr, change in (("mail", [(ldap3.MODIFY_REPLACE, ["x@y.z"])]),
                         ("mopAccountStatus", [(ldap3.MODIFY_REPLACE, ["active"])]),
                         ("mopInactivityExempt", [(ldap3.MODIFY_REPLACE, ["TRUE"])]),
                         ("pwdReset", [(ldap3.MODIFY_REPLACE, ["TRUE"])]),
                         ("pwdAccountLockedTime", [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]),
                         ("memberOf", [(ldap3.MODIFY_ADD, [HQ_GROUP])])):
        rc = p.modify(c, st1, {attr: change})
        check("staff1", f"modify own {attr}", "refused", rc, rc != 0)
    rc = p.modify(c, role("partner-admin"), {"member": [(ldap3.MODIFY_ADD, [st1])]})
    check("staff1", "add itself to partner-admin", 50, rc)
    rc = p.modify(c, system("mop-orders"), {"member": [(ldap3.MODIFY_ADD, [st1])]})
    check("staff1", "add itself to a system group", 50, rc)
    rc = p.modify(c, st1b, {"userPassword": [(ldap3.MODIFY_REPLACE, ["Another-Pass-1"])]})
    check("staff1", "modify a colleague's userPassword", 50, rc)
    check("staff1", "Password Modify exop on a colleague", 50, p.passwd(c, st1b, "Another-Pass-1"))
    # disabled account cannot bind; a disabled account whose entry still exists
    check("staff1b", "bind while disabled (pwdAccountLockedTime)", False, p.can_bind(st1b, p.passwords[st1b]))


def other_partner_staff(p: Probe, st2, st1, zs) -> None:
    c = p.as_(st2)
    check("staff2(P002)", "subtree search of the base: no P001 entry", [],
          [d for d in p.dns(c, B) if "ou=p001" in d])
    check("staff2(P002)", "search ou=systems (member=staff1 of P001): membership probe", [],
          p.dns(c, f"ou=systems,{B}", f"(member={st1})"))
    check("staff2(P002)", "mop-sales member values: only itself", [st2.lower()], p.values(c, system("mop-sales"), "member"))
    c.compare(system("mop-sales"), "member", st1)
    check("staff2(P002)", "compare mop-sales member=staff1 (P001)", "not compareTrue/False (no disclosure)",
          c.result["result"], c.result["result"] not in (5, 6))
    zc = p.as_(zs)
    check("zhangsan(PA)", "search ou=systems (member=staff2 of P002): membership probe", [],
          p.dns(zc, f"ou=systems,{B}", f"(member={st2})"))


def hq_account(p: Probe, hqu) -> None:
    c = p.as_(hqu)
    rc, e = p.read(c, hqu)
    check("hquser", "read own entry (no userPassword)", (True, False), (bool(e and e.get("cn")), "userpassword" in (e or {})))
    check("hquser", "search partners' accounts", [], p.dns(c, f"ou=partners,{B}", "(uid=*)"))
    check("hquser", "modify own cn", 50, p.modify(c, hqu, {"cn": [(ldap3.MODIFY_REPLACE, ["x"])]}))


def partner_admin(p: Probe, zs, ls, st1, st1b, st2) -> None:
    c = p.as_(zs)
    rc, e = p.read(c, f"ou=P001,ou=partners,{B}")
    check("zhangsan(PA)", "read own partner OU: mopPartnerName, mopPartnerStatus",
          (True, True), (bool(e and e.get("moppartnername")), bool(e and e.get("moppartnerstatus"))))
    rc, e = p.read(c, st1b)
    want = ["createtimestamp", "entrycsn", "memberof", "mobile", "mopaccountstatus", "mopdisabledat", "mopdisabledreason",
            "pwdaccountlockedtime", "pwdreset?", "userpassword"]
    got = {k for k in (e or {})}
    check("zhangsan(PA)", "read disabled staff1b (* +): mobile, memberOf, mop*, pwdAccountLockedTime, createTimestamp",
          True, all(k in got for k in want if not k.endswith("?") and k != "userpassword"))
    check("zhangsan(PA)", "... and never userPassword / pwdHistory", False, "userpassword" in got or "pwdhistory" in got)
    rc, e = p.read(c, st1)
    check("zhangsan(PA)", "read staff1 memberOf (its roles and systems)", True,
          role("sales-specialist").lower() in [v.decode().lower() for v in (e or {}).get("memberof", [])])
    members = p.values(c, role("sales-specialist"), "member")
    check("zhangsan(PA)", "read sales-specialist member values: only P001 accounts", sorted([st1.lower(), st1b.lower()]), members)
    members = p.values(c, role("partner-admin"), "member")
    check("zhangsan(PA)", "read partner-admin member values: only itself (not lisi)", [zs.lower()], members)
    check("zhangsan(PA)", "search ou=roles (member=staff1)", [role("sales-specialist").lower()],
          p.dns(c, f"ou=roles,{B}", f"(member={st1})"))
    check("zhangsan(PA)", "search ou=roles (member=staff2 of P002)", [], p.dns(c, f"ou=roles,{B}", f"(member={st2})"))
    check("zhangsan(PA)", "search ou=partners: only P001", sorted(x.lower() for x in (f"ou=P001,ou=partners,{B}", zs, st1, st1b)),
          p.dns(c, f"ou=partners,{B}"))
    rc, e = p.read(c, f"ou=P002,ou=partners,{B}")
    check("zhangsan(PA)", "base read of P002's OU", "32 no entry", f"{rc} {'no entry' if e is None else e}")
    check("zhangsan(PA)", "search P002 accounts (uid=*)", [], p.dns(c, f"ou=partners,{B}", "(uid=staff2)"))
    check("zhangsan(PA)", "modify staff1 title", 50, p.modify(c, st1, {"title": [(ldap3.MODIFY_REPLACE, ["x"])]}))
    check("zhangsan(PA)", "modify staff1b pwdAccountLockedTime (enable)", 50,
          p.modify(c, st1b, {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]}))
    c.add(f"uid=new1,ou=P001,ou=partners,{B}", ["inetOrgPerson"], {"cn": "n", "sn": "n", "uid": "new1"})
    check("zhangsan(PA)", "add an account under its OU", 50, c.result["result"])
    c.delete(st1)
    check("zhangsan(PA)", "delete staff1", 50, c.result["result"])
    check("zhangsan(PA)", "add staff1 to sales-manager", 50,
          p.modify(c, role("sales-manager"), {"member": [(ldap3.MODIFY_ADD, [st1])]}))
    check("zhangsan(PA)", "Password Modify exop on staff1", 50, p.passwd(c, st1, "Zs-Sets-This-1"))
    c2 = p.as_(ls)
    check("lisi(PA P002)", "search ou=partners: only P002", sorted(x.lower() for x in (f"ou=P002,ou=partners,{B}", ls, st2)),
          p.dns(c2, f"ou=partners,{B}"))
    rc, e = p.read(c2, st1)
    check("lisi(PA P002)", "base read of staff1 (P001)", "32 no entry", f"{rc} {'no entry' if e is None else e}")
    check("lisi(PA P002)", "read partner-admin member values: only itself", [ls.lower()], p.values(c2, role("partner-admin"), "member"))


def application(p: Probe, st1, st2, hqa) -> None:
    c = p.as_("app")
    c.search(f"ou=partners,{B}", "(&(objectClass=inetOrgPerson)(uid=staff1))", attributes=["*", "+"])
    got = sorted(k.lower() for e in c.response if e.get("type") == "searchResEntry" for k in e["raw_attributes"])
    check("app1", "search ou=partners (uid=staff1) * +", ["cn", "mail", "memberof", "mopaccountstatus", "objectclass", "uid"], got)
    c.search(f"ou=partners,{B}", "(pwdAccountLockedTime=*)", attributes=["uid", "pwdAccountLockedTime", "pwdReset"])
    got = sorted(e["dn"].lower() for e in c.response if e.get("type") == "searchResEntry")
    check("app1", "search (pwdAccountLockedTime=*): sees the disabled account", [acct("staff1b").lower()], got)
    c.search(f"ou=partners,{B}", "(pwdReset=TRUE)", attributes=["pwdReset"])
    check("app1", "filter/read pwdReset", "ok", "ok" if c.result["result"] == 0 else c.result)
    check("app1", "search both partners' accounts", 5, len(p.dns(c, f"ou=partners,{B}", "(objectClass=inetOrgPerson)")))
    check("app1", "search ou=hq accounts", True, hqa.lower() in p.dns(c, f"ou=hq,{B}", "(uid=*)"))
    rc, e = p.read(c, st1, ("mobile", "title", "userPassword", "pwdChangedTime"))
    check("app1", "read staff1 mobile/title/userPassword/pwdChangedTime", [], sorted(e or {}))
    members = p.values(c, system("mop-sales"), "member")
    check("app1", "read mop-sales with all members", True, st1.lower() in members and len(members) >= 2)
    c.compare(system("mop-sales"), "member", st1)
    check("app1", "compare mop-sales member=staff1 (Require ldap-group)", 6, c.result["result"])
    c.compare(st1, "memberOf", system("mop-sales"))
    check("app1", "compare staff1 memberOf (Require ldap-attribute)", 6, c.result["result"])
    check("app1", "read ou=roles groups", [], p.dns(c, f"ou=roles,{B}", "(objectClass=groupOfNames)"))
    check("app1", "read ou=policies", [], p.dns(c, f"ou=policies,{B}"))
    check("app1", "search ou=services (service account, applications group)", [], p.dns(c, f"ou=services,{B}"))
    rc, e = p.read(c, APP1, ("cn",))
    check("app1", "base read of its own entry", True, bool(e))
    c.compare(st1, "userPassword", p.passwords[st1])
    check("app1", "compare staff1 userPassword", 50, c.result["result"])
    check("app1", "modify staff1 mail", 50, p.modify(c, st1, {"mail": [(ldap3.MODIFY_REPLACE, ["a@b.c"])]}))
    check("app1", "modify mop-sales member", 50, p.modify(c, system("mop-sales"), {"member": [(ldap3.MODIFY_ADD, [st2])]}))
    ok = c.rebind(user=st1, password=p.passwords[st1])
    check("app1", "rebind the app's connection as staff1 (mod_authnz_ldap)", True, ok)


def service(p: Probe, st1, st2) -> None:
    c, r = p.as_("svc"), p.as_("root")
    rc, e = p.read(c, st1, ("pwdLastSuccess", "pwdChangedTime", "entryCSN", "createTimestamp", "hasSubordinates",
                             "memberOf", "pwdReset", "userPassword", "pwdHistory"))
    check("svc", "read pwdLastSuccess, pwdChangedTime, entryCSN, createTimestamp, hasSubordinates, memberOf",
          True, all(k in (e or {}) for k in ("pwdlastsuccess", "pwdchangedtime", "entrycsn", "createtimestamp",
                                             "hassubordinates", "memberof")))
    check("svc", "read userPassword / pwdHistory", False, "userpassword" in (e or {}) or "pwdhistory" in (e or {}))
    rc, e = p.read(c, "cn=Subschema", ("attributeTypes",))
    check("svc", "read cn=Subschema", True, bool(e))
    rc, e = p.read(c, B, ("dc", "o"))
    check("svc", "read the base entry", True, bool(e))
    ctrls = [pre_read_control(["entryCSN"]), post_read_control(["entryCSN"])]
    c.modify(system("mop-orders"), {"member": [(ldap3.MODIFY_ADD, [st1])]}, controls=ctrls)
    got = c.result.get("controls") or {}
    pre = got.get("1.3.6.1.1.13.1", {}).get("value", {}).get("result", {}).get("entryCSN")
    post = got.get("1.3.6.1.1.13.2", {}).get("value", {}).get("result", {}).get("entryCSN")
    check("svc", "modify a system group with pre-read/post-read(entryCSN)", "0 + two different CSNs",
          f"{c.result['result']} + {'two different CSNs' if pre and post and pre != post else (pre, post)}")
    check("svc(memberof)", "memberOf of staff1 gains mop-orders", True, system("mop-orders").lower() in p.values(r, st1, "memberOf"))
    c.modify(system("mop-orders"), {"member": [(ldap3.MODIFY_DELETE, [st1])]}, controls=ctrls)
    check("svc(memberof)", "remove again: memberOf loses mop-orders", False, system("mop-orders").lower() in p.values(r, st1, "memberOf"))
    # add an account with a pre-hashed password, pwdReset, lock and mop* attributes; then modify; then delete
    dn = acct("svcmade")
    c.add(dn, ["top", "inetOrgPerson", "mopAccount"], {
        "uid": "svcmade", "cn": "S", "sn": "S", "mopAccountStatus": "disabled", "mopDisabledReason": "admin",
        "mopUserType": "sales", "pwdAccountLockedTime": "000001010000Z", "pwdReset": "TRUE",
        "userPassword": ssha("Svcmade-Pass-1")})
    check("svc", "add account with {SSHA512} userPassword, pwdReset, pwdAccountLockedTime, mop* (pwdCheckQuality 2: svc is a password administrator)", 0,
          c.result["result"])
    check("svc", "modify pwdAccountLockedTime (unlock) + mopAccountStatus", 0, p.modify(c, dn, {
        "pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])], "mopAccountStatus": [(ldap3.MODIFY_REPLACE, ["active"])]}))
    check("svc", "bind as the new account ({SSHA512} verifies)", True, p.can_bind(dn, "Svcmade-Pass-1"))
    check("svc", "modify userPassword pre-hashed + pwdReset TRUE (quality 2)", 0, p.modify(c, dn, {
        "userPassword": [(ldap3.MODIFY_REPLACE, [ssha("Svcmade-Pass-2")])], "pwdReset": [(ldap3.MODIFY_REPLACE, ["TRUE"])]}))
    check("svc", "... pwdReset stays TRUE (asked in the same modify)", ["true"], p.values(r, dn, "pwdReset"))
    # lock, then set a password: does it lift the lock?
    p.modify(c, dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]})
    check("svc", "Password Modify exop on a locked account", 0, p.passwd(c, dn, "Svcmade-Pass-3"))
    check("svc", "... the exop lifted pwdAccountLockedTime", [], p.values(r, dn, "pwdAccountLockedTime"))
    check("svc", "... and set pwdReset (svc is a password administrator: ppolicy sets pwdReset with pwdMustChange)", ["true"], p.values(r, dn, "pwdReset"))
    check("svc", "modify pwdReset TRUE after the exop (mopldap's 'server' scheme)", 0,
          p.modify(c, dn, {"pwdReset": [(ldap3.MODIFY_REPLACE, ["TRUE"])]}))
    p.modify(c, dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]})
    rc = p.modify(c, dn, {"userPassword": [(ldap3.MODIFY_REPLACE, [ssha("Svcmade-Pass-4")])],
                          "pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]})
    check("svc", "modify userPassword + replace pwdAccountLockedTime in one modify", 0, rc)
    check("svc", "... the lock is lifted anyway (ppolicy appends a delete)", [], p.values(r, dn, "pwdAccountLockedTime"))
    # groups: add the account to a role; delete the account: refint removes it
    check("svc", "add svcmade to sales-specialist", 0, p.modify(c, role("sales-specialist"), {"member": [(ldap3.MODIFY_ADD, [dn])]}))
    c.delete(dn)
    check("svc", "delete svcmade", 0, c.result["result"])
    check("svc(refint)", "svcmade gone from sales-specialist (refint)", False, dn.lower() in p.values(r, role("sales-specialist"), "member"))
    # policy and services entries; a partner OU add/delete; nothing outside the six containers
    c.add(f"cn=strict,ou=policies,{B}", ["top", "device", "pwdPolicy"], {"cn": "strict", "pwdAttribute": "userPassword"})
    check("svc", "add a policy under ou=policies", 0, c.result["result"])
    c.add(f"cn=lease,ou=services,{B}", ["top", "device"], {"cn": "lease", "description": "holder=a"})
    check("svc", "add a lease entry under ou=services", 0, c.result["result"])
    check("svc", "modify the lease", 0, p.modify(c, f"cn=lease,ou=services,{B}", {"description": [
        (ldap3.MODIFY_DELETE, ["holder=a"]), (ldap3.MODIFY_ADD, ["holder=b"])]}))
    c.add(f"ou=P009,ou=partners,{B}", ["top", "organizationalUnit", "mopPartner"], {"ou": "P009", "mopPartnerName": "n",
                                                                                   "mopPartnerStatus": "active"})
    check("svc", "add a partner OU", 0, c.result["result"])
    c.delete(f"ou=P009,ou=partners,{B}")
    check("svc", "delete a partner OU", 0, c.result["result"])
    c.add(f"ou=other,{B}", ["top", "organizationalUnit"], {"ou": "other"})
    check("svc", "add ou=other directly under the base", 50, c.result["result"])
    check("svc", "modify the base entry", 50, p.modify(c, B, {"description": [(ldap3.MODIFY_REPLACE, ["x"])]}))
    c.search("cn=config", "(objectClass=*)", ldap3.BASE, attributes=["*"])
    check("svc", "read cn=config", "no entry", "no entry" if not [e for e in c.response if e.get("type") == "searchResEntry"] else "read")
    rc = p.modify(c, "olcDatabase={1}mdb,cn=config", {"olcReadOnly": [(ldap3.MODIFY_REPLACE, ["TRUE"])]})
    check("svc", "modify cn=config", "refused", rc, rc != 0)
    # overlays run as internal operations: no ACL needed on the other side
    check("svc", "add the base entry (read-only for svc) as a member of mop-orders", 0,
          p.modify(c, system("mop-orders"), {"member": [(ldap3.MODIFY_ADD, [B])]}))
    check("svc(memberof)", "... memberOf written on the base entry anyway (internal op)", [system("mop-orders").lower()],
          p.values(r, B, "memberOf"))
    p.modify(c, system("mop-orders"), {"member": [(ldap3.MODIFY_DELETE, [B])]})
    check("svc(memberof)", "... and removed with the member", [], p.values(r, B, "memberOf"))
    r.add(f"cn=extgroup,{B}", ["groupOfNames"], {"cn": "extgroup", "member": [acct("refme")]})
    c.add(acct("refme"), ["top", "inetOrgPerson"], {"uid": "refme", "cn": "R", "sn": "R"})
    check("svc", "svc cannot write cn=extgroup (a group directly under the base)", 50,
          p.modify(c, f"cn=extgroup,{B}", {"description": [(ldap3.MODIFY_REPLACE, ["x"])]}))
    c.delete(acct("refme"))
    for _ in range(50):  # refint updates other groups from a background task, not in the delete itself
        if p.values(r, f"cn=extgroup,{B}", "member") != [acct("refme").lower()]:
            break
        time.sleep(0.1)
    check("svc(refint)", "delete an account listed in cn=extgroup: refint removes it there anyway",
          [f"cn=nobody,{B}".lower()], p.values(r, f"cn=extgroup,{B}", "member"))
    r.delete(f"cn=extgroup,{B}")
    # a password set clears pwdLastSuccess (ppolicy), whoever sets it
    p.can_bind(st2, p.passwords[st2])
    had = p.values(r, st2, "pwdLastSuccess")
    check("svc", "Password Modify exop on staff2 (who has pwdLastSuccess)", 0, p.passwd(c, st2, "Svc-Reset-LastSucc-1"))
    check("svc(ppolicy)", "... pwdLastSuccess deleted by the password set", (True, []), (bool(had), p.values(r, st2, "pwdLastSuccess")))
    p.passwords[st2] = "Svc-Reset-LastSucc-1"
    r.modify(st2, {"pwdReset": [(ldap3.MODIFY_DELETE, [])]})
    # a user's bind is recorded (olcLastBind) under these ACLs
    before = p.values(r, st2, "pwdLastSuccess")
    time.sleep(1.1)
    p.can_bind(st2, p.passwords[st2])
    check("svc(lastbind)", "staff2 bind updates pwdLastSuccess", True, p.values(r, st2, "pwdLastSuccess") != before)


def hq_admin(p: Probe, hqa, st1) -> None:
    c = p.as_(hqa)
    rc, e = p.read(c, st1)
    check("hqadmin", "read staff1 * + (all but userPassword)", (True, True, False),
          ("mobile" in (e or {}), "pwdchangedtime" in (e or {}), "userpassword" in (e or {})))
    c.compare(st1, "userPassword", p.passwords[st1])
    check("hqadmin", "compare staff1 userPassword", 50, c.result["result"])
    check("hqadmin", "read ou=services and ou=policies", True,
          SVC.lower() in p.dns(c, f"ou=services,{B}") and bool(p.dns(c, f"ou=policies,{B}")))
    check("hqadmin", "modify staff1 title", 0, p.modify(c, st1, {"title": [(ldap3.MODIFY_REPLACE, ["Boss"])]}))
    check("hqadmin", "add staff1 to sales-manager (ldapmodify on ou=roles)", 0,
          p.modify(c, role("sales-manager"), {"member": [(ldap3.MODIFY_ADD, [st1])]}))
    check("hqadmin", "remove it again", 0, p.modify(c, role("sales-manager"), {"member": [(ldap3.MODIFY_DELETE, [st1])]}))
    check("hqadmin", "modify the base entry", 0, p.modify(c, B, {"description": [(ldap3.MODIFY_REPLACE, ["HQ"])]}))
    c.add(f"ou=other,{B}", ["top", "organizationalUnit"], {"ou": "other"})
    check("hqadmin", "add ou=other under the base", 0, c.result["result"])
    c.delete(f"ou=other,{B}")
    check("hqadmin", "delete it", 0, c.result["result"])
    check("hqadmin", "ldappasswd staff1 (exop, no old password)", 0, p.passwd(c, st1, "Hq-Reset-Pass-1"))
    r = p.as_("root")
    check("hqadmin", "... pwdReset after an HQ admin's exop (write, not manage)", [], p.values(r, st1, "pwdReset"))
    p.passwords[st1] = "Hq-Reset-Pass-1"
    c.search("cn=config", "(objectClass=*)", ldap3.BASE)
    check("hqadmin", "read cn=config", "no entry", "no entry" if not [e for e in c.response if e.get("type") == "searchResEntry"] else "read")


def fake_admins(p: Probe, st1, st2) -> None:
    """A partner account put into hq-admin gets no HQ rights; a P002 admin put... (ACL needs ou=hq)."""
    r = p.as_("root")
    r.modify(HQ_GROUP, {"member": [(ldap3.MODIFY_ADD, [st1])]})
    c = p.as_(st1)
    rc, e = p.read(c, st2)
    check("staff1 in hq-admin", "read P002's staff2 (hq-admin but not under ou=hq)", "no entry", "no entry" if e is None else e)
    check("staff1 in hq-admin", "modify own mail", 50, p.modify(c, st1, {"mail": [(ldap3.MODIFY_REPLACE, ["a@b.c"])]}))
    r.modify(HQ_GROUP, {"member": [(ldap3.MODIFY_DELETE, [st1])]})
    r.modify(PA_GROUP, {"member": [(ldap3.MODIFY_ADD, [st2])]})  # staff2 of P002 made partner admin
    c = p.as_(st2)
    rc, e = p.read(c, st1)
    check("staff2 in PA", "read P001's staff1 (partner admin of P002 only)", "no entry", "no entry" if e is None else e)
    r.modify(PA_GROUP, {"member": [(ldap3.MODIFY_DELETE, [st2])]})


def passwords(p: Probe, st1, st2) -> None:
    """What a user can store as its own password, and what the service account can, as shipped:
    the default policy's pwdCheckQuality 2, the service account a password administrator (=mw)."""
    r = p.as_("root")
    c = p.as_(st1)
    check("staff1", "plain modify own userPassword, cleartext 12 chars", 0,
          p.modify(c, st1, {"userPassword": [(ldap3.MODIFY_REPLACE, ["Plain-Pass-12"])]}))
    _, e = p.read(r, st1, ("userPassword",))
    check("root", "... stored hashed by slapd (olcPPolicyHashCleartext)", "{SSHA512}",
          (e or {}).get("userpassword", [b"?"])[0].decode()[:9])
    p.passwords[st1] = "Plain-Pass-12"
    c = p.as_(st1)
    check("staff1", "plain modify own userPassword, cleartext 5 chars", 19,
          p.modify(c, st1, {"userPassword": [(ldap3.MODIFY_REPLACE, ["short"])]}))
    check("staff1", "Password Modify exop, 5 chars", 19, p.passwd(c, st1, "short", p.passwords[st1]))
    check("staff1", "own userPassword pre-hashed {SSHA} of 'x' (the policy dodged)", 19,
          p.modify(c, st1, {"userPassword": [(ldap3.MODIFY_REPLACE, [ssha("x", "{SSHA}")])]}))
    for value in ("{CLEARTEXT}x", "{cleartext}Long-Enough-1"):
        check("staff1", f"own userPassword '{value}'", 50,
              p.modify(c, st1, {"userPassword": [(ldap3.MODIFY_REPLACE, [value])]}))
    s = p.as_("svc")
    check("svc", "staff2's userPassword to a {CLEARTEXT} value", 50,
          p.modify(s, st2, {"userPassword": [(ldap3.MODIFY_REPLACE, ["{CLEARTEXT}Svc-Long-Pass-1"])]}))
    r.modify(st2, {"pwdReset": [(ldap3.MODIFY_DELETE, [])]})
    check("svc", "staff2's userPassword pre-hashed {SSHA512} (a password administrator)", 0,
          p.modify(s, st2, {"userPassword": [(ldap3.MODIFY_REPLACE, [ssha("Svc-Set-Pass-1")])]}))
    check("svc", "... pwdReset set by ppolicy itself", ["true"], p.values(r, st2, "pwdReset"))
    check("svc", "... staff2 binds with it", True, p.can_bind(st2, "Svc-Set-Pass-1"))
    _, e = p.read(s, st2, ("userPassword",))
    check("svc", "read staff2's userPassword", "no value", "no value" if not (e or {}).get("userpassword") else "read")
    s.compare(st2, "userPassword", "Svc-Set-Pass-1")
    check("svc", "compare staff2's userPassword", 50, s.result["result"])
    check("svc", "Password Modify exop on staff2 (20 chars)", 0, p.passwd(s, st2, "Svc-Exop-Pass-20-xxxx"))
    res = p.request("P002-R1", "lisi", "P002", [{"op": "reset_password", "username": "staff2",
                                                 "new_password": "Reset-By-Mop-1"}])
    check("svc(mopldap)", "sync reset_password, passwords.scheme {SSHA512}", "applied", res["status"])
    check("staff2", "... binds with the new password", True, p.can_bind(st2, "Reset-By-Mop-1"))
    p.write_config("server")
    res = p.request("P002-S1", "lisi", "P002", [{"op": "reset_password", "username": "staff2",
                                                 "new_password": "Reset-By-Srv-1"}])
    check("svc(mopldap)", "sync reset_password, passwords.scheme server", "applied", res["status"])
    check("svc(mopldap)", "... pwdReset TRUE afterwards", ["true"], p.values(r, st2, "pwdReset"))
    p.write_config()
    p.passwords[st2] = "Reset-By-Srv-1"


def limits(p: Probe) -> None:
    """Paged and plain searches past olcSizeLimit 500: the service account and a partner admin."""
    ldif = "".join(f"dn: uid=bulk{i:04d},ou=P001,ou=partners,{B}\nobjectClass: inetOrgPerson\nuid: bulk{i:04d}\n"
                   f"cn: Bulk {i}\nsn: Bulk\n\n" for i in range(600))
    proc = p.tool("ldapadd", input=ldif)
    assert proc.returncode == 0, proc.stderr
    s = p.as_("svc")
    n = len(list(s.extend.standard.paged_search(f"ou=partners,{B}", "(uid=bulk*)", attributes=["uid"], paged_size=200,
                                                generator=True)))
    check("svc", "paged search (200/page) of 600 accounts", 600, n)
    s.search(f"ou=partners,{B}", "(uid=bulk*)", attributes=["1.1"])
    check("svc", "plain search of 600 accounts", "0, 600", f"{s.result['result']}, {len(s.response)}")
    zs = p.as_(acct("zhangsan"))
    n = len(list(zs.extend.standard.paged_search(f"ou=P001,ou=partners,{B}", "(uid=bulk*)", attributes=["uid"],
                                                 paged_size=200, generator=True)))
    check("zhangsan(PA)", "paged search of its 600 accounts (group limit)", 600, n)
    a = p.as_("app")
    got = list(a.extend.standard.paged_search(f"ou=partners,{B}", "(uid=bulk*)", attributes=["uid"], paged_size=200,
                                              generator=True))
    check("app1", "paged search of 600 accounts, no olcLimits for apps (control)", "500, sizeLimitExceeded (4)",
          f"{len(got)}, {a.result['description']} ({a.result['result']})")
    h = p.as_(acct("hqadmin", None))
    n = len(list(h.extend.standard.paged_search(f"ou=partners,{B}", "(uid=bulk*)", attributes=["uid"], paged_size=200,
                                                generator=True)))
    check("hqadmin", "paged search of 600 accounts (group limit)", 600, n)
    st = p.as_(acct("staff1"))
    st.search(f"ou=P001,ou=partners,{B}", "(uid=bulk*)", attributes=["uid"])
    check("staff1", "plain search of 600 colleagues (default limit 500)", 4, st.result["result"])


def local_root(p: Probe) -> None:
    """The local root over ldapi (SASL EXTERNAL) keeps Debian's manage access to the data."""
    args = ["-Q", "-Y", "EXTERNAL", "-H", p.server.ldapi_uri]
    proc = subprocess.run(["ldapsearch", *args, "-LLL", "-b", acct("staff1"), "-s", "base", "mobile", "userPassword"],
                          capture_output=True, text=True)
    check("EXTERNAL root", "ldapsearch -Y EXTERNAL staff1 mobile, userPassword", (True, True),
          ("mobile:" in proc.stdout, "userPassword::" in proc.stdout or "userPassword:" in proc.stdout))
    proc = subprocess.run(["ldapmodify", *args], input=f"dn: {acct('staff1')}\nchangetype: modify\nreplace: title\n"
                          "title: Set-By-Root\n", capture_output=True, text=True)
    check("EXTERNAL root", "ldapmodify -Y EXTERNAL staff1 title", 0, proc.returncode)
