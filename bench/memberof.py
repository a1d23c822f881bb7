#!/usr/bin/env python3
"""memberOf under replication, measured: the memberof overlay (shipped) against slapo-dynlist's
computed memberOf (2.5: `olcDynListAttrSet: groupOfURLs memberURL member+memberOf@groupOfNames`).

    .venv/bin/python bench/memberof.py             # 2,000 partners x 50 = 100,000 accounts
    .venv/bin/python bench/memberof.py --small     # 200 x 50 = 10,000

Two slapd servers with the project's configuration, one each way, loaded with the same generated
tree (bench/run.py's, slapadd; the dynlist one without stored memberOf values). On each, with the
standard tools (`ldapsearch -E pr=500/noprompt`, `ldapmodify`), the operations mopldap's runs make:
reading every account with its memberOf (a full reconcile, the reports), a memberOf filter (the
inactivity step's exemptions, applications' authorization), a negated one, and a group write of
1,000 members (provisioning, reconcile). Writes bench/results-memberof.md.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import BASE, ROOT_PW, generate_ldif, timed  # noqa: E402

from mopldap.ldap.slapd import MopSlapd  # noqa: E402

DYNLIST = """dn: olcOverlay=dynlist,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcDynListConfig
olcOverlay: dynlist
olcDynListAttrSet: groupOfURLs memberURL member+memberOf@groupOfNames

"""


def dynlist(name: str, text: str) -> str:
    """schema/*.ldif with dynlist in the memberof overlay's place (and the dyngroup schema it needs)."""
    if name == "modules.ldif":
        return text.replace("olcModuleLoad: memberof", "olcModuleLoad: dynlist") + "\n" + \
            Path("/etc/ldap/schema/dyngroup.ldif").read_text()
    if name == "server.ldif":
        text = re.sub(r"dn: olcOverlay=memberof.*?\n\n", DYNLIST, text, flags=re.S)
        return text.replace("olcDbIndex: memberOf eq\n", "")
    return text


# a search's output is counted; it may end with a size limit (4) or take minutes (dynlist)
COUNTED = {"output": True, "ok": (0, 4), "limit": 900}


def measure(server: MopSlapd, accounts: int) -> dict[str, str]:
    auth = ["-x", "-H", server.ldap_uri, "-D", f"cn=admin,{BASE}", "-w", ROOT_PW]
    search = ["ldapsearch", "-LLL", "-o", "ldif-wrap=no", *auth, "-E", "pr=500/noprompt", "-b", f"ou=partners,{BASE}"]
    rows = {}
    seconds, out = timed([*search, "(objectClass=inetOrgPerson)", "memberOf"], **COUNTED)
    rows["every account with its memberOf"] = f"{seconds:.2f} s ({out.count('memberOf:'):,} values)"
    seconds, out = timed([*search, f"(memberOf=cn=mop-sales,ou=systems,{BASE})", "1.1"], **COUNTED)
    rows["(memberOf=cn=mop-sales,ou=systems,...)"] = f"{seconds:.2f} s ({out.count('dn:'):,} accounts)"
    seconds, out = timed([*search, f"(&(objectClass=inetOrgPerson)(!(memberOf=cn=sales-manager,ou=roles,{BASE})))",
                          "1.1"], **COUNTED)
    rows["(!(memberOf=cn=sales-manager,ou=roles,...))"] = f"{seconds:.2f} s ({out.count('dn:'):,} accounts)"
    group = f"cn=bench-group,ou=systems,{BASE}"
    timed(["ldapadd", *auth], f"dn: {group}\nobjectClass: groupOfNames\ncn: bench-group\nmember: cn=nobody,{BASE}\n")
    members = [f"uid=p{p:05d}u{i:02d},ou=P{p:05d},ou=partners,{BASE}" for p in range(20) for i in range(50)]
    change = f"dn: {group}\nchangetype: modify\nadd: member\n" + "".join(f"member: {m}\n" for m in members)
    seconds, _ = timed(["ldapmodify", *auth], change)
    rows["add 1,000 members to a group (one modify)"] = f"{seconds:.2f} s"
    change = f"dn: {group}\nchangetype: modify\ndelete: member\n" + "".join(f"member: {m}\n" for m in members)
    seconds, _ = timed(["ldapmodify", *auth], change)
    rows["remove them (one modify)"] = f"{seconds:.2f} s"
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-memberof.md")
    args = parser.parse_args()
    partners = 200 if args.small else 2000
    results = {}
    with tempfile.TemporaryDirectory(prefix="mopldap-memberof-") as tmp:
        ldif = Path(tmp) / "tree.ldif"
        made = generate_ldif(ldif, partners, 50, random.Random(2026))
        plain = Path(tmp) / "tree-dynlist.ldif"
        plain.write_text("".join(line for line in ldif.open(encoding="utf-8") if not line.startswith("memberOf:")),
                         encoding="utf-8")
        for name, edit, source in (("memberof overlay (shipped)", None, ldif), ("dynlist", dynlist, plain)):
            server = MopSlapd(Path(tmp) / name.split()[0], base_dn=BASE, root_pw=ROOT_PW, edit_ldif=edit)
            server.start()
            server._proc.terminate()
            server._proc.wait()
            server._proc = None
            started = time.monotonic()
            subprocess.run(["slapadd", "-q", "-F", server._slapd_conf, "-b", BASE, "-l", str(source)], check=True)
            load = time.monotonic() - started
            server._spawn()
            try:
                results[name] = {"slapadd of the tree": f"{load:.1f} s", **measure(server, len(made.accounts))}
            finally:
                server.stop()
            print(name, results[name], file=sys.stderr)
    names = list(results)
    lines = [f"# memberOf: the memberof overlay against slapo-dynlist, {len(made.accounts):,} accounts", "",
             "`.venv/bin/python bench/memberof.py" + (" --small" if args.small else "") + "` on slapd 2.5.13, "
             "2 cores; each row with the standard tools on each server.", "",
             "| operation | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in results[names[0]]:
        lines.append(f"| {row} | " + " | ".join(results[n].get(row, "") for n in names) + " |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
