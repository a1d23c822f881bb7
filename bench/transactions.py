#!/usr/bin/env python3
"""LDAP transactions (RFC 5805) on the shipped server: what they would save, and why mopldap does
not use them.

    .venv/bin/python bench/transactions.py              # 2,000 partners x 50 = 100,000 accounts
    .venv/bin/python bench/transactions.py --partners 200

slapd commits each write to disk by itself, and the memberof overlay writes each new member's
memberOf in a write of its own: provisioning and adopting a directory at 1,000,000 accounts are
bound by those commits (bench/results-large.md). slapd 2.5 runs the writes of a transaction, the
overlay's among them, in one commit. Measured here with OpenLDAP's own client
(`ldapmodify -E '!txn=commit'`, one transaction per invocation) against the same writes without
it, on a server with the project's configuration loaded with bench/run.py's tree; then the same
transactions while other connections write, as every directory has them (applications' binds
write pwdLastSuccess, HQ's administrators write). Writes bench/results-transactions.md.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import BASE, ROOT_PW, loaded_server, timed  # noqa: E402

from mopldap.ldap.slapd import MopSlapd  # noqa: E402

TXN = ["-E", "!txn=commit"]  # ldapmodify(1): every change of the input in one transaction


def person(uid: str) -> str:
    return (f"dn: uid={uid},ou=bench,{BASE}\nchangetype: add\nobjectClass: inetOrgPerson\n"
            f"uid: {uid}\ncn: {uid}\nsn: {uid}\n\n")


def savings(server: MopSlapd, auth: list[str], accounts: list[str]) -> list[tuple[str, str, str]]:
    """The same writes with and without a transaction: (what, without, with)."""
    timed(["ldapadd", *auth], f"dn: ou=bench,{BASE}\nobjectClass: organizationalUnit\nou: bench\n")
    rows = []
    adds = {mode: "".join(person(f"{mode}{i}") for i in range(1000)) for mode in ("plain", "txn")}
    rows.append(("1,000 account adds (ldapadd: one commit each)",
                 f"{timed(['ldapmodify', *auth], adds['plain'])[0]:.2f} s",
                 f"{timed(['ldapmodify', *auth, *TXN], adds['txn'])[0]:.2f} s"))
    for count in (1000, 2000):
        took = {}
        for mode in ("plain", "txn"):
            group = f"cn=bench-{mode}-{count},ou=systems,{BASE}"
            timed(["ldapadd", *auth], f"dn: {group}\nobjectClass: groupOfNames\ncn: bench-{mode}-{count}\n"
                                      f"member: cn=nobody,{BASE}\n")
            change = f"dn: {group}\nchangetype: modify\nadd: member\n" + "".join(
                f"member: {dn}\n" for dn in accounts[:count])
            took[mode] = timed(["ldapmodify", *auth, *(TXN if mode == "txn" else [])], change)[0]
        rows.append((f"add {count:,} members to a group, one modify (and the memberof overlay's {count:,} "
                     "memberOf writes)", f"{took['plain']:.2f} s", f"{took['txn']:.2f} s"))
    return rows


def concurrent(server: MopSlapd, auth: list[str], tag: str, clients: int, writers: int,
               rounds: int = 1000) -> str:
    """`clients` loops of one small transaction (two adds) per ldapmodify, while `writers`
    ldapmodify processes add entries one by one; then: is slapd still running?"""
    streams = [subprocess.Popen(["ldapmodify", *auth, "-c"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, text=True) for _ in range(writers)]
    for n, stream in enumerate(streams):
        threading.Thread(target=lambda s=stream, n=n: (s.communicate("".join(
            person(f"{tag}w{n}x{i}") for i in range(20000)))), daemon=True).start()
    committed = [0] * clients

    def loop(client: int) -> None:
        for i in range(rounds):
            proc = subprocess.run(["ldapmodify", *auth, *TXN], input=person(f"{tag}c{client}a{i}")
                                  + person(f"{tag}c{client}b{i}"), capture_output=True, text=True)
            if proc.returncode != 0:
                return
            committed[client] += 1

    threads = [threading.Thread(target=loop, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for stream in streams:
        if stream.poll() is None:
            stream.kill()
        stream.wait()
    time.sleep(0.5)
    code = server._proc.poll()
    done = f"{sum(committed):,} of {clients * rounds:,} transactions committed" if clients else "no transactions"
    if code is None:
        return f"{done}; slapd still running"
    server._proc = None
    name = signal.Signals(-code).name if code < 0 else f"exit status {code}"
    server._spawn()  # back up for the next row (LMDB recovers by itself)
    return f"{done}; **slapd died ({name})**"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=int, default=2000, help="partners of 50 accounts")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-transactions.md")
    args = parser.parse_args()
    version = subprocess.run(["slapd", "-VVV"], capture_output=True, text=True).stderr.split("\n")[0].strip()
    with tempfile.TemporaryDirectory(prefix="mopldap-txn-") as tmp:
        server, made, _ = loaded_server(Path(tmp), args.partners, 50, random.Random(2026), 0.001)
        try:
            auth = ["-x", "-H", server.ldap_uri, "-D", f"cn=admin,{BASE}", "-w", ROOT_PW]
            dns = [f"uid={user},ou={code},ou=partners,{BASE}" for code, user in made.accounts]
            rows = savings(server, auth, dns)
            crashes = [(f"transactions from {clients or 'no'} connection{'s' * (clients != 1)}, "
                        f"{writers or 'no'} other writer{'s' * (writers != 1)}",
                        concurrent(server, auth, f"r{clients}{writers}", clients, writers))
                       for clients, writers in ((1, 0), (3, 0), (0, 2), (1, 2), (3, 2))]
        finally:
            if server._proc is not None:
                server.stop()
    lines = [f"# LDAP transactions on the shipped server, {len(made.accounts):,} accounts", "",
             f"`.venv/bin/python bench/transactions.py --partners {args.partners}` on {version}, 2 cores; "
             "OpenLDAP's own `ldapmodify`, with `-E '!txn=commit'` (one transaction per invocation) and without.",
             "", "## What a transaction saves", "", "| writes | without | in one transaction |", "|---|---|---|"]
    lines += [f"| {what} | {without} | {within} |" for what, without, within in rows]
    lines += ["", "## While other connections write", "",
              "Each client commits up to 1,000 transactions of two adds, one `ldapmodify -E '!txn=commit'` each, "
              "until one fails; the clients run side by side with each other and with the other writers: "
              "`ldapmodify` processes adding entries one by one, as applications' binds (pwdLastSuccess) and "
              "HQ's administrators write. Then: is slapd still running? (A dead slapd is started again for the "
              "next row.)", "",
              "| load | result |", "|---|---|"]
    lines += [f"| {what} | {result} |" for what, result in crashes]
    lines += ["", "## The choice", "",
              "mopldap does not use LDAP transactions. On slapd 2.5.13, transactions committed while other "
              "connections write crash the server (segmentation fault, the rows above; OpenLDAP's own client "
              "is enough). slapd answers each write of a transaction once it has queued it (servers/slapd/txn.c, "
              "`txn_preop`), and the commit runs the queued writes later, from the thread of the End Transaction "
              "request (`txn_end_extop`). One client alone commits them cleanly, but a directory in service "
              "always has other writers, and mopldap itself writes on four connections. The saving above is "
              "what a slapd that committed transactions safely would give group "
              "writes (the memberof overlay's memberOf writes share the commit) and adds; until then, mopldap "
              "writes as ldapadd and ldapmodify do, one commit per write, and operators should not use "
              "`ldapmodify -E txn` on a directory in service either (README, *Scale*)."]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
