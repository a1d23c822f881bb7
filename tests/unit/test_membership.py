"""Group membership writes, batched (plan/membership.py): few modifies, each of bounded size."""

from __future__ import annotations

from mopldap.model.change import Change, Modification
from mopldap.plan.membership import (
    MAX_BYTES,
    MAX_VALUES,
    Packed,
    chunks,
    in_slapd_order,
    membership_changes,
    merge_memberships,
    packed_in_slapd_order,
    slapd_order,
)

GROUP = "cn=sales,ou=systems,dc=example,dc=com"


def member(i: int, pad: int = 0) -> str:
    return f"uid=u{i:06d}{'x' * pad},ou=P001,ou=partners,dc=example,dc=com"


def sizes(changes: list[Change]) -> list[int]:
    return [sum(len(m.values) for m in c.mods) for c in changes]


def test_max_values_new_members_are_one_modify_and_more_are_cut_at_the_limit():
    assert sizes(membership_changes({GROUP: [member(i) for i in range(MAX_VALUES)]}, {})) == [MAX_VALUES]
    cut = membership_changes({GROUP: [member(i) for i in range(MAX_VALUES + 5)]}, {GROUP: [member(-1)]})
    assert sizes(cut) == [1, MAX_VALUES, 5]  # the deletes, then the adds
    assert [m.action for c in cut for m in c.mods] == ["delete", "add", "add"]


def test_long_values_make_smaller_modifies_than_slapds_request_limit():
    values = [member(i, pad=MAX_BYTES // 10) for i in range(25)]  # 2.5 x MAX_BYTES in all
    changes = membership_changes({GROUP: values}, {})
    assert len(changes) > 1 and sum(sizes(changes)) == 25
    assert all(sum(len(v.encode()) for m in c.mods for v in m.values) <= MAX_BYTES for c in changes)


def _request_change(values: list[str], request: int) -> Change:
    return Change("modify", GROUP, (Modification("member", "add", tuple(values)),), request_id=f"R{request}")


def test_requests_changes_merge_up_to_the_value_and_byte_limits_keeping_their_parts():
    changes = [_request_change([member(i)], i) for i in range(7)]
    merged = merge_memberships(changes, limit=3)
    assert sizes(merged) == [3, 3, 1] and [len(c.parts) for c in merged[:2]] == [3, 3]
    assert merged[2] is changes[6]  # alone: written as it came
    big = [_request_change([member(i, pad=MAX_BYTES * 2 // 7)], i) for i in range(7)]
    merged = merge_memberships(big)
    assert sizes(merged) == [3, 3, 1]  # 3 of them fit in MAX_BYTES, 4 do not


def test_one_groups_long_values_do_not_shrink_the_writes_of_the_next():
    long_group, short_group = "cn=a,ou=systems,dc=example,dc=com", "cn=b,ou=systems,dc=example,dc=com"
    changes = membership_changes({long_group: [member(i, pad=200_000) for i in range(6)],
                                  short_group: [member(i) for i in range(MAX_VALUES)]}, {})
    assert [c.dn for c in changes].count(short_group) == 1


def test_packed_values_come_back_as_they_were_given():
    values = ["uid=été,ou=b,dc=x", "uid=a,ou=b,dc=x", "", "uid=\\2C\n\x00,ou=b,dc=x", "cn=新职务,dc=x"]
    packed = Packed(values)
    assert list(packed) == values and list(packed) == values and len(packed) == 5


def test_runs_in_slapd_order_merge_into_slapd_order_and_are_cut_in_chunks():
    """slapd_order: by length, then text, whatever the case (the server's own order:
    test_server_config pins it); runs each in that order merge into it."""
    runs = [Packed(sorted(["uid=bb,o=x", "uid=a,o=x", "uid=dddd,o=x"], key=slapd_order)), ["uid=Z,o=x", "uid=ccc,o=x"]]
    merged = list(in_slapd_order(runs))
    assert merged == ["uid=a,o=x", "uid=Z,o=x", "uid=bb,o=x", "uid=ccc,o=x", "uid=dddd,o=x"]
    assert list(chunks(merged, 2)) == [merged[:2], merged[2:4], merged[4:]]
    assert list(chunks([], 2)) == []


def test_membership_changes_cut_in_slapd_order():
    """Each modify's values come before the next one's in the server's order: added in that order,
    each value lands at the end of the group's values."""
    values = [f"uid={'x' * (i % 7 + 1)}{i},o=x" for i in range(50)]
    cut = membership_changes({GROUP: values}, {}, limit=8)
    written = [value for change in cut for mod in change.mods for value in mod.values]
    assert sorted(written) == sorted(values) and written == sorted(values, key=slapd_order)


def test_values_are_packed_in_slapd_order_sorted_only_when_they_arrive_out_of_it():
    """A group's values arrive in the server's order, which is slapd_order but for odd DNs."""
    ordered = ["uid=a,o=x", "uid=Z,o=x", "uid=bb,o=x"]
    assert list(packed_in_slapd_order(iter(ordered))) == ordered
    assert list(packed_in_slapd_order(iter(["uid=bb,o=x", "uid=a\\2Cb,o=x", "uid=Z,o=x"]))) == \
        ["uid=Z,o=x", "uid=bb,o=x", "uid=a\\2Cb,o=x"]
    assert not packed_in_slapd_order(iter([]))
