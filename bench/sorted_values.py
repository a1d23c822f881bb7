#!/usr/bin/env python3
"""What the order of added member values costs slapd (olcSortVals: member, as shipped).

    .venv/bin/python bench/sorted_values.py 1000000    # member values

slapd keeps a sorted attribute's values in an array and, for each value a modify adds, moves every
value after its place one slot on: values added in the server's order (plan/membership.py:
slapd_order) land after the ones added before them, at the end of a group that held none sorting
after them; values added out of it move up to the whole group, once a value.
The bench adds N member values with ldapmodify (40,000 a modify, as mopldap does) to an entry the
memberof overlay leaves alone (not a groupOfNames: what is measured is the group's side only), in
the server's order, then in three runs each in that order but interleaved with the others (what a
system group granted by three role groups gets when their members are written one role group
after the other), then in order again.

At 1,000,000 on 2 cores (2026-12-05, slapd 2.5.13; two runs): in order 7.4 and 7.7 s, three
interleaved runs 212.1 and 211.1 s, in order again 11.2 and 10.6 s; at 100,000: 0.46 s, 1.49 s,
0.48 s. bench/results-large.md's adoption row cites it: mopldap wrote a system group's additions
one role group's worth after the other until 2026-12-05, in slapd's order since.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BASE, ROOT, ROOT_PW, set_map_size, timed  # noqa: E402

sys.path.insert(0, str(ROOT))
from mopldap.ldap.slapd import MopSlapd  # noqa: E402
from mopldap.plan.membership import MAX_VALUES, slapd_order  # noqa: E402


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    with tempfile.TemporaryDirectory(prefix="mopldap-sorted-") as tmp:
        server = MopSlapd(Path(tmp) / "slapd", base_dn=BASE, root_pw=ROOT_PW)
        server.start()
        try:
            set_map_size(server, 8 * 2**30)
            auth = ["-x", "-H", server.ldap_uri, "-D", f"cn=admin,{BASE}", "-w", ROOT_PW]
            timed(["ldapadd", *auth], f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\n"
                                      "dc: example\no: example\n")
            values = sorted((f"uid=p{i // 50:05d}u{i % 50:02d},ou=P{i // 50:05d},ou=partners,{BASE}"
                             for i in range(count)), key=slapd_order)
            interleaved = [value for run in range(3) for value in values[run::3]]
            for name, order in (("in order", values), ("three interleaved runs", interleaved),
                                ("in order again", values)):
                cn = name.replace(" ", "-")
                entry = f"cn={cn},{BASE}"
                timed(["ldapadd", *auth], f"dn: {entry}\nobjectClass: device\nobjectClass: extensibleObject\ncn: {cn}\n")
                ldif = "\n".join(f"dn: {entry}\nchangetype: modify\nadd: member\n"
                                 + "".join(f"member: {value}\n" for value in order[i:i + MAX_VALUES])
                                 for i in range(0, len(order), MAX_VALUES))
                seconds = timed(["ldapmodify", *auth], ldif, limit=3600)[0]
                print(f"{count} values {name}: {seconds:.2f} s", flush=True)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
