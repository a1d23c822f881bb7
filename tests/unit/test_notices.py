"""When each mail about the inactivity lock is due (plan/notices.py): pure rules, plain tests."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from mopldap.plan.notices import (
    announced_lock,
    digest_due,
    language_of,
    lock_allowed,
    mail_address,
    notice_due,
    warning_due,
)

NOW = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)


def due(idle_days: float, warned_days_ago: float | None, levels=(7, 1), minimum: int = 1) -> bool:
    warned = None if warned_days_ago is None else NOW - warned_days_ago * DAY
    return warning_due(NOW - idle_days * DAY, warned, NOW, levels, 30, minimum)


def test_a_warning_is_due_at_each_level_once():
    assert not due(22.9, None)  # 7.1 days before the lock: not yet
    assert due(23.1, None)  # the 7-day level
    assert not due(25, 1.9)  # warned at that level
    assert due(29.1, 6)  # the 1-day level, reached after that warning
    assert not due(29.5, 0.4)


def test_a_run_that_missed_days_sends_one_warning_and_a_late_one_moves_the_lock():
    assert due(31, None)  # past the lock and never warned: warn now, lock later
    assert not due(31, 0.5)
    assert announced_lock(NOW - 31 * DAY, 30, NOW, 1) == NOW + DAY
    assert announced_lock(NOW - 25 * DAY, 30, NOW, 1) == NOW + 5 * DAY


def test_a_warning_from_before_the_last_activity_does_not_count():
    # warned 10 days ago, then the person signed in 8 days ago: idle again since
    last, warned = NOW - 8 * DAY, NOW - 10 * DAY
    assert not lock_allowed(last, warned, NOW, 1)
    assert not warning_due(NOW - 31 * DAY, NOW - 1.5 * DAY, NOW, (7, 1), 30, 1)  # warned after the last level
    assert warning_due(last, warned, NOW + 15 * DAY, (7, 1), 30, 1)


def test_a_lock_needs_a_warning_min_warning_days_old():
    last = NOW - 31 * DAY
    assert not lock_allowed(last, None, NOW, 1)
    assert not lock_allowed(last, NOW - 0.9 * DAY, NOW, 1)
    assert lock_allowed(last, NOW - 1.1 * DAY, NOW, 1)
    assert lock_allowed(last, NOW, NOW, 0)


def test_lock_notice_and_digest_are_due_once():
    locked = NOW - DAY
    assert notice_due(locked, None) and notice_due(locked, NOW - 3 * DAY)
    assert not notice_due(locked, NOW)
    # one digest per day of the readers (Asia/Shanghai: 02:00 UTC is 10:00 there)
    assert digest_due(None, NOW, "Asia/Shanghai")
    assert not digest_due(NOW - dt.timedelta(hours=9), NOW, "Asia/Shanghai")  # 01:00 the same local day
    assert digest_due(NOW - dt.timedelta(hours=11), NOW, "Asia/Shanghai")  # 23:00 the day before
    assert not digest_due(NOW + DAY, NOW, "UTC")  # an --as-of replay of an earlier day


def test_addresses_and_languages_from_hostile_values():
    assert mail_address(["not an address", "a@b.example"]) == "a@b.example"
    assert mail_address(["a@b.example\nBcc: evil@x.example", "张三 <a@b.example>"]) is None
    assert [language_of(v, "zh") for v in (["en-US"], ["EN"], ["zh-Hant-TW"], ["fr"], [], ["en;q=0.8"])] == \
        ["en", "en", "zh", "zh", "zh", "en"]


@given(st.floats(0, 60), st.one_of(st.none(), st.floats(0, 60)), st.integers(0, 5))
def test_never_a_lock_without_a_warning_old_enough(idle_days, warned_days_ago, minimum):
    last = NOW - idle_days * DAY
    warned = None if warned_days_ago is None else NOW - warned_days_ago * DAY
    if lock_allowed(last, warned, NOW, minimum):
        assert warned is not None and warned >= last and NOW - warned >= minimum * DAY
        assert not warning_due(last, warned, NOW, (), 30, minimum) or idle_days < 30
