"""The SPEC's access table, row by row: `mopldap acl`'s rules loaded into a real slapd, mopldap
running as its own account under them, and every identity binding to see what it may read and
write (acl_probe.py holds the checks, one function per identity)."""

from __future__ import annotations

from collections.abc import Iterator
import subprocess
from pathlib import Path

import pytest

import acl_probe as probe
from conftest import BASE_DN, make_env
from mopldap.ldap.slapd import local_identity
from mopldap.plan.acl import LOCAL_ROOT


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[probe.Probe, dict[str, str]]]:
    p = probe.Probe(Path(tmp_path_factory.mktemp("acl")))
    p.server.start()
    try:
        who = probe.setup(p)
        assert not failures(0), failures(0)  # mopldap did its whole job as its own account
        yield p, who
    finally:
        p.server.stop()


def failures(start: int) -> list[str]:
    return [f"{identity}: {operation}: expected {expected}, observed {observed}"
            for identity, operation, expected, observed, ok in probe.RESULTS[start:] if not ok]


def run(check, *args) -> None:
    start = len(probe.RESULTS)
    check(*args)
    assert len(probe.RESULTS) > start, "no check ran"
    assert not failures(start), "\n".join(failures(start))


# One part per identity, in this order: each part leaves the directory as the next one expects
# (passwords changed, 600 accounts added). The accounts each part is given, by the set-up's names.
PARTS = [
    ("anonymous_reads_only_the_root_dse_and_the_schema_and_binds", probe.anonymous, ()),
    ("an_account_reads_itself_and_its_systems_and_writes_only_its_password", probe.account,
     ("ST1", "ST1B", "ST2", "ZS")),
    ("a_partners_staff_see_nothing_of_another_partner", probe.other_partner_staff, ("ST2", "ST1", "ZS")),
    ("an_hq_account_that_is_not_an_administrator_reads_only_itself", probe.hq_account, ("HQU",)),
    ("a_partner_administrator_reads_its_partner_and_writes_nothing", probe.partner_admin,
     ("ZS", "LS", "ST1", "ST1B", "ST2")),
    ("an_application_reads_accounts_and_systems_and_writes_nothing", probe.application, ("ST1", "ST2", "HQA")),
    ("the_service_account_does_its_work_with_write_and_reads_no_password", probe.service, ("ST1", "ST2")),
    ("an_hq_administrator_reads_all_but_passwords_and_writes_the_tree", probe.hq_admin, ("HQA", "ST1")),
    ("holding_an_administrator_role_in_the_wrong_place_gives_nothing", probe.fake_admins, ("ST1", "ST2")),
    ("nobody_dodges_the_password_policy", probe.passwords, ("ST1", "ST2")),
    ("size_limits_hold_for_all_but_mopldap_and_the_administrators", probe.limits, ()),
    ("the_local_root_keeps_its_access_over_ldapi", probe.local_root, ()),
]


@pytest.mark.parametrize("part, accounts", [pytest.param(f, a, id=name) for name, f, a in PARTS])
def test_each_identity_may_do_what_the_access_table_says(directory, part, accounts):
    p, who = directory
    run(part, p, *(who[name] for name in accounts))


def test_the_printed_rules_load_with_ldapmodify_and_shut_anonymous_out(own_server, tmp_path):
    """`mopldap acl` as the README has an administrator run it on Debian's defaults (everyone reads
    everything): the output goes straight into `ldapmodify -Y EXTERNAL -H ldapi:///`, after which
    anonymous clients list nobody, and mopldap still works as its own account."""
    env = make_env(own_server, tmp_path, rules=False)
    env.ldap_tool("ldapmodify", input=f"dn: {BASE_DN}\nchangetype: modify\nreplace: description\n"
                                      "description: readable before the rules\n")

    def anonymous() -> subprocess.CompletedProcess:
        return subprocess.run(["ldapsearch", "-x", "-LLL", "-H", env.server.ldap_uri, "-b", BASE_DN, "(objectClass=*)",
                               "description"], capture_output=True, text=True)

    assert "readable before the rules" in anonymous().stdout  # Debian's default, as the issue found it
    printed = env.cli("acl").out
    assert printed.startswith("dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\nreplace: olcAccess\n")
    rules = [line for line in printed.splitlines() if line.startswith("olcAccess:")]
    assert [r for r in rules if " manage " in r] == [rules[0]] and "cn=peercred,cn=external" in rules[0]  # root only
    proc = subprocess.run(["ldapmodify", "-Q", "-Y", "EXTERNAL", "-H", env.server.ldapi_uri],
                          input=printed.replace(LOCAL_ROOT, local_identity()), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    after = anonymous()
    assert after.returncode == 32 and "readable" not in after.stdout, after  # noSuchObject: nothing to see
    env.cli("init")
    assert env.cli("sync").code == 0


def test_acl_refuses_a_role_map_without_an_hq_or_partner_administrator_role(env):
    roles = env.config_path.parent / "roles.yaml"
    roles.write_text(roles.read_text().replace("    hq: true\n", ""))
    result = env.cli("acl", expect=1)
    assert "access rules need an HQ role (hq: true)" in result.err and result.out == ""
