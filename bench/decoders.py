#!/usr/bin/env python3
"""How fast Python reads a large directory: ldap3 and python-ldap against ldapsearch, on one slapd.

    .venv/bin/python bench/decoders.py                    # 2,000 partners x 50 = 100,000 accounts
    .venv/bin/python bench/decoders.py --partners 20000   # 1,000,000 accounts

Needs python-ldap, which mopldap does not depend on:
    apt-get install -y libldap-dev libsasl2-dev && .venv/bin/pip install python-ldap

It starts its own slapd with bench/run.py's tree (slapadd), then makes three reads with each reader:
(a) every account under ou=partners with the attributes a sync needs; (b) the DN of every member of
the largest system group, by memberOf; (c) the member values of that group, one base read. Readers:
ldapsearch (output to /dev/null), ldap3 (SYNC, paged_search generator), python-ldap (search_ext,
result3, SimplePagedResultsControl), and ldap3 as mopldap runs it (mopldap/ldap/receiving.py: its
receiving, and each value made str once, from raw_attributes); pages of 500. Each Python read runs in a subprocess of its own,
timed from connect to unbind (values made str included, imports not); its peak RSS is its VmHWM.
Each measurement runs --repeats times (3), interleaved; the table gives the median.
bench/run.py can call measure() on its own server and markdown() on the rows.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PAGE = 500
ATTRS = ("objectClass uid cn sn displayName title mail mobile mopUserType mopAccountStatus mopDisabledReason "
         "mopDisabledAt mopEnabledAt mopInactivityExempt pwdAccountLockedTime memberOf createTimestamp "
         "pwdLastSuccess mopLastLogon").split()
READS = {"a": "every account, sync attributes", "b": "DN only, by memberOf", "c": "member values of one group"}
READERS = ["ldapsearch", "ldap3", "python-ldap", "ldap3 + mopldap receiving"]
LINEAR = READERS[3]  # ldap3 with mopldap/ldap/receiving.py installed (receiving and decoding): what mopldap runs
GROUP = "community"  # every role in config/roles.yaml grants it: the system group with the most members
MAP_BYTES_PER_ACCOUNT = 8192  # slapadd uses 2.2 kB an account (2,134 MiB at 1,000,000): room for later writes
DEFAULT_MAP = 4294967296  # olcDbMaxSize in mopldap.ldap.slapd.CONFIG_TEMPLATE


def query(spec: dict[str, str], read: str) -> tuple[str, str, str, list[str]]:
    """Base, scope, filter and attributes of a read."""
    if read == "a":
        return f"ou=partners,{spec['base']}", "sub", "(objectClass=inetOrgPerson)", ATTRS
    if read == "b":
        return spec["base"], "sub", f"(memberOf={spec['group_dn']})", ["1.1"]
    return spec["group_dn"], "base", "(objectClass=*)", ["member"]


def read_ldap3(spec: dict[str, str], read: str, linear: bool = False) -> int:
    import ldap3

    base, scope, filt, attrs = query(spec, read)
    url = urlparse(spec["uri"])
    conn = ldap3.Connection(ldap3.Server(url.hostname, port=url.port, get_info=ldap3.NONE), spec["bind_dn"],
                            spec["password"], client_strategy=ldap3.SYNC, check_names=False, raise_exceptions=True,
                            return_empty_attributes=not linear)  # as mopldap.ldap.directory opens its own
    if linear:  # mopldap's receiving, and its decoding: values made str once, from raw_attributes
        sys.path.insert(0, str(ROOT))
        from mopldap.ldap import receiving
        from mopldap.ldap.directory import _decode_all as text
        receiving.install(conn)
    conn.bind()
    count = 0
    if scope == "base":
        conn.search(base, filt, ldap3.BASE, attributes=attrs)
        entry = conn.response[0]
        members = text(entry["raw_attributes"]["member"]) if linear else entry["attributes"]["member"]
        count = len([str(v) for v in members])  # ldap3 already made them str
    else:
        for item in conn.extend.standard.paged_search(base, filt, ldap3.SUBTREE, attributes=attrs,
                                                      paged_size=PAGE, generator=True):
            if linear and item["type"] == "searchResEntry":  # made str as Directory.search does
                _ = {name: text(values) for name, values in item["raw_attributes"].items()}
            count += item["type"] == "searchResEntry"
    conn.unbind()
    return count


def read_python_ldap(spec: dict[str, str], read: str) -> int:
    import ldap
    from ldap.controls import SimplePagedResultsControl

    base, scope, filt, attrs = query(spec, read)
    conn = ldap.initialize(spec["uri"])
    conn.protocol_version = 3
    conn.simple_bind_s(spec["bind_dn"], spec["password"])
    page = SimplePagedResultsControl(True, size=PAGE, cookie="")
    count = 0
    while True:
        msgid = conn.search_ext(base, ldap.SCOPE_BASE if scope == "base" else ldap.SCOPE_SUBTREE, filt, attrs,
                                serverctrls=None if scope == "base" else [page])
        _, data, _, controls = conn.result3(msgid)
        for dn, entry in data:
            decoded = {name: [v.decode("utf-8") for v in values] for name, values in entry.items()}
            count += len(decoded["member"]) if scope == "base" else 1
        page.cookie = next((c.cookie for c in controls if c.controlType == page.controlType), b"")
        if scope == "base" or not page.cookie:
            break
    conn.unbind_s()
    return count


def worker(reader: str, read: str) -> None:
    """One read in this process: print its time, its count and the process's peak RSS as JSON."""
    spec = json.loads(sys.stdin.read())
    function = {"ldap3": read_ldap3, "python-ldap": read_python_ldap,
                LINEAR: lambda spec, read: read_ldap3(spec, read, linear=True)}[reader]
    __import__("ldap" if reader == "python-ldap" else "ldap3")  # imports before the clock starts
    start = time.monotonic()
    count, seconds = function(spec, read), time.monotonic() - start
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "count": count, "rss_mb": hwm / 1024}))


