"""The access rules' text: DNs normalized as slapd compares them, regex-safe, one rule per value."""

from __future__ import annotations

import re

import pytest

from mopldap.plan.acl import acl_ldif, norm, rx


def test_dns_are_written_as_slapd_normalizes_them():
    assert norm("DC=Example, dc=COM") == "dc=example,dc=com"
    assert norm("cn=mopldap, ou=Services,dc=example,dc=com") == "cn=mopldap,ou=services,dc=example,dc=com"


@pytest.mark.parametrize("dn", ["o=A\\,B,dc=com", "o=A\\+B", "o=x\\3Dy", 'o=say "hi"', "no equals sign"])
def test_dn_values_the_rules_cannot_match_safely_are_refused(dn):
    with pytest.raises(ValueError, match="special characters|not a DN"):
        norm(dn)


def test_regex_specials_of_a_base_dn_match_only_themselves():
    pattern = f"^{rx('dc=a.b(c)*+?,dc=com')}$"
    assert re.fullmatch(pattern, "dc=a.b(c)*+?,dc=com")
    assert not re.fullmatch(pattern, "dc=aXb(c)*+?,dc=com")


def test_every_rule_is_one_numbered_olcaccess_value_after_its_reason():
    ldif = acl_ldif("dc=example,dc=com")
    lines = ldif.splitlines()
    values = [line for line in lines if line.startswith("olcAccess: ")]
    assert [int(v.split("{")[1].split("}")[0]) for v in values] == list(range(len(values)))
    for i, line in enumerate(lines):
        if line.startswith("olcAccess: "):
            assert lines[i - 1].startswith("# {"), line  # each rule says why
    assert values[-1].endswith("to * by * none")
    assert not any("manage" in v for v in values[1:])  # only the local root (rule 0) manages
