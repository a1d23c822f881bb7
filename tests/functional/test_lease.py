"""The daemons' lease (ldap/lease.py) against a real slapd: one holder at a time, whatever the order."""

from __future__ import annotations

import datetime as dt

from conftest import BASE_DN
from mopldap.ldap.lease import take_or_renew

DN = f"cn=daemon-lease,ou=services,{BASE_DN}"
NOW = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.timezone.utc)
NO_SKEW = dt.timedelta(0)


def test_one_holder_until_it_expires_then_the_next_and_renewals_keep_it(initialized):
    env = initialized
    with env.directory() as a, env.directory() as b:
        assert take_or_renew(a, DN, "host-a", NOW, 60, NO_SKEW).held
        refused = take_or_renew(b, DN, "host-b", NOW + dt.timedelta(seconds=30), 60, NO_SKEW)
        assert not refused.held and refused.holder == "host-a"
        assert take_or_renew(a, DN, "host-a", NOW + dt.timedelta(seconds=40), 60, NO_SKEW).held  # renewed
        assert not take_or_renew(b, DN, "host-b", NOW + dt.timedelta(seconds=70), 60, NO_SKEW).held
        assert take_or_renew(b, DN, "host-b", NOW + dt.timedelta(seconds=101), 60, NO_SKEW).held  # expired
        lost = take_or_renew(a, DN, "host-a", NOW + dt.timedelta(seconds=102), 60, NO_SKEW)
        assert not lost.held and lost.holder == "host-b"


def test_two_takers_of_one_expired_lease_cannot_both_win(initialized, monkeypatch):
    """Both read the same expired value before either writes: the second's delete-and-add fails as a whole."""
    env = initialized
    with env.directory() as a, env.directory() as b:
        assert take_or_renew(a, DN, "host-a", NOW, 60, NO_SKEW).held
        later = NOW + dt.timedelta(seconds=120)
        read = b.read
        seen = read(DN, ("description",))
        monkeypatch.setattr(b, "read", lambda dn, attrs: seen)  # b decides on what it read before c wrote
        with env.directory() as c:
            assert take_or_renew(c, DN, "host-c", later, 60, NO_SKEW).held
        assert not take_or_renew(b, DN, "host-b", later, 60, NO_SKEW).held
        monkeypatch.setattr(b, "read", read)
        assert read(DN, ("description",)).get("description")[0].startswith("host-c ")


def test_a_hand_edited_lease_entry_never_gives_two_holders(initialized):
    env = initialized
    with env.directory() as a, env.directory() as b:
        assert take_or_renew(a, DN, "host-a", NOW, 60, NO_SKEW).held
        env.ldapmodify(f"dn: {DN}\nchangetype: modify\nadd: description\ndescription: a note by hand\n")
        refused = take_or_renew(b, DN, "host-b", NOW + dt.timedelta(seconds=10), 60, NO_SKEW)
        assert not refused.held and refused.holder == "host-a"  # the note changes nothing
        assert take_or_renew(a, DN, "host-a", NOW + dt.timedelta(seconds=20), 60, NO_SKEW).held  # renewed, note gone
        env.ldapmodify(f"dn: {DN}\nchangetype: modify\nreplace: description\ndescription: host-x 2099-01-01T00:00:00\n")
        assert take_or_renew(b, DN, "host-b", NOW + dt.timedelta(seconds=30), 60, NO_SKEW).held  # no zone: expired
        env.ldapmodify(f"dn: {DN}\nchangetype: modify\ndelete: description\n")
        assert not take_or_renew(a, DN, "host-a", NOW + dt.timedelta(seconds=40), 60, NO_SKEW).held  # guard first
        assert take_or_renew(a, DN, "host-a", NOW + dt.timedelta(seconds=41), 60, NO_SKEW).held