def ldapsearch(spec: dict[str, str], read: str) -> float:
    base, scope, filt, attrs = query(spec, read)
    paging = [] if scope == "base" else ["-E", f"pr={PAGE}/noprompt"]
    cmd = ["ldapsearch", "-x", "-H", spec["uri"], "-D", spec["bind_dn"], "-w", spec["password"], "-LLL", *paging,
           "-s", scope, "-b", base, filt, *attrs]
    start = time.monotonic()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    return time.monotonic() - start


def measure(uri: str, bind_dn: str, password: str, base: str, group_dn: str, repeats: int = 3) -> list[dict]:
    """Every read with every reader, `repeats` times, interleaved; one row per reader and read (medians)."""
    spec = {"uri": uri, "bind_dn": bind_dn, "password": password, "base": base, "group_dn": group_dn}
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {(r, q): [] for q in READS for r in READERS}
    for _ in range(repeats):
        for read in READS:
            runs["ldapsearch", read].append({"seconds": ldapsearch(spec, read)})
            for reader in READERS[1:]:
                proc = subprocess.run([sys.executable, __file__, "--worker", reader, read], input=json.dumps(spec),
                                      capture_output=True, text=True)
                if proc.returncode:
                    raise SystemExit(f"{reader} read {read} failed:\n{proc.stderr[-3000:]}")
                runs[reader, read].append(json.loads(proc.stdout))
    rows = []
    for read in READS:
        counts = {r["count"] for reader in READERS[1:] for r in runs[reader, read]}
        if len(counts) != 1:
            raise SystemExit(f"read {read}: the readers disagree on the count: {sorted(counts)}")
        count = counts.pop()
        reference = statistics.median(r["seconds"] for r in runs["ldapsearch", read])
        for reader in READERS:
            seconds = [r["seconds"] for r in runs[reader, read]]
            median = statistics.median(seconds)
            rows.append({"read": read, "reader": reader, "seconds": median, "runs": seconds, "count": count,
                         "per_second": count / median, "ratio": median / reference,
                         "rss_mb": max((r.get("rss_mb", 0.0) for r in runs[reader, read]), default=0.0) or None})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| read | reader | median | the runs | entries or values | per second | × ldapsearch | peak RSS |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for row in rows:
        runs = ", ".join(f"{s:.2f}" for s in row["runs"])
        rss = f"{row['rss_mb']:.0f} MB" if row["rss_mb"] else ""
        lines.append(f"| {row['read']}: {READS[row['read']]} | {row['reader']} | {row['seconds']:.2f} s | {runs} | "
                     f"{row['count']:,} | {row['per_second']:,.0f} | {row['ratio']:.2f} | {rss} |")
    return "\n".join(lines) + "\n"


