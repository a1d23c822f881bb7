#!/usr/bin/env python3
"""What the server itself pays, by directory size: one group write by group size, and the inactivity
step's idle-window search, against one DN-only ldapsearch of every account.

    .venv/bin/python bench/server_costs.py 20000    # partners (x 50 accounts): 1,000,000

bench/results-large.md cites it: at 1,000,000 accounts on 2 cores, adding one member to a group of
1,000,000 took 1.02 s (260,000: 0.30 s; 40,000: 0.09 s; 10: 0.005 s), the idle-window search 1.06 s,
and the DN-only search of every account 3.86 s (medians of 3 and of 6 modifies).
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BASE, ROOT, ROOT_PW, loaded_server, timed  # noqa: E402

sys.path.insert(0, str(ROOT))
from mopldap.plan.inactivity import activity_attributes, idle_filter  # noqa: E402


def main() -> int:
    partners = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory(prefix="mopldap-costs-") as tmp:
        server, made, _ = loaded_server(Path(tmp), partners, 50, random.Random(2026), 0.001, 32 * 2**30)
        try:
            auth = ["-x", "-H", server.ldap_uri, "-D", f"cn=admin,{BASE}", "-w", ROOT_PW]
            member = f"uid=nobody-x,ou={made.partners[0]},ou=partners,{BASE}"
            for group in ("cn=community,ou=systems", "cn=sales-marketing-staff,ou=roles",
                          "cn=service-manager,ou=roles", "cn=hq-admin,ou=roles"):
                listing = subprocess.run(["ldapsearch", *auth, "-LLL", "-s", "base", "-b", f"{group},{BASE}",
                                          "(objectClass=*)", "member"], capture_output=True, text=True).stdout
                times = [timed(["ldapmodify", *auth], f"dn: {group},{BASE}\nchangetype: modify\n{action}: member\n"
                                                      f"member: {member}\n")[0]
                         for _ in range(3) for action in ("add", "delete")]
                print(f"{group}: {listing.count(chr(10) + 'member: ')} members: one-value modify, median "
                      f"{statistics.median(times):.3f} s")
            since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=23)
            query = idle_filter(activity_attributes(["pwdLastSuccess", "mopLastLogon"]), since,
                                [f"cn=hq-admin,ou=roles,{BASE}"])
            for what, search in (("idle-window search", query), ("every account", "(objectClass=inetOrgPerson)")):
                times = [timed(["ldapsearch", *auth, "-LLL", "-E", "pr=500/noprompt", "-b", f"ou=partners,{BASE}",
                                search, "1.1"])[0] for _ in range(3)]
                print(f"{what}, DN only: median {statistics.median(times):.2f} s")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