def conclusions(rows: list[dict], accounts: int) -> str:
    by = {(r["reader"], r["read"]): r for r in rows}
    scale = 1_000_000 / accounts
    lines, guess = [], []
    for read in READS:
        ref, slow, fast = (by[reader, read]["seconds"] for reader in READERS[:3])
        lines.append(f"- Read {read}: python-ldap is {slow / fast:.1f} times faster than ldap3 "
                     f"({fast:.2f} s against {slow:.2f} s; ldapsearch {ref:.2f} s).")
        guess.append(f"read {read} ldapsearch {ref * scale:.1f} s, python-ldap {fast * scale:.1f} s, "
                     f"ldap3 {slow * scale:.1f} s")
    lines.append(f"- The largest peak RSS of a Python reader was {max(r['rss_mb'] or 0 for r in rows):.0f} MB.")
    if scale > 1:
        lines += [f"- At 1,000,000 accounts, by linear extrapolation (x {scale:g}, not measured): {'; '.join(guess)}.",
                  "- ldap3's read c grows faster than linearly: its SYNC strategy gathers one response with "
                  "`unprocessed += data` over 4 kB recv chunks (ldap3/strategy/sync.py), copying the whole buffer "
                  "again at each chunk. So the linear figure for ldap3's read c is a floor."]
    return "\n".join(lines)


def machine() -> str:
    """bench/run.py's machine facts, and the two Python clients' versions."""
    sys.path.insert(0, str(ROOT))
    import ldap
    import ldap3

    from bench.run import machine as host

    return f"{host()}, ldap3 {ldap3.__version__}, python-ldap {ldap.__version__} (libldap {ldap.VENDOR_VERSION})"


def serve(work: Path, partners: int, accounts: int) -> tuple[Any, dict[str, int]]:
    """bench/run.py's slapd and tree, the database's map size raised first if the tree needs more."""
    sys.path.insert(0, str(ROOT))
    from bench.run import loaded_server

    map_size = max(DEFAULT_MAP, partners * accounts * MAP_BYTES_PER_ACCOUNT)
    start = time.monotonic()
    server, made, _ = loaded_server(work, partners, accounts, random.Random(2026), map_size=map_size)
    facts = {"accounts": len(made.accounts), "map_size": map_size, "load_seconds": int(time.monotonic() - start),
             "db_mib": Path(server._db_directory, "data.mdb").stat().st_blocks * 512 // 2**20}
    print(f"setup: {facts}", file=sys.stderr)
    return server, facts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partners", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=50, help="accounts per partner")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results-decoders.md")
    parser.add_argument("--worker", nargs=2, metavar=("READER", "READ"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    with tempfile.TemporaryDirectory(prefix="mopldap-decoders-") as tmp:
        server, facts = serve(Path(tmp), args.partners, args.accounts)
        try:
            rows = measure(server.ldap_uri.rstrip("/"), server.root_dn, server.root_pw, server.suffix,
                           f"cn={GROUP},ou=systems,{server.suffix}", args.repeats)
        finally:
            server.stop()
    map_note = f"olcDbMaxSize {DEFAULT_MAP:,} bytes, as shipped"
    if facts["map_size"] != DEFAULT_MAP:
        map_note = f"olcDbMaxSize raised to {facts['map_size']:,} bytes (ldapmodify on cn=config before slapadd)"
    text = "\n".join([
        f"# Reading the directory from Python: {facts['accounts']:,} accounts", "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
        f"`{' '.join(['bench/decoders.py', *sys.argv[1:]])}` on {machine()}.", "",
        f"Directory: {args.partners} partners x {args.accounts} accounts plus 10 HQ accounts (bench/run.py's tree), "
        f"generated and slapadded in {facts['load_seconds']} s, data.mdb {facts['db_mib']:,} MiB; {map_note}. "
        f"Group: cn={GROUP},ou=systems. Median of {args.repeats} interleaved runs (the machine is shared). "
        "Python times run from connect to unbind, values turned into str included; ldapsearch times are the whole "
        "command, output to /dev/null. Peak RSS: the reader's subprocess (VmHWM), the largest of its runs. "
        "The \"entries or values\" counts come from the Python readers, which agree.", "",
        markdown(rows), "## Conclusions", "", conclusions(rows, facts["accounts"]), ""])
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
